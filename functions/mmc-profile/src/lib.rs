//! Work in progress.
use lambda_http::{Body, Request, Response};
use shared::AppState;

pub const ROUTES: &[shared::apigw::Route] = &[];

pub async fn handle(_state: &AppState, _req: Request) -> Response<Body> {
    shared::apigw::empty_response(501)
}
