#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_json(shared::AppState::from_env(), |state, event| async move {
        Ok(devicehive_user_update::handle(state, event).await)
    })
    .await
}
