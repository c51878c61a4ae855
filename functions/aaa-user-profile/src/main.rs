#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_http(shared::AppState::from_env(), aaa_user_profile::handle).await
}
