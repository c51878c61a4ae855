//! DeviceHive's published Python client (`devicehive` 2.1.6, pinned in scripts/requirements.txt),
//! driven as its README shows through `userctl serve`, over both of its transports: it connects
//! without a token and authenticates in-band (WebSocket) or sends the token with each request
//! (HTTP), asks `server/info` / `GET info`, reads the user, `save()`s and `update_password()`s.
//! Each outcome is checked against the table.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use shared::password::verify_blocking;
use shared::store::Store;
use shared::user::User;
use shared::values::{Status, UserId};
use testkit::{fresh_store, seed, token, workspace_root, Served};

use crate::USERCTL;

/// The test venv's Python, with the client installed (the test command installs it).
fn python() -> PathBuf {
    let python = workspace_root().join(".venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import devicehive"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "DeviceHive's Python client is not installed in {}: run the test command (scripts/test), \
         or `.venv/bin/pip install -r scripts/requirements.txt`",
        python.display()
    );
    python
}

/// Runs one scenario of `tests/clients/devicehive_client.py`; its one-line JSON outcome.
fn client(url: &str, token: &str, scenario: &[&str]) -> Value {
    let script = workspace_root().join("tests/clients/devicehive_client.py");
    let out = Command::new(python())
        .arg(script)
        .args([url, token])
        .args(scenario)
        .output()
        .expect("run the DeviceHive client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the client failed on {url} {scenario:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON outcome: {stdout}"))
}

async fn stored(store: &Store, id: i64) -> User {
    store
        .get(UserId::new(id).unwrap())
        .await
        .unwrap()
        .expect("user exists")
}

/// Everything the client must not have touched is as it was.
fn same_apart_from_the_change(before: &User, after: &User) {
    assert_eq!(after.username, before.username);
    assert_eq!(after.email, before.email);
    assert_eq!(after.uuid, before.uuid);
    assert_eq!(after.name, before.name);
    assert_eq!(after.preferences, before.preferences);
    assert_eq!(after.newm, before.newm);
    assert!(after.version > before.version, "the change was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_client_over_both_transports() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    for id in 2..=7 {
        seed(&store, id, &[]).await;
    }
    let served = Served::start(USERCTL, &config);
    let transports = [
        (format!("ws://127.0.0.1:{}/ws", served.port), [2, 4, 6]),
        (served.url("/api/rest"), [3, 5, 7]),
    ];
    let admin = token(1, &["admin"]);
    for (url, [saved, own, refused]) in transports {
        // An administrator's save(): role, status and data; then update_password().
        let before = stored(&store, saved).await;
        let outcome = tokio::task::spawn_blocking({
            let (url, admin) = (url.clone(), admin.clone());
            move || {
                client(
                    &url,
                    &admin,
                    &[
                        "admin-save",
                        &saved.to_string(),
                        "0",
                        "2",
                        r#"{"theme": "dark", "n": 1}"#,
                        "Set-By-Admin-1",
                    ],
                )
            }
        })
        .await
        .unwrap();
        assert_eq!(
            outcome,
            json!({"ok": {"role": 0, "status": 2, "data": {"theme": "dark", "n": 1}}}),
            "{url}"
        );
        let after = stored(&store, saved).await;
        assert!(after.is_admin(), "{url}");
        assert_eq!(after.status, Status::Disabled);
        assert_eq!(after.data_json(), json!({"theme": "dark", "n": 1}));
        assert!(verify_blocking(
            after.password_hash.as_ref().unwrap(),
            "Set-By-Admin-1"
        ));
        same_apart_from_the_change(&before, &after);

        // A client's own update_password().
        let before = stored(&store, own).await;
        let mine = token(own, &[]);
        let outcome = tokio::task::spawn_blocking({
            let url = url.clone();
            move || client(&url, &mine, &["own-password", "My-Own-Secret-2"])
        })
        .await
        .unwrap();
        assert_eq!(outcome["ok"]["id"], own, "{url}: {outcome}");
        let after = stored(&store, own).await;
        assert!(verify_blocking(
            after.password_hash.as_ref().unwrap(),
            "My-Own-Secret-2"
        ));
        assert!(!after.is_admin());
        assert_eq!(after.status, before.status);
        assert_eq!(after.data, before.data);
        same_apart_from_the_change(&before, &after);

        // A client's admin-only change (its own role): DeviceHive's 403, nothing written.
        let before = stored(&store, refused).await;
        let theirs = token(refused, &[]);
        let outcome = tokio::task::spawn_blocking({
            let url = url.clone();
            move || client(&url, &theirs, &["own-role", "0"])
        })
        .await
        .unwrap();
        assert_eq!(outcome["refused"]["code"], 403, "{url}: {outcome}");
        assert_eq!(
            outcome["refused"]["error"],
            "Admin permissions required for this action"
        );
        assert_eq!(
            stored(&store, refused).await,
            before,
            "{url}: nothing written"
        );
    }
}
