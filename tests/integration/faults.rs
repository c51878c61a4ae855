//! Every write path under every fault, through the handlers: the store talks to the test server
//! through the fault-injecting proxy (`testkit::fault_proxy`), which hits the call that decides
//! each path with each fault. After every case: the answer agrees with the outcome (a success
//! only if the change is in the table; a 503 only where the outcome could not be known, and the
//! same request sent again then succeeds), the table's invariants hold (locks, no orphans, 2FA
//! guesses), versions only grow, and the password and 2FA counters agree with what was tried.
//! Transactions run twice: against moto as it is (it ignores `ClientRequestToken`, so a repeated
//! transaction runs again and is cancelled) and with the proxy emulating DynamoDB's token.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use shared::apigw::websocket::ws_event;
use shared::auth::{now_unix, Principal};
use shared::authorizer_context::ConnectionPrincipal;
use shared::password::verify_blocking;
use shared::store::Store;
use shared::user::User;
use shared::values::{Email, UserId};
use shared::AppState;
use testkit::fault_proxy::{Fault, FaultProxy};
use testkit::invariants::{assert_sound, versions};
use testkit::{bearer, fresh_store, json_of, moto_endpoint, request, seed, userctl, PASSWORD};

use crate::USERCTL;

/// A write path: one request, sendable again as a client would resend it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    UnleashName,
    UnleashEmail,
    NewmEmailWithCode,
    NewmPassword,
    AaaPreference,
    MmcAdminEdit,
    DeviceHiveData,
    DeviceHiveLogin,
    Seed,
}

impl Path {
    /// The DynamoDB operations that decide the path: (operation, how many of its calls to let
    /// through first).
    fn decisive_calls(self) -> &'static [(&'static str, usize)] {
        match self {
            Path::UnleashName | Path::DeviceHiveData => &[("UpdateItem", 0)],
            Path::UnleashEmail | Path::DeviceHiveLogin => &[("TransactWriteItems", 0)],
            // The 2FA guess count, then the transaction that changes the email.
            Path::NewmEmailWithCode => &[("UpdateItem", 0), ("TransactWriteItems", 0)],
            // The attempt count, then the write of the new hash.
            Path::NewmPassword => &[("UpdateItem", 0), ("UpdateItem", 1)],
            Path::AaaPreference => &[("GetItem", 0), ("UpdateItem", 0)],
            // The username lookup, then the write.
            Path::MmcAdminEdit => &[("GetItem", 0), ("UpdateItem", 0)],
            // The second user's create.
            Path::Seed => &[("TransactWriteItems", 1)],
        }
    }
}

const ALL_PATHS: [Path; 9] = [
    Path::UnleashName,
    Path::UnleashEmail,
    Path::NewmEmailWithCode,
    Path::NewmPassword,
    Path::AaaPreference,
    Path::MmcAdminEdit,
    Path::DeviceHiveData,
    Path::DeviceHiveLogin,
    Path::Seed,
];

const NEW_PASSWORD: &str = "Fault-Proof-Pass-9";

/// One case's world: a fresh table, a proxy in front of it, the functions' state through the
/// proxy, and a store that reads the table directly.
struct World {
    proxy: FaultProxy,
    app: AppState,
    direct: Store,
    config: shared::config::Config,
    code: String,
}

async fn world(emulate_tokens: bool) -> World {
    let (direct, config) = fresh_store().await;
    seed(&direct, 1, &["admin"]).await;
    seed(&direct, 2, &[]).await;
    seed(&direct, 3, &[]).await;
    let code = direct
        .issue_code(
            UserId::new(2).unwrap(),
            &Email::parse("coded@example.com").unwrap(),
        )
        .await
        .unwrap();
    let proxy = FaultProxy::start(&moto_endpoint()).await;
    proxy.emulate_request_tokens(emulate_tokens);
    let mut through = config.clone();
    through.dynamodb_endpoint = Some(proxy.endpoint());
    let app = AppState::from_config(&through).await.unwrap();
    World {
        proxy,
        app,
        direct,
        config: through,
        code,
    }
}

fn admin_context() -> Value {
    ConnectionPrincipal {
        principal: Principal {
            user_id: UserId::new(1).unwrap(),
            roles: ["admin".to_owned()].into(),
            authenticated_at: shared::auth::now_unix(),
        },
        expires_at: now_unix() + 600,
    }
    .to_context()
}

/// Sends the path's request once: its status (HTTP, or DeviceHive's code; 200 for its success)
/// and body.
async fn send(path: Path, w: &World) -> (u16, Value) {
    let admin = bearer(1, &["admin"]);
    let user = bearer(2, &[]);
    let http = |routes, method, url: &str, auth: &str, body: Value| {
        request(routes, method, url, Some(auth), body.to_string().as_bytes())
    };
    match path {
        Path::UnleashName | Path::UnleashEmail => {
            let body = if path == Path::UnleashName {
                json!({"name": "Faulty Name"})
            } else {
                json!({"email": "moved@example.com"})
            };
            let req = http(
                unleash_user_admin::ROUTES,
                "PUT",
                "/api/admin/user-admin/2",
                &admin,
                body,
            );
            json_of(&unleash_user_admin::handle(&w.app, req).await)
        }
        Path::NewmEmailWithCode => {
            let body = json!({"email": "coded@example.com", "authCode": w.code});
            let req = http(
                newm_patch_user::ROUTES,
                "PATCH",
                "/v1/users/me",
                &user,
                body,
            );
            json_of(&newm_patch_user::handle(&w.app, req).await)
        }
        Path::NewmPassword => {
            let body = json!({"newPassword": NEW_PASSWORD, "confirmPassword": NEW_PASSWORD,
                "currentPassword": PASSWORD});
            let req = http(
                newm_patch_user::ROUTES,
                "PATCH",
                "/v1/users/me",
                &user,
                body,
            );
            json_of(&newm_patch_user::handle(&w.app, req).await)
        }
        Path::AaaPreference => {
            let body = json!({"Preferences": [{"PreferenceID": 3, "PreferenceValue": "7"}]});
            let req = http(
                aaa_user_profile::ROUTES,
                "PUT",
                "/api/AAA/UserProfiles/2",
                &admin,
                body,
            );
            json_of(&aaa_user_profile::handle(&w.app, req).await)
        }
        Path::MmcAdminEdit => {
            let body = json!({"username": "user2", "roles": ["editor"]});
            let req = http(
                mmc_profile::ROUTES,
                "PUT",
                "/api/profile/user2",
                &admin,
                body,
            );
            let settings = mmc_profile::Settings {
                user_management_enabled: true,
            };
            json_of(&mmc_profile::handle(&w.app, &settings, req).await)
        }
        Path::DeviceHiveData | Path::DeviceHiveLogin => {
            let user = if path == Path::DeviceHiveData {
                json!({"data": {"k": "v"}})
            } else {
                json!({"login": "renamed"})
            };
            let frame = json!({"action": "user/update", "requestId": 1, "userId": 2, "user": user});
            let out = devicehive_user_update::handle(
                &w.app,
                &devicehive_user_update::Settings::default(),
                ws_event(
                    "user/update",
                    "c",
                    Some(&frame.to_string()),
                    Some(&admin_context()),
                ),
            )
            .await;
            let answer: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
            let status = if answer["status"] == "success" {
                200
            } else {
                answer["code"].as_u64().unwrap_or(0) as u16
            };
            (status, answer)
        }
        Path::Seed => {
            let file =
                std::env::temp_dir().join(format!("fault-seed-{}.json", uuid::Uuid::new_v4()));
            let users = json!([
                {"id": 10, "uuid": uuid::Uuid::new_v4().to_string(), "username": "seeded10",
                 "email": "seeded10@example.com", "password": "Seeded-Pass-1", "roles": [], "status": "active"},
                {"id": 11, "uuid": uuid::Uuid::new_v4().to_string(), "username": "seeded11",
                 "email": "seeded11@example.com", "password": "Seeded-Pass-1", "roles": [], "status": "active"}
            ]);
            std::fs::write(&file, users.to_string()).unwrap();
            let config = w.config.clone();
            let (ok, out, err) = tokio::task::spawn_blocking(move || {
                userctl(USERCTL, &config, &["seed", file.to_str().unwrap()])
            })
            .await
            .unwrap();
            let status = if ok {
                200
            } else if err.contains("unavailable") || err.contains("unreachable") {
                503
            } else {
                500
            };
            (status, json!({"stdout": out, "stderr": err}))
        }
    }
}

/// The path's success status.
fn success_status(path: Path) -> u16 {
    match path {
        Path::NewmEmailWithCode | Path::NewmPassword => 204,
        _ => 200,
    }
}

async fn stored(store: &Store, id: i64) -> Option<User> {
    store.get(UserId::new(id).unwrap()).await.unwrap()
}

/// Whether the path's change is in the table (and its counters agree with one success).
async fn changed(path: Path, store: &Store) -> Result<(), String> {
    let two = stored(store, 2).await.ok_or("user 2 is gone")?;
    let ok = match path {
        Path::UnleashName => two.name.as_deref() == Some("Faulty Name"),
        Path::UnleashEmail => two.email == "moved@example.com",
        Path::NewmEmailWithCode => {
            let codes = testkit::all_keys(store)
                .await
                .into_iter()
                .filter(|k| k.starts_with("CODE#"))
                .count();
            two.email == "coded@example.com" && codes == 0
        }
        Path::NewmPassword => {
            verify_blocking(two.password_hash.as_ref().unwrap(), NEW_PASSWORD)
                && two.password_failures == 0
        }
        Path::AaaPreference => two.preferences.get(&3).is_some_and(|p| p.value == "7"),
        Path::MmcAdminEdit => two.roles == ["editor".to_owned()].into(),
        Path::DeviceHiveData => two.data_json() == json!({"k": "v"}),
        Path::DeviceHiveLogin => two.username == "renamed",
        Path::Seed => stored(store, 10).await.is_some() && stored(store, 11).await.is_some(),
    };
    ok.then_some(())
        .ok_or_else(|| format!("the change is not in the table: {two:?}"))
}

fn versions_only_grew(
    before: &BTreeMap<i64, i64>,
    after: &BTreeMap<i64, i64>,
) -> Result<(), String> {
    for (id, v) in before {
        match after.get(id) {
            Some(now) if now >= v => {}
            other => return Err(format!("user {id}: version {v} became {other:?}")),
        }
    }
    Ok(())
}

/// One path, one decisive call, one fault: the outcome and the table afterwards.
async fn case(path: Path, op: &str, skip: usize, fault: Fault, tokens: bool) -> Result<(), String> {
    let w = world(tokens).await;
    let before = versions(&w.direct).await;
    w.proxy.inject(op, skip, 1, fault);
    let (status, body) = send(path, &w).await;
    let status = if status == 503 {
        // Unknown outcome: the same request sent again must converge.
        w.proxy.clear();
        send(path, &w).await.0
    } else {
        status
    };
    if w.proxy.stats().injected.get(fault.name()) != Some(&1) {
        return Err(format!("the fault was not injected: {:?}", w.proxy.stats()));
    }
    if status != success_status(path) {
        return Err(format!("answered {status}: {body}"));
    }
    changed(path, &w.direct).await?;
    let wrong = testkit::invariants::violations(&w.direct).await;
    if !wrong.is_empty() {
        return Err(format!("invariants: {wrong:?}"));
    }
    versions_only_grew(&before, &versions(&w.direct).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_write_path_under_every_fault() {
    let mut cases = Vec::new();
    for path in ALL_PATHS {
        for &(op, skip) in path.decisive_calls() {
            for fault in Fault::ALL {
                cases.push((path, op, skip, fault, false));
                if op == "TransactWriteItems" {
                    cases.push((path, op, skip, fault, true));
                }
            }
        }
    }
    let total = cases.len();
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(12));
    let mut running = tokio::task::JoinSet::new();
    for (path, op, skip, fault, tokens) in cases {
        let limit = limit.clone();
        running.spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let outcome = case(path, op, skip, fault, tokens).await;
            (
                format!(
                    "{path:?} / {op} #{} / {} / tokens {tokens}",
                    skip + 1,
                    fault.name()
                ),
                outcome,
            )
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = running.join_next().await {
        let (name, outcome) = done.unwrap();
        if let Err(why) = outcome {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A refusal under a fault is still a refusal, and nothing changed; the counters count once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_under_faults_change_nothing_and_count_once() {
    for fault in [
        Fault::ForwardThenDrop,
        Fault::Delay,
        Fault::InternalServerError,
    ] {
        // An email another user holds: 409, with the transaction's answer lost.
        let w = world(false).await;
        let before = stored(&w.direct, 2).await.unwrap();
        w.proxy.inject("TransactWriteItems", 0, 1, fault);
        let req = request(
            unleash_user_admin::ROUTES,
            "PUT",
            "/api/admin/user-admin/2",
            Some(&bearer(1, &["admin"])),
            json!({"email": "USER3@example.com"}).to_string().as_bytes(),
        );
        let (status, body) = json_of(&unleash_user_admin::handle(&w.app, req).await);
        assert_eq!(status, 409, "{}: {body}", fault.name());
        assert_eq!(
            stored(&w.direct, 2).await.unwrap(),
            before,
            "nothing changed"
        );
        assert_sound(&w.direct, fault.name()).await;

        // A wrong 2FA code, its count's answer lost: 403, counted once.
        w.proxy.inject("UpdateItem", 0, 1, fault);
        let wrong = if w.code == "000000" {
            "000001"
        } else {
            "000000"
        };
        let req = request(
            newm_patch_user::ROUTES,
            "PATCH",
            "/v1/users/me",
            Some(&bearer(2, &[])),
            json!({"email": "coded@example.com", "authCode": wrong})
                .to_string()
                .as_bytes(),
        );
        let (status, body) = json_of(&newm_patch_user::handle(&w.app, req).await);
        assert_eq!(
            (status, body["cause"].as_str()),
            (403, Some("2FA failed")),
            "{}",
            fault.name()
        );
        let attempts = w
            .direct
            .client()
            .get_item()
            .table_name(w.direct.table())
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("CODE#2#coded@example.com".into()),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item()
            .and_then(|i| i.get("attempts").and_then(|a| a.as_n().ok()).cloned());
        assert_eq!(
            attempts.as_deref(),
            Some("1"),
            "{}: one guess, one count",
            fault.name()
        );

        // A wrong current password, its count's answer lost: 401, counted once.
        w.proxy.inject("UpdateItem", 0, 1, fault);
        let req = request(
            newm_patch_user::ROUTES,
            "PATCH",
            "/v1/users/me",
            Some(&bearer(3, &[])),
            json!({"newPassword": NEW_PASSWORD, "confirmPassword": NEW_PASSWORD,
                "currentPassword": "Not-The-Password-1"})
            .to_string()
            .as_bytes(),
        );
        let (status, _) = json_of(&newm_patch_user::handle(&w.app, req).await);
        assert_eq!(status, 401, "{}", fault.name());
        assert_eq!(
            stored(&w.direct, 3).await.unwrap().password_failures,
            1,
            "{}",
            fault.name()
        );
    }
}

/// Where the outcome cannot be known (every attempt's answer lost, and the read after it too),
/// the answer is the API's 503; sent again, the same request converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknowable_outcome_is_503_and_sending_again_converges() {
    for tokens in [false, true] {
        let w = world(tokens).await;
        w.proxy
            .inject("TransactWriteItems", 0, 3, Fault::ForwardThenDrop);
        w.proxy.inject("GetItem", 1, 6, Fault::Reset);
        let (status, body) = send(Path::UnleashEmail, &w).await;
        assert_eq!(status, 503, "tokens {tokens}: {body}");
        assert_eq!(body["name"], "ServiceUnavailableError");
        w.proxy.clear();
        let (status, body) = send(Path::UnleashEmail, &w).await;
        assert_eq!(status, 200, "tokens {tokens}: {body}");
        changed(Path::UnleashEmail, &w.direct).await.unwrap();
        assert_sound(&w.direct, "after the resend").await;
    }
}

/// Another client's write slips in after this request's write landed and before the SDK sends
/// it again (its answer was lost): the resend's condition then fails on a table this request
/// already changed. That is not a refusal ("user does not exist" would be false): the stamp no
/// longer says whose write it was, so the outcome is unknown (MMC's 500, its document having no
/// 503), and the change is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_slipping_in_before_a_resend_makes_no_false_refusal() {
    let settings = mmc_profile::Settings {
        user_management_enabled: true,
    };
    // An administrator's edit (one UpdateItem on condition of the username) and the user's own
    // edit with a password and its roles (read, then UpdateItem on the version read).
    let edits = [
        (
            bearer(1, &["admin"]),
            json!({"username": "user2", "roles": ["editor"]}),
        ),
        (
            bearer(2, &[]),
            json!({"username": "user2", "roles": ["viewer"], "password": NEW_PASSWORD}),
        ),
    ];
    for (auth, body) in edits {
        let w = world(false).await;
        // MMC users hold at least one role, and its own edit must repeat them.
        let viewer = shared::patch::UserPatch {
            roles: Some(shared::patch::RolesChange::Grant(
                shared::values::Role::parse("viewer").unwrap(),
            )),
            ..Default::default()
        };
        w.direct
            .update(UserId::new(2).unwrap(), &viewer, &[], &testkit::stamp())
            .await
            .unwrap();
        w.proxy.inject("UpdateItem", 0, 1, Fault::ForwardThenDrop);
        let direct = w.direct.clone();
        w.proxy.interleave(async move {
            let rename = shared::patch::UserPatch {
                username: Some(shared::values::Username::parse("renamed2").unwrap()),
                ..Default::default()
            };
            direct
                .update(UserId::new(2).unwrap(), &rename, &[], &testkit::stamp())
                .await
                .expect("the other client's rename");
        });
        let req = request(
            mmc_profile::ROUTES,
            "PUT",
            "/api/profile/user2",
            Some(&auth),
            body.to_string().as_bytes(),
        );
        let (status, answer) = json_of(&mmc_profile::handle(&w.app, &settings, req).await);
        assert_eq!(
            w.proxy.stats().injected.get("forward-then-drop"),
            Some(&1),
            "{body}"
        );
        assert_eq!(
            (status, answer["code"].as_str()),
            (500, Some("INTERNAL_ERROR")),
            "{body}: {answer}"
        );
        let two = stored(&w.direct, 2).await.unwrap();
        assert_eq!(two.username, "renamed2");
        let landed = if body["password"].is_string() {
            verify_blocking(two.password_hash.as_ref().unwrap(), NEW_PASSWORD)
        } else {
            two.roles == ["editor".to_owned()].into()
        };
        assert!(landed, "{body}: the change is not in the table: {two:?}");
        assert_sound(&w.direct, "after the rename").await;
    }
}

/// Another client's write lands between a NEWM password change's attempt count and its write:
/// the write, on the version it read, is refused and the change is read and tried again. The
/// count it takes again must not pass for the change having landed (it counts once, and the
/// stamp is left to the write that changed the user), so the answer is 204 only with the new
/// password stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_between_the_password_count_and_its_write_is_not_taken_for_the_change() {
    let w = world(false).await;
    let direct = w.direct.clone();
    // UpdateItem #1 is the count, #2 the write of the new hash.
    w.proxy.before("UpdateItem", 1, async move {
        let nickname = shared::patch::UserPatch {
            nickname: Some(shared::patch::Change::Set(
                shared::values::Text::parse("nickname", "slipped in").unwrap(),
            )),
            ..Default::default()
        };
        direct
            .update(UserId::new(2).unwrap(), &nickname, &[], &testkit::stamp())
            .await
            .expect("the other client's write");
    });
    let (status, body) = send(Path::NewmPassword, &w).await;
    assert_eq!(status, 204, "{body}");
    changed(Path::NewmPassword, &w.direct).await.unwrap();
    let two = stored(&w.direct, 2).await.unwrap();
    assert_eq!(two.nickname.as_deref(), Some("slipped in"));
    assert_eq!(
        w.proxy.stats().calls.get("UpdateItem"),
        Some(&4),
        "count, refused write, count again (counted once), write"
    );
    assert_sound(&w.direct, "after the password change").await;
}
