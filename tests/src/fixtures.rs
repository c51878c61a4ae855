//! What each `events/` fixture documents: the function it is for and the answer it gets. One
//! table for the two places that feed the fixtures: `tests/integration/events.rs` (through the
//! handlers, in-process) and `deploy-check` (tests/src/bin/deploy-check.rs: through the arm64
//! `bootstrap` files `sam build` produced, under emulation).
//!
//! A fixture's name is `<function>-[<variant>-]<case>.json`.

use serde_json::Value;

/// The `JWT_SECRET` the fixtures' tokens are signed with (`scripts/gen-events.py`; `scripts/run`
/// exports it).
pub const LOCAL_SECRET: &str = "local-development-secret-change-me-0123456789";

/// What a fixture's function answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP response with this status.
    Http(u16),
    /// DeviceHive's `{"action":"user/update","status":"success"}` message.
    WsSuccess,
    /// DeviceHive's `{"status":"error","code":N}` message.
    WsError(u16),
    /// The authorizer's Allow policy.
    Allow,
    /// The authorizer refuses (the runtime turns the error into the handshake's 401).
    Refuse,
    /// The audit log reports no failure and this many records are in the audit table.
    Recorded(usize),
    /// The audit log reports this many of the batch's records as failures (Lambda retries them).
    Failed(usize),
}

use Outcome::*;

/// What each API documents, by function (the crate and binary name) and case.
pub const EXPECTED: &[(&str, &str, Outcome)] = &[
    ("unleash-user-admin", "success", Http(200)),
    ("unleash-user-admin", "bad-token", Http(401)),
    ("unleash-user-admin", "bad-body", Http(400)),
    ("newm-patch-user", "success", Http(204)),
    ("newm-patch-user", "bad-token", Http(401)),
    ("newm-patch-user", "bad-body", Http(422)),
    ("mmc-profile", "success", Http(200)),
    ("mmc-profile", "bad-token", Http(401)),
    ("mmc-profile", "bad-body", Http(400)),
    ("aaa-user-profile", "success", Http(200)),
    ("aaa-user-profile", "bad-token", Http(401)),
    ("aaa-user-profile", "bad-body", Http(400)),
    ("devicehive-user-update", "success", WsSuccess),
    ("devicehive-user-update", "bad-token", WsError(401)),
    ("devicehive-user-update", "bad-body", WsError(400)),
    ("devicehive-rest", "success", Http(204)),
    ("devicehive-rest", "bad-token", Http(401)),
    ("devicehive-rest", "bad-body", Http(400)),
    ("devicehive-authorizer", "success", Allow),
    ("devicehive-authorizer", "bad-token", Refuse),
    ("audit-log", "success", Recorded(1)),
    ("audit-log", "bad-body", Failed(1)),
];

/// `(function, case, outcome)` for a fixture file stem, from its name.
pub fn classify(stem: &str) -> Result<(&'static str, &'static str, Outcome), String> {
    // Longest function name first, should one ever be a prefix of another.
    let mut known: Vec<&(&str, &str, Outcome)> = EXPECTED.iter().collect();
    known.sort_by_key(|(f, c, _)| std::cmp::Reverse((f.len(), c.len())));
    known
        .into_iter()
        .find(|(f, c, _)| {
            stem.strip_prefix(f)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| rest == *c || rest.ends_with(&format!("-{c}")))
        })
        .map(|&(f, c, o)| (f, c, o))
        .ok_or_else(|| {
            format!(
                "events/{stem}.json: the name is not <function>-[<variant>-]<case> for a (function, case) \
                 in EXPECTED (tests/src/fixtures.rs): add the expected outcome there"
            )
        })
}

/// The fields an HTTP answer's JSON body must have: each API's documented success body and its
/// own error body (README, openapi.yaml). `None`: no body (204).
pub fn http_body_fields(function: &str, status: u16) -> Option<&'static [&'static str]> {
    let ok = status < 300;
    match (function, ok) {
        (_, true) if status == 204 => None,
        ("unleash-user-admin", true) => Some(&["id", "name", "email", "isAPI"]),
        ("unleash-user-admin", false) => Some(&["id", "name", "message"]),
        ("newm-patch-user", false) => Some(&["code", "description", "cause"]),
        ("mmc-profile", true) => Some(&["username", "roles"]),
        ("mmc-profile", false) => Some(&["code", "message"]),
        ("aaa-user-profile", true) => Some(&["success", "message", "data", "total"]),
        ("aaa-user-profile", false) => Some(&["success", "message", "errors"]),
        ("devicehive-rest", false) => Some(&["error", "message"]),
        _ => Some(&[]),
    }
}

/// Checks an HTTP answer's body against [`http_body_fields`]: `Err` says what is wrong.
pub fn check_http_body(function: &str, status: u16, body: &Value) -> Result<(), String> {
    match http_body_fields(function, status) {
        None if body.is_null() => Ok(()),
        None => Err(format!("{status} must have no body: {body}")),
        Some(fields) => {
            let missing: Vec<_> = fields.iter().filter(|f| body.get(**f).is_none()).collect();
            if body.is_object() && missing.is_empty() {
                Ok(())
            } else {
                Err(format!("{status} body lacks {missing:?}: {body}"))
            }
        }
    }
}

/// The outcome a DeviceHive WebSocket message (the answer's `body`) shows.
pub fn websocket_outcome(message: &Value) -> Option<Outcome> {
    match (message["status"].as_str(), message["code"].as_u64()) {
        (Some("success"), None) if message["action"] == "user/update" => Some(WsSuccess),
        (Some("error"), Some(code)) if message["error"].is_string() => {
            u16::try_from(code).ok().map(WsError)
        }
        _ => None,
    }
}

/// Whether an authorizer answer is the Allow policy for `event`'s connection, for the user
/// whose id is the `principalId`.
pub fn is_allow_policy(policy: &Value, event: &Value) -> bool {
    let statement = &policy["policyDocument"]["Statement"][0];
    statement["Effect"] == "Allow"
        && statement["Action"] == "execute-api:Invoke"
        && statement["Resource"] == event["methodArn"]
        && policy["principalId"]
            .as_str()
            .is_some_and(|id| id.parse::<i64>().is_ok())
}
