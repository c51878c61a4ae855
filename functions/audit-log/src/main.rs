#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_json(audit_log::Audit::from_env(), |audit, event| async move {
        Ok(audit.handle(event).await)
    })
    .await
}
