//! What two or more of the functions share: the typed values and the user, the patch, auth,
//! password hashing, the error enum, the directory's write policy, configuration, the cold start, logs, the table definition,
//! the DynamoDB store, API Gateway plumbing, and the DeviceHive authorizer's context. Each API's
//! dialect lives in its own function crate.

pub mod apigw;
pub mod auth;
pub mod authorizer_context;
pub mod config;
pub mod error;
pub mod jwks;
pub mod password;
pub mod patch;
pub mod policy;
pub mod runtime;
pub mod stamp;
pub mod store;
pub mod table;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod user;
pub mod values;

pub use error::{Error, Result};

/// What every function builds once per cold start.
pub struct AppState {
    pub store: store::Store,
    pub verifier: auth::Verifier,
}

impl AppState {
    pub async fn from_config(config: &config::Config) -> Result<Self, config::ConfigError> {
        let verifier = auth::Verifier::connect(&config.jwt).await?;
        Ok(Self {
            store: store::Store::connect(config).await,
            verifier,
        })
    }

    pub async fn from_env() -> Result<Self, config::ConfigError> {
        Self::from_config(&config::Config::from_env()?).await
    }
}
