#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_http(shared::AppState::from_env(), newm_patch_user::handle).await
}
