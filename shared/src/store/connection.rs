//! DeviceHive WebSocket connections that authenticated in-band (`authenticate`): who each belongs
//! to, kept in the table so that every Lambda instance answering the connection's messages sees
//! it. The item lives until the token's expiry (TTL) or the connection's `$disconnect`.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{get_n, n, s};
use super::keys::{connection_pk, key, PK, TTL_ATTRIBUTE};
use super::sdk_error::classify;
use super::Store;
use crate::auth::{Principal, LEEWAY_SECONDS};
use crate::authorizer_context::ConnectionPrincipal;
use crate::error::{Error, Result};
use crate::values::UserId;

impl Store {
    /// Binds `who` to the connection, replacing whoever it was bound to.
    pub async fn bind_connection(
        &self,
        connection_id: &str,
        who: &ConnectionPrincipal,
    ) -> Result<()> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(connection_pk(connection_id)))
            .item("user_id", n(who.principal.user_id))
            .item("token_exp", n(who.expires_at))
            .item("auth_at", n(who.principal.authenticated_at))
            .item(TTL_ATTRIBUTE, n(who.expires_at + LEEWAY_SECONDS as i64));
        if !who.principal.roles.is_empty() {
            request = request.item(
                "roles",
                AttributeValue::Ss(who.principal.roles.iter().cloned().collect()),
            );
        }
        request.send().await.map_err(classify)?;
        Ok(())
    }

    /// Who the connection authenticated as in-band, if it did (its token may have expired since:
    /// the caller checks, as TTL deletion lags).
    pub async fn connection(&self, connection_id: &str) -> Result<Option<ConnectionPrincipal>> {
        let Some(item) = self.item(connection_pk(connection_id)).await? else {
            return Ok(None);
        };
        let corrupt =
            || Error::Internal("connection item without a valid user_id or token_exp".into());
        let user_id = get_n(&item, "user_id")
            .and_then(|id| UserId::new(id).ok())
            .ok_or_else(corrupt)?;
        let expires_at = get_n(&item, "token_exp").ok_or_else(corrupt)?;
        let roles: BTreeSet<String> = match item.get("roles") {
            Some(AttributeValue::Ss(r)) => r.iter().cloned().collect(),
            _ => BTreeSet::new(),
        };
        Ok(Some(ConnectionPrincipal {
            principal: Principal {
                user_id,
                roles,
                authenticated_at: get_n(&item, "auth_at").unwrap_or(0),
            },
            expires_at,
        }))
    }

    /// Forgets the connection (its `$disconnect`). Nothing to forget is not an error.
    pub async fn unbind_connection(&self, connection_id: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(connection_pk(connection_id))))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
