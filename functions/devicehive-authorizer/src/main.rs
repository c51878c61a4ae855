#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_json(
        devicehive_authorizer::Authorizer::from_env(),
        |state, event| async move {
            // API Gateway turns exactly this error message into a 401 for the WebSocket handshake.
            state.authorize(&event).map_err(|_| "Unauthorized".into())
        },
    )
    .await
}
