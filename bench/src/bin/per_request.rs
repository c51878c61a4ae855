//! Per-request cost without a network: each handler from the API Gateway event (JSON text) to its
//! response, with DynamoDB answered in-process by the canned client, so the SDK's serialization,
//! signing and parsing are measured too. Prints median and p99 per case, and DynamoDB calls.
//!
//! Run: cargo run --release -p bench --bin per_request

use std::collections::HashMap;
use std::time::Instant;

use bench::{canned_store, percentiles, BOB_PASSWORD, BOB_UUID, LOCAL_SECRET};
use serde_json::{json, Value};
use shared::apigw::{match_route, HttpEvent, Route};
use shared::auth::{Principal, Signer, Verifier};
use shared::config::{JwtConfig, JwtKey};
use shared::user::UserId;
use shared::wire::devicehive::{ws_event, ConnectionPrincipal};
use shared::AppState;

fn token(id: i64, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    Signer::hs256(LOCAL_SECRET.as_bytes(), None, None).sign(UserId::new(id).unwrap(), &roles, 3600)
}

fn event(routes: &[Route], method: &str, path: &str, auth: &str, body: Value) -> String {
    let (route, params) = routes
        .iter()
        .find_map(|r| match_route(r.path, path).map(|p| (r, p)))
        .expect("route");
    HttpEvent {
        method: method.into(),
        path: path.into(),
        route_key: route.key(),
        path_parameters: params,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), format!("Bearer {auth}")),
        ],
        body: body.to_string().into_bytes(),
        ..Default::default()
    }
    .to_json()
    .to_string()
}

fn ws(user: Value, ctx: &Value) -> String {
    let frame = json!({"action": "user/update", "requestId": 1, "userId": "current", "user": user});
    ws_event("user/update", "bench", Some(&frame.to_string()), Some(ctx)).to_string()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (store, counter) = canned_store();
    let verifier = Verifier::new(&JwtConfig {
        key: JwtKey::Secret(LOCAL_SECRET.as_bytes().to_vec()),
        issuer: None,
        audience: None,
    })
    .unwrap();
    let app = AppState { store, verifier };
    let mmc = mmc_profile::State {
        app,
        user_management_enabled: true,
    };
    let app = &mmc.app;
    let (admin, bob) = (token(1, &["admin"]), token(2, &["viewer"]));
    let bob_ctx = ConnectionPrincipal {
        principal: Principal {
            user_id: UserId::new(2).unwrap(),
            roles: ["viewer".to_owned()].into(),
        },
        expires_at: shared::auth::now_unix() + 3600,
    }
    .to_context();
    let pw = |new: &str| json!({"newPassword": new, "confirmPassword": new, "currentPassword": BOB_PASSWORD});

    let u = unleash_user_admin::ROUTES;
    let n = newm_patch_user::ROUTES;
    let m = mmc_profile::ROUTES;
    let a = aaa_user_profile::ROUTES;
    let events: HashMap<&str, String> = HashMap::from([
        (
            "unleash plain",
            event(
                u,
                "PUT",
                "/api/admin/user-admin/2",
                &admin,
                json!({"name": "Robert"}),
            ),
        ),
        (
            "unleash email",
            event(
                u,
                "PUT",
                "/api/admin/user-admin/2",
                &admin,
                json!({"email": "rob@example.com"}),
            ),
        ),
        (
            "newm plain",
            event(
                n,
                "PATCH",
                "/v1/users/me",
                &bob,
                json!({"nickname": "Bobby"}),
            ),
        ),
        (
            "newm plain by uuid",
            event(
                n,
                "PATCH",
                &format!("/v1/users/{BOB_UUID}"),
                &bob,
                json!({"genre": "Pop"}),
            ),
        ),
        (
            "newm email",
            event(
                n,
                "PATCH",
                "/v1/users/me",
                &bob,
                json!({"email": "rob@example.com", "authCode": "123456"}),
            ),
        ),
        (
            "newm password",
            event(n, "PATCH", "/v1/users/me", &bob, pw("N3w-Passw0rd")),
        ),
        (
            "mmc plain (own roles)",
            event(
                m,
                "PUT",
                "/api/profile/bob",
                &bob,
                json!({"username": "bob", "roles": ["viewer"]}),
            ),
        ),
        (
            "mmc admin roles",
            event(
                m,
                "PUT",
                "/api/profile/bob",
                &admin,
                json!({"username": "bob", "roles": ["editor"]}),
            ),
        ),
        (
            "mmc password",
            event(
                m,
                "PUT",
                "/api/profile/bob",
                &bob,
                json!({"username": "bob", "password": "another-secret"}),
            ),
        ),
        (
            "aaa plain",
            event(
                a,
                "PUT",
                "/api/AAA/UserProfiles/2",
                &admin,
                json!({"AccountStatus": 1}),
            ),
        ),
        (
            "aaa email",
            event(
                a,
                "PUT",
                "/api/AAA/UserProfiles/2",
                &admin,
                json!({"EmailAddress": "rob@example.com"}),
            ),
        ),
        (
            "aaa preference",
            event(
                a,
                "PUT",
                "/api/AAA/UserProfiles/2",
                &bob,
                json!({"Preferences": [{"PreferenceID": 3, "PreferenceValue": 7}]}),
            ),
        ),
        (
            "aaa password",
            event(
                a,
                "PUT",
                "/api/AAA/UserProfiles/2",
                &bob,
                json!({"Password": "Passw0rd-aaa", "RepeatPassword": "Passw0rd-aaa"}),
            ),
        ),
        (
            "devicehive plain",
            ws(json!({"data": {"theme": "dark"}}), &bob_ctx),
        ),
        (
            "devicehive password",
            ws(json!({"password": "secret-99"}), &bob_ctx),
        ),
    ]);

    println!("| case | DynamoDB calls | median µs | p99 µs | iterations |");
    println!("|---|---|---|---|---|");
    let mut names: Vec<&&str> = events.keys().collect();
    names.sort();
    for name in names {
        let text = &events[*name];
        let iterations = if name.contains("password") { 30 } else { 5000 };
        let warmup = if name.contains("password") { 3 } else { 500 };
        let mut samples = Vec::with_capacity(iterations);
        let mut calls = 0;
        for i in 0..warmup + iterations {
            counter.take();
            let started = Instant::now();
            let status = run_once(name, text, &mmc, app).await;
            let elapsed = started.elapsed();
            assert!((200..300).contains(&status), "{name} answered {status}");
            if i >= warmup {
                samples.push(elapsed);
                calls = counter.take();
            }
        }
        let (p50, p99) = percentiles(samples);
        println!("| {name} | {calls} | {p50:.1} | {p99:.1} | {iterations} |");
    }
}

/// One event through its function; the HTTP status (WebSocket: 200 on "success").
async fn run_once(name: &str, text: &str, mmc: &mmc_profile::State, app: &AppState) -> u16 {
    if name.starts_with("devicehive") {
        let event: Value = serde_json::from_str(text).unwrap();
        let out = devicehive_user_update::handle(app, event).await;
        let reply: Value = serde_json::from_str(out["body"].as_str().unwrap_or("{}")).unwrap();
        return if reply["status"] == "success" {
            200
        } else {
            500
        };
    }
    let req = lambda_http::request::from_str(text).expect("valid event");
    let resp = if name.starts_with("unleash") {
        unleash_user_admin::handle(app, req).await
    } else if name.starts_with("newm") {
        newm_patch_user::handle(app, req).await
    } else if name.starts_with("mmc") {
        mmc_profile::handle(mmc, req).await
    } else {
        aaa_user_profile::handle(app, req).await
    };
    resp.status().as_u16()
}
