//! The DynamoDB client, built once per cold start: HTTPS on rustls with the smallest trust store
//! that is sure to work, tight timeouts, and credentials straight from the environment.

use std::time::Duration;

use aws_sdk_dynamodb::Client;

use super::sends::MarkResends;
use crate::config::DynamoDbLocation;

/// The DynamoDB client for this configuration: a local endpoint when one is set (with dummy
/// credentials if none are configured), tight timeouts so a stuck call cannot eat the invocation.
pub async fn dynamodb_client(config: &DynamoDbLocation) -> Client {
    let sdk = sdk_config(config, https_client(config)).await;
    Client::from_conf(client_builder(config, &sdk).build())
}

/// The SDK configuration every client of this location shares (HTTPS, timeouts, credentials),
/// for another AWS client of the same place (the local stream reader builds DynamoDB Streams'
/// from it; set its endpoint with [`DynamoDbLocation::endpoint`]).
pub async fn sdk_config_for(config: &DynamoDbLocation) -> aws_config::SdkConfig {
    sdk_config(config, https_client(config)).await
}

pub(super) fn client_builder(
    config: &DynamoDbLocation,
    sdk: &aws_config::SdkConfig,
) -> aws_sdk_dynamodb::config::Builder {
    // Every client of the store tells a resend's answer from a first one (`super::sends`).
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(MarkResends);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder
}

/// The roots AWS's endpoints in its standard partition chain to (Amazon Trust Services, the trust
/// store AWS documents for its services).
const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../../certs/amazon-trust-services.pem");

/// The HTTPS client: rustls on ring, proxies from the environment (`HTTPS_PROXY`, `NO_PROXY`...)
/// as the SDK's default client does, and the smallest trust store that is sure to work. The
/// system store costs a cold start ~6 ms to read and parse (~140 certificates, BENCHMARKS.md);
/// Amazon Trust Services' five roots are enough whenever TLS can only reach DynamoDB itself.
pub(super) fn https_client(
    config: &DynamoDbLocation,
) -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let trust_store = if amazon_roots_suffice(config, |name| std::env::var(name).ok()) {
        TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
    } else {
        TrustStore::default()
    };
    let context = TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        .expect("a TLS context with a trust store always builds");
    // What aws-smithy-runtime's default_https_client does, with our TLS context.
    aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = aws_smithy_http_client::ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Whether TLS can only ever reach AWS's own DynamoDB endpoint in the standard partition (whose
/// certificates chain to Amazon Trust Services): no proxy, no `https://` endpoint override, and
/// either a plain-HTTP local endpoint (no TLS at all) or a standard region. China, GovCloud, ISO
/// and sovereign partitions, proxies (TLS-inspecting ones included) and other servers get the
/// system store.
fn amazon_roots_suffice(config: &DynamoDbLocation, env: impl Fn(&str) -> Option<String>) -> bool {
    const PROXY_VARIABLES: [&str; 6] = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ];
    let set = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
    if PROXY_VARIABLES.iter().any(|name| set(&env(name))) {
        return false;
    }
    let plain_http = |url: &str| url.trim().to_ascii_lowercase().starts_with("http://");
    let overrides = [
        config.endpoint.clone(),
        env("AWS_ENDPOINT_URL"),
        env("AWS_ENDPOINT_URL_DYNAMODB"),
    ];
    let overrides: Vec<String> = overrides.into_iter().filter(set).flatten().collect();
    if overrides.iter().any(|url| !plain_http(url)) {
        return false;
    }
    !overrides.is_empty() || config.region.as_deref().is_some_and(in_standard_partition)
}

/// `us-east-1`, `eu-central-2`, `ap-southeast-5`...: a region of AWS's standard partition (not
/// `cn-`, `us-gov-`, `us-iso-`, `eusc-`).
fn in_standard_partition(region: &str) -> bool {
    const AREAS: [&str; 9] = ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"];
    let parts: Vec<&str> = region.split('-').collect();
    matches!(parts.as_slice(), [area, direction, number]
        if AREAS.contains(area)
            && !direction.is_empty()
            && direction.bytes().all(|b| b.is_ascii_lowercase())
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit()))
}

pub(super) async fn sdk_config(
    config: &DynamoDbLocation,
    http: aws_sdk_dynamodb::config::SharedHttpClient,
) -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(4))
                .build(),
        )
        // The attempt timeout above already ends a stalled call; the throughput watchdog around
        // every response body costs ~10 % of a call (BENCHMARKS.md) and adds nothing on top.
        .stalled_stream_protection(
            aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
        );
    match (&config.region, &config.endpoint) {
        (Some(region), _) => loader = loader.region(Region::new(region.clone())),
        (None, Some(_)) => loader = loader.region(Region::new("us-east-1")),
        (None, None) => {}
    }
    let env_credentials = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()));
    if env_credentials {
        // Lambda hands the role's credentials over in the environment, the first place the
        // default chain looks; naming that provider skips building the rest of the chain (STS,
        // IMDS, ECS providers), ~0.3 ms of every cold start (BENCHMARKS.md).
        loader = loader.credentials_provider(
            aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new(),
        );
    } else if config.endpoint.is_some() {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-endpoint",
        ));
    }
    loader.load().await
}
#[cfg(test)]
mod tests {
    use super::*;

    fn config_with(region: Option<&str>, endpoint: Option<&str>) -> DynamoDbLocation {
        DynamoDbLocation {
            endpoint: endpoint.map(str::to_owned),
            region: region.map(str::to_owned),
        }
    }

    #[test]
    fn amazon_roots_only_where_tls_can_only_reach_dynamodb_in_the_standard_partition() {
        let none = |_: &str| None;
        let suffice = |region, endpoint| amazon_roots_suffice(&config_with(region, endpoint), none);
        assert!(suffice(Some("us-east-1"), None));
        assert!(suffice(Some("ap-southeast-5"), None));
        assert!(suffice(Some("il-central-1"), None));
        // A local plain-HTTP server: no TLS to verify.
        assert!(suffice(None, Some("http://127.0.0.1:8000")));
        assert!(suffice(Some("cn-north-1"), Some("HTTP://localhost:8000")));
        // Other partitions, unknown regions, HTTPS servers of any kind: the system store.
        for region in [
            "cn-north-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "eusc-de-east-1",
            "local",
        ] {
            assert!(!suffice(Some(region), None), "{region}");
        }
        assert!(!suffice(None, None));
        assert!(!suffice(
            Some("us-east-1"),
            Some("https://vpce-1.dynamodb.us-east-1.vpce.amazonaws.com")
        ));
        // The SDK's own endpoint overrides and proxies count too.
        for (name, value) in [
            ("AWS_ENDPOINT_URL", "https://localstack:4566"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "https://proxy.internal"),
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("http_proxy", "http://proxy:3128"),
            ("ALL_PROXY", "socks5://proxy:1080"),
        ] {
            let env = |n: &str| (n == name).then(|| value.to_owned());
            assert!(
                !amazon_roots_suffice(&config_with(Some("us-east-1"), None), env),
                "{name}"
            );
        }
        let blank = |_: &str| Some("  ".to_owned());
        assert!(amazon_roots_suffice(
            &config_with(Some("us-east-1"), None),
            blank
        ));
    }

    #[test]
    fn the_embedded_amazon_roots_are_five_trust_anchors() {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let certs = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .expect("valid PEM");
        let (valid, invalid) = rustls::RootCertStore::empty().add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (5, 0));
    }
}
