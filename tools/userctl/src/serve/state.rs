//! What the functions build at cold start, built once here and shared by every route.

use shared::AppState;

pub struct State {
    pub app: AppState,
    /// MMC's own configuration (its plugin switch).
    pub mmc: mmc_profile::Settings,
    /// The DeviceHive `$connect` authorizer.
    pub authorizer: devicehive_authorizer::Authorizer,
    /// DeviceHive's own configuration (where its two APIs are).
    pub devicehive: devicehive_user_update::Settings,
    /// The audit log, fed by the users table's stream.
    pub audit: audit_log::Audit,
}

impl State {
    /// Built from the environment, as each function's cold start does. The audit table defaults
    /// to the user table's name with `-audit` (`userctl create-table` makes both).
    pub async fn from_env(audit_table: String) -> Result<Self, String> {
        Ok(Self {
            audit: audit_log::Audit::from_env_or(Some(audit_table))
                .await
                .map_err(|e| e.to_string())?,
            devicehive: devicehive_user_update::Settings::from_env().map_err(|e| e.to_string())?,
            app: AppState::from_env().await.map_err(|e| e.to_string())?,
            mmc: mmc_profile::Settings::from_env().map_err(|e| e.to_string())?,
            authorizer: devicehive_authorizer::Authorizer::from_env()
                .await
                .map_err(|e| e.to_string())?,
        })
    }
}
