//! End to end: real HTTP through `userctl serve` (API Gateway payload 2.0 events, the same
//! handlers as the Lambda binaries) against the moto test server.

use crate::USERCTL;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use shared::values::UserId;
use testkit::{assert_no_secrets, bearer, fresh_store, seed, userctl, Served, PASSWORD};

pub(crate) async fn send(
    client: &Client,
    method: reqwest::Method,
    url: String,
    auth: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = client.request(method, url).json(&body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("request through userctl serve");
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_no_secrets(&text);
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    };
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unleash_through_serve() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    for n in 2..=9 {
        seed(&store, n, &[]).await;
    }
    let served = Served::start(USERCTL, &config);
    let c = Client::new();
    let admin = bearer(1, &["admin"]);
    let put = reqwest::Method::PUT;

    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/admin/user-admin/2"),
        Some(&admin),
        json!({"name": "Two", "rootRole": "Viewer"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["name"].as_str(), b["rootRole"].as_str()),
        (Some("Two"), Some("Viewer"))
    );

    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/admin/user-admin/2"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b["name"].as_str()),
        (401, Some("AuthenticationRequired"))
    );
    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/admin/user-admin/2"),
        Some(&bearer(2, &[])),
        json!({}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b["name"].as_str()),
        (403, Some("NoAccessError"))
    );
    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/admin/user-admin/2"),
        Some(&admin),
        json!({"email": "nope"}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b["name"].as_str()),
        (400, Some("ValidationError"))
    );
    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/admin/user-admin/77"),
        Some(&admin),
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b["name"].as_str()),
        (404, Some("NotFoundError"))
    );
    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/admin/user-admin/2"),
        Some(&admin),
        json!({"email": "user3@example.com"}),
    )
    .await;
    assert_eq!(s, 409, "{b}");

    // Eight admins' requests race for one address: exactly one wins.
    let tasks: Vec<_> = (2..=9)
        .map(|n| {
            let (c, url, admin) = (
                c.clone(),
                served.url(&format!("/api/admin/user-admin/{n}")),
                admin.clone(),
            );
            tokio::spawn(async move {
                send(
                    &c,
                    reqwest::Method::PUT,
                    url,
                    Some(&admin),
                    json!({"email": "race@example.com"}),
                )
                .await
                .0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().as_u16());
    }
    statuses.sort();
    assert_eq!(statuses, vec![200, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(
        testkit::all_keys(&store)
            .await
            .iter()
            .filter(|k| k.starts_with("EMAIL#"))
            .count(),
        9
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newm_through_serve_with_a_code_from_userctl() {
    let (store, config) = fresh_store().await;
    let one = seed(&store, 1, &[]).await;
    seed(&store, 2, &[]).await;
    let served = Served::start(USERCTL, &config);
    let c = Client::new();
    let me = bearer(1, &[]);
    let patch = reqwest::Method::PATCH;

    let (s, b) = send(
        &c,
        patch.clone(),
        served.url("/v1/users/me"),
        Some(&me),
        json!({"nickname": "Johnny", "role": "Producer"}),
    )
    .await;
    assert_eq!((s.as_u16(), b), (204, Value::Null));
    let (s, _) = send(
        &c,
        patch.clone(),
        served.url(&format!("/v1/users/{}", one.uuid)),
        Some(&me),
        json!({"genre": "Pop"}),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = send(
        &c,
        patch.clone(),
        served.url("/v1/users/me"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(s, 401);
    let (s, b) = send(
        &c,
        patch.clone(),
        served.url("/v1/users/me"),
        Some(&me),
        json!({"websiteUrl": "nope"}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b["cause"].as_str()),
        (422, Some("Invalid url: nope"))
    );

    let (ok, code, err) = userctl(
        USERCTL,
        &config,
        &["code", "--user", "1", "--email", "john@example.com"],
    );
    assert!(ok, "{err}");
    let (s, _) = send(
        &c,
        patch.clone(),
        served.url("/v1/users/me"),
        Some(&me),
        json!({"email": "john@example.com", "authCode": code.trim()}),
    )
    .await;
    assert_eq!(s, 204);

    // Two users race for one address, each with a valid code: one 204, one 409.
    let mut tasks = Vec::new();
    for n in [1, 2] {
        let (ok, code, _) = userctl(
            USERCTL,
            &config,
            &[
                "code",
                "--user",
                &n.to_string(),
                "--email",
                "both@example.com",
            ],
        );
        assert!(ok);
        let (c, url, auth) = (c.clone(), served.url("/v1/users/me"), bearer(n, &[]));
        tasks.push(tokio::spawn(async move {
            send(
                &c,
                reqwest::Method::PATCH,
                url,
                Some(&auth),
                json!({"email": "both@example.com", "authCode": code.trim()}),
            )
            .await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results.sort_by_key(|(s, _)| s.as_u16());
    assert_eq!(results[0].0, 204);
    assert_eq!(results[1].0, 409);
    assert_eq!(results[1].1["cause"], "Already exists: both@example.com");

    // The NEWM profession never became an access role.
    let u = store.get(UserId::new(1).unwrap()).await.unwrap().unwrap();
    assert!(u.roles.is_empty());
    assert_eq!(u.nickname.as_deref(), Some("Johnny"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mmc_through_serve() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    seed(&store, 2, &["viewer"]).await;
    let served = Served::start(USERCTL, &config);
    let c = Client::new();
    let put = reqwest::Method::PUT;
    let user2 = bearer(2, &["viewer"]);

    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/profile/user2"),
        Some(&user2),
        json!({"username": "user2", "roles": ["viewer"], "password": "another-pass"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b, json!({"username": "user2", "roles": ["viewer"]}));
    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/profile/user2"),
        Some(&user2),
        json!({"username": "user2", "roles": ["viewer", "admin"]}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b),
        (
            403,
            json!({"code": "NOT_ALLOWED", "message": "Not allowed"})
        )
    );
    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/profile/user2"),
        None,
        json!({"username": "user2"}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b),
        (
            401,
            json!({"code": "UNAUTHORIZED", "message": "Unauthorized"})
        )
    );
    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/profile/user2"),
        Some(&user2),
        json!({"username": "other"}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b),
        (
            400,
            json!({"code": "INVALID", "message": "User object invalid"})
        )
    );
    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/profile/user2"),
        Some(&user2),
        json!({"username": "user2", "roles": []}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b),
        (
            400,
            json!({"code": "INVALID", "message": "User must have at least one role"})
        )
    );
    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/profile/ghost"),
        Some(&bearer(1, &["admin"])),
        json!({"username": "ghost"}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b),
        (
            410,
            json!({"code": "GONE", "message": "User does not exist"})
        )
    );
    let (s, b) = send(
        &c,
        put.clone(),
        served.url("/api/profile/user2"),
        Some(&bearer(1, &["admin"])),
        json!({"username": "user2", "roles": ["editor"]}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b),
        (200, json!({"username": "user2", "roles": ["editor"]}))
    );
    let stored = store.get(UserId::new(2).unwrap()).await.unwrap().unwrap();
    assert!(shared::password::verify_blocking(
        stored.password_hash.as_ref().unwrap(),
        "another-pass"
    ));
    drop(served);

    let off = Served::start_with(USERCTL, &config, &[("USER_MANAGEMENT_ENABLED", "false")]);
    let (s, b) = send(
        &c,
        put,
        off.url("/api/profile/user2"),
        Some(&user2),
        json!({"username": "user2"}),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b),
        (
            404,
            json!({"code": "NOT_FOUND", "message": "Plugin not found"})
        )
    );
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let (_, config) = fresh_store().await;
    let served = Served::start(USERCTL, &config);
    let c = Client::new();
    let (s, b) = send(
        &c,
        reqwest::Method::GET,
        served.url("/api/profile/x"),
        None,
        json!({}),
    )
    .await;
    assert_eq!((s.as_u16(), b), (404, json!({"message": "Not Found"})));
    let (s, _) = send(
        &c,
        reqwest::Method::PUT,
        served.url("/nope"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn uniqueness_holds_across_apis() {
    let (store, config) = fresh_store().await;
    seed(&store, 1, &["admin"]).await;
    seed(&store, 2, &[]).await;
    let served = Served::start(USERCTL, &config);
    let c = Client::new();
    // Unleash moves user 2 to an address; NEWM then cannot take it for user 1.
    let (s, _) = send(
        &c,
        reqwest::Method::PUT,
        served.url("/api/admin/user-admin/2"),
        Some(&bearer(1, &["admin"])),
        json!({"email": "shared@example.com"}),
    )
    .await;
    assert_eq!(s, 200);
    let (ok, code, _) = userctl(
        USERCTL,
        &config,
        &["code", "--user", "1", "--email", "SHARED@example.com"],
    );
    assert!(ok);
    let (s, b) = send(
        &c,
        reqwest::Method::PATCH,
        served.url("/v1/users/me"),
        Some(&bearer(1, &[])),
        json!({"email": "SHARED@example.com", "authCode": code.trim()}),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    let _ = PASSWORD;
}
