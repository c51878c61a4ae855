use devicehive_user_update::Settings;
use shared::AppState;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let init = async { Ok((AppState::from_env().await?, Settings::from_env()?)) };
    shared::runtime::run_http(init, |(app, settings), req| {
        devicehive_user_update::rest::handle(app, settings, req)
    })
    .await
}
