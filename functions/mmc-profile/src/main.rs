#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_http(mmc_profile::State::from_env(), mmc_profile::handle).await
}
