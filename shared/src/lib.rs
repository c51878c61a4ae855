//! Everything the endpoint functions share: the user model and its typed values, validation,
//! auth, passwords, the DynamoDB store, errors, and one wire module per API dialect.

pub mod apigw;
pub mod auth;
pub mod config;
pub mod error;
pub mod password;
pub mod runtime;
pub mod store;
pub mod table;
pub mod telemetry;
pub mod user;
pub mod wire;

pub use error::{Error, Result};

/// What every function builds once per cold start.
pub struct AppState {
    pub store: store::Store,
    pub verifier: auth::Verifier,
}

impl AppState {
    pub async fn from_config(config: &config::Config) -> Result<Self, config::ConfigError> {
        let verifier = auth::Verifier::new(&config.jwt)?;
        Ok(Self {
            store: store::Store::connect(config).await,
            verifier,
        })
    }

    pub async fn from_env() -> Result<Self, config::ConfigError> {
        Self::from_config(&config::Config::from_env()?).await
    }
}
