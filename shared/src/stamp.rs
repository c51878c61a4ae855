//! Who writes, through which API, for which request. Every write of a user item records it in the
//! same `UpdateItem` or transaction (`last_actor`, `last_api`, `last_request`), so the table's
//! stream says who made each change (the audit trail), and a write that this request already
//! applied can be told apart, after an ambiguous failure, from one that it did not.

use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::values::UserId;

/// The APIs that write users, as the audit trail names them.
pub mod api {
    pub const UNLEASH: &str = "unleash";
    pub const NEWM: &str = "newm";
    pub const MMC: &str = "mmc";
    pub const AAA: &str = "aaa";
    pub const DEVICEHIVE: &str = "devicehive";
    pub const USERCTL: &str = "userctl";
}

/// On whose authority a write is made: what the directory's rules (`policy`) are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// The operator's own tool (`userctl`), or a test: no token, so no rule of a token's holder.
    Operator,
    /// A verified token: whether it claims the admin role, and when its holder signed in.
    Token { admin: bool, authenticated_at: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The token's user; `None` for the operator's own tool (`userctl`).
    pub actor: Option<UserId>,
    pub authority: Authority,
    pub api: &'static str,
    /// API Gateway's request id (or the WebSocket message's): one per request, the same for every
    /// retry of it inside this function.
    pub request_id: String,
}

impl Stamp {
    pub fn new(actor: Option<UserId>, api: &'static str, request_id: impl Into<String>) -> Self {
        let request_id = request_id.into();
        let request_id = if request_id.trim().is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            request_id
        };
        Self {
            actor,
            authority: Authority::Operator,
            api,
            request_id,
        }
    }

    /// A write on the authority of a verified token.
    pub fn by(principal: &Principal, api: &'static str, request_id: impl Into<String>) -> Self {
        Self {
            authority: Authority::Token {
                admin: principal.is_admin(),
                authenticated_at: principal.authenticated_at,
            },
            ..Self::new(Some(principal.user_id), api, request_id)
        }
    }

    /// A `ClientRequestToken` for one transaction of this request (DynamoDB: 1 to 36 characters):
    /// the same for every send of the same transaction (the SDK's resends), so DynamoDB answers a
    /// repeat of a committed one as a success without applying it twice; different for another
    /// transaction, or the same one built again (`parts` then differ: its time, its attempt).
    pub fn transaction_token(&self, parts: &[&str]) -> String {
        let mut hash = Sha256::new();
        hash.update(self.request_id.as_bytes());
        for part in parts {
            hash.update(b"\n");
            hash.update(part.as_bytes());
        }
        hash.finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_short_stable_and_distinct() {
        let s = Stamp::new(None, api::USERCTL, "req-1");
        let t = s.transaction_token(&["user", "7", "3"]);
        assert_eq!(t.len(), 32);
        assert_eq!(t, s.transaction_token(&["user", "7", "3"]));
        assert_ne!(t, s.transaction_token(&["user", "7", "4"]));
        assert_ne!(
            t,
            Stamp::new(None, api::USERCTL, "req-2").transaction_token(&["user", "7", "3"])
        );
        assert!(!Stamp::new(None, api::NEWM, " ")
            .request_id
            .trim()
            .is_empty());
    }
}
