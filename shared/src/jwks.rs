//! An issuer's JSON Web Key Set (`JWT_JWKS_URL`), fetched once per cold start, so that Cognito or
//! any OpenID Connect provider signs the tokens and no function holds a key that can. The fetch
//! goes through the HTTPS client the DynamoDB client is built on (rustls, the system's trust
//! store): no second HTTP stack in the binaries.

use std::time::Duration;

use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use jsonwebtoken::jwk::JwkSet;

/// Why the key set could not be had (the configuration names the variable).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JwksError(String);

/// The whole fetch, connection included: a cold start that cannot get the keys fails rather
/// than hangs (Lambda then retries the init).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A key set is a few kilobytes; anything much larger is not one.
const MAX_BYTES: usize = 256 * 1024;

fn invalid(reason: impl Into<String>) -> JwksError {
    JwksError(reason.into())
}

/// Whether `url` may be fetched: HTTPS, or plain HTTP to this machine (a local issuer in tests).
pub fn check_url(url: &str) -> Result<(), JwksError> {
    let parsed = url::Url::parse(url).map_err(|e| invalid(format!("not a URL: {e}")))?;
    let loopback = matches!(
        parsed.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(invalid("must be an https:// URL")),
    }
}

/// The key set at `url`.
pub async fn fetch(url: &str) -> Result<JwkSet, JwksError> {
    check_url(url)?;
    let bytes = tokio::time::timeout(FETCH_TIMEOUT, get(url))
        .await
        .map_err(|_| invalid(format!("no answer within {FETCH_TIMEOUT:?}")))??;
    serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not a JSON Web Key Set: {e}")))
}

async fn get(url: &str) -> Result<Vec<u8>, JwksError> {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::default())
        .build()
        .map_err(|e| invalid(format!("TLS setup: {e}")))?;
    let connector = aws_smithy_http_client::Connector::builder()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build();
    let mut request = HttpRequest::new(SdkBody::empty());
    request
        .set_uri(url)
        .map_err(|e| invalid(format!("not a URL: {e}")))?;
    let response = connector
        .call(request)
        .await
        .map_err(|e| invalid(format!("fetch failed: {e}")))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(invalid(format!("answered HTTP {status}")));
    }
    let body = ByteStream::new(response.into_body())
        .collect()
        .await
        .map_err(|e| invalid(format!("reading the answer: {e}")))?
        .into_bytes();
    if body.len() > MAX_BYTES {
        return Err(invalid(format!("the answer is over {MAX_BYTES} bytes")));
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_a_local_issuer() {
        assert!(check_url(
            "https://cognito-idp.eu-west-1.amazonaws.com/pool/.well-known/jwks.json"
        )
        .is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks.json").is_ok());
        assert!(check_url("http://localhost/jwks.json").is_ok());
        for bad in [
            "http://issuer.example/jwks.json",
            "ftp://x/y",
            "jwks.json",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad} accepted");
        }
    }
}
