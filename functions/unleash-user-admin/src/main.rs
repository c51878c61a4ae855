#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_http(shared::AppState::from_env(), unleash_user_admin::handle).await
}
