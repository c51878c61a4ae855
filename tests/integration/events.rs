//! The event fixtures in `events/` (for `cargo lambda invoke <function> --data-file
//! events/<file>.json`, written by `scripts/gen-events.py`: API Gateway events, and a DynamoDB
//! stream batch for the audit log) through their functions' handlers, in-process, each against a
//! fresh table seeded with `demo/users.json` and a state configured with the local development
//! secret that `scripts/run` exports as `JWT_SECRET`.
//!
//! Every file is covered: its name is `<function>-[<variant>-]<case>.json`, and `EXPECTED`
//! (tests/src/fixtures.rs, shared with the deploy check) says what that function answers in that
//! case. A file naming no known function or case fails the test, and so does a documented case
//! with no file.

use crate::USERCTL;

use std::path::Path;

use serde_json::Value;
use shared::apigw::http::{match_route, Route};
use shared::authorizer_context::ConnectionPrincipal;
use shared::config::{Config, JwtKey};
use testkit::{
    assert_no_secrets, fresh_audit_table, fresh_store, json_of, userctl, workspace_root,
};

use testkit::fixtures::{classify, Outcome, EXPECTED, LOCAL_SECRET};
use Outcome::*;

/// The HTTP routes each HTTP function serves, as `template.yaml` declares them.
fn routes(function: &str) -> Option<&'static [Route]> {
    match function {
        "unleash-user-admin" => Some(unleash_user_admin::ROUTES),
        "newm-patch-user" => Some(newm_patch_user::ROUTES),
        "mmc-profile" => Some(mmc_profile::ROUTES),
        "aaa-user-profile" => Some(aaa_user_profile::ROUTES),
        "devicehive-rest" => Some(devicehive_user_update::rest::ROUTES),
        _ => None,
    }
}

/// What came back, as text (for the secret check) and as the outcome it shows.
struct Answer {
    text: String,
    outcome: Option<Outcome>,
    detail: String,
}

async fn invoke(function: &str, event_text: &str, config: &Config) -> Result<Answer, String> {
    let app = shared::AppState::from_config(config)
        .await
        .map_err(|e| format!("state: {e}"))?;
    let mmc = mmc_profile::Settings {
        user_management_enabled: true,
    };
    match function {
        "devicehive-user-update" => {
            let event: Value = serde_json::from_str(event_text).map_err(|e| e.to_string())?;
            let answer = devicehive_user_update::handle(
                &app,
                &devicehive_user_update::Settings::default(),
                event,
            )
            .await;
            if answer["statusCode"] != 200 {
                return Err(format!("statusCode is not 200: {answer}"));
            }
            let text = answer["body"].as_str().unwrap_or_default().to_owned();
            let message: Value = serde_json::from_str(&text)
                .map_err(|_| format!("the message is not JSON: {answer}"))?;
            let outcome = testkit::fixtures::websocket_outcome(&message);
            Ok(Answer {
                text,
                outcome,
                detail: message.to_string(),
            })
        }
        "devicehive-authorizer" => {
            let event: Value = serde_json::from_str(event_text).map_err(|e| e.to_string())?;
            let authorizer = devicehive_authorizer::Authorizer::new(config)
                .await
                .map_err(|e| format!("authorizer: {e}"))?;
            match authorizer.authorize(&event) {
                Ok(policy) => {
                    let context: std::collections::HashMap<String, Value> =
                        serde_json::from_value(policy["context"].clone())
                            .map_err(|e| format!("context is not a map: {e}"))?;
                    // The context must be what devicehive-user-update reads on every message.
                    let who = ConnectionPrincipal::from_context(&context)
                        .map_err(|e| format!("context unreadable ({e}): {policy}"))?;
                    let allowed = testkit::fixtures::is_allow_policy(&policy, &event)
                        && policy["principalId"].as_str()
                            == Some(who.principal.user_id.get().to_string().as_str());
                    Ok(Answer {
                        text: policy.to_string(),
                        outcome: allowed.then_some(Allow),
                        detail: policy.to_string(),
                    })
                }
                Err(e) => Ok(Answer {
                    text: e.to_string(),
                    outcome: Some(Refuse),
                    detail: e.to_string(),
                }),
            }
        }
        "audit-log" => {
            let event: Value = serde_json::from_str(event_text).map_err(|e| e.to_string())?;
            let table = fresh_audit_table(config).await;
            let audit = audit_log::Audit::new(&table, &config.dynamodb(), 400, false).await;
            let answer = audit.handle(event).await;
            let failures = answer["batchItemFailures"]
                .as_array()
                .ok_or_else(|| format!("no batchItemFailures: {answer}"))?
                .len();
            let recorded = testkit::items_of(config, &table).await;
            // The records as their text too, for the secret check.
            let text = format!("{answer} {recorded:?}");
            let outcome = if failures > 0 {
                Failed(failures)
            } else {
                Recorded(recorded.len())
            };
            Ok(Answer {
                detail: text.clone(),
                text,
                outcome: Some(outcome),
            })
        }
        http => {
            let routes = routes(http).ok_or_else(|| format!("unknown function {http}"))?;
            check_route(routes, event_text)?;
            let req = lambda_http::request::from_str(event_text)
                .map_err(|e| format!("not an API Gateway event lambda_http reads: {e}"))?;
            let resp = match http {
                "unleash-user-admin" => unleash_user_admin::handle(&app, req).await,
                "newm-patch-user" => newm_patch_user::handle(&app, req).await,
                "mmc-profile" => mmc_profile::handle(&app, &mmc, req).await,
                "aaa-user-profile" => aaa_user_profile::handle(&app, req).await,
                "devicehive-rest" => {
                    let settings = devicehive_user_update::Settings::default();
                    devicehive_user_update::rest::handle(&app, &settings, req).await
                }
                other => return Err(format!("no handler for {other}")),
            };
            let (status, body) = json_of(&resp);
            testkit::fixtures::check_http_body(http, status, &body)?;
            let text = if body.is_null() {
                String::new()
            } else {
                body.to_string()
            };
            Ok(Answer {
                text,
                outcome: Some(Http(status)),
                detail: format!("{status} {body}"),
            })
        }
    }
}

/// The event is one API Gateway would send this function: a route it serves, path parameters
/// as that route extracts them from the path, and the request context agreeing.
fn check_route(routes: &[Route], event_text: &str) -> Result<(), String> {
    let event: Value = serde_json::from_str(event_text).map_err(|e| e.to_string())?;
    let route_key = event["routeKey"].as_str().unwrap_or_default();
    let route = routes
        .iter()
        .find(|r| r.key() == route_key)
        .ok_or_else(|| format!("routeKey {route_key:?} is not a route of this function"))?;
    let path = event["rawPath"].as_str().unwrap_or_default();
    let params = match_route(route.path, path)
        .ok_or_else(|| format!("rawPath {path:?} does not match {route_key:?}"))?;
    let sent: std::collections::HashMap<String, String> =
        serde_json::from_value(event["pathParameters"].clone()).unwrap_or_default();
    let ctx = &event["requestContext"];
    if sent != params
        || event["version"] != "2.0"
        || ctx["routeKey"] != route_key
        || ctx["http"]["method"] != route.method
        || ctx["http"]["path"] != path
    {
        return Err(format!(
            "version, pathParameters or requestContext disagree with {route_key} {path}"
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_fixture_gets_the_answer_it_documents() {
    let root = workspace_root();
    let demo = root.join("demo/users.json");
    let demo_passwords: Vec<String> =
        serde_json::from_str::<Value>(&std::fs::read_to_string(&demo).unwrap())
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["password"].as_str().map(str::to_owned))
            .collect();

    let mut files: Vec<_> = std::fs::read_dir(root.join("events"))
        .expect("events/ exists (scripts/gen-events.py writes it)")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();

    let mut failures = Vec::new();
    let mut covered = std::collections::BTreeSet::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let stem = name.trim_end_matches(".json");
        let (function, case, expected) = match classify(stem) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        covered.insert((function, case));
        eprintln!("events/{name}: {function}, {case}, expecting {expected:?}");
        match run_fixture(function, path, &demo).await {
            Err(e) => failures.push(format!("events/{name}: {e}")),
            Ok(answer) => {
                assert_no_secrets(&answer.text);
                if let Some(p) = demo_passwords.iter().find(|p| answer.text.contains(*p)) {
                    failures.push(format!("events/{name}: the answer holds a password ({p})"));
                }
                if answer.outcome != Some(expected) {
                    failures.push(format!(
                        "events/{name}: expected {expected:?}, got {:?}: {}",
                        answer.outcome, answer.detail
                    ));
                }
            }
        }
    }
    for (function, case, _) in EXPECTED {
        if !covered.contains(&(*function, *case)) {
            failures.push(format!(
                "no fixture for {function} {case}: expected events/{function}-{case}.json"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// One fixture against its own fresh table, seeded with the demo users by `userctl seed`.
async fn run_fixture(function: &str, path: &Path, demo: &Path) -> Result<Answer, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let (_, seed_config) = fresh_store().await;
    let (ok, out, err) = userctl(
        USERCTL,
        &seed_config,
        &["seed", demo.to_str().expect("a UTF-8 path")],
    );
    if !ok {
        return Err(format!("userctl seed failed: {out}{err}"));
    }
    let config = Config {
        jwt: shared::config::JwtConfig {
            key: JwtKey::Secret(LOCAL_SECRET.as_bytes().to_vec()),
            ..seed_config.jwt
        },
        ..seed_config
    };
    invoke(function, &text, &config).await
}
