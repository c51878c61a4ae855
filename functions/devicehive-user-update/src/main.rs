use devicehive_user_update::Settings;
use shared::AppState;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let init = async { Ok((AppState::from_env().await?, Settings::from_env()?)) };
    shared::runtime::run_json(init, |(app, settings), event| async move {
        Ok(devicehive_user_update::handle(app, settings, event).await)
    })
    .await
}
