//! Answers `200 ok`, or panics in the handler when the request body is `panic`. scripts/deploy-check
//! runs it, built by `cargo lambda build --release --arm64` as `sam build` builds the functions,
//! and checks what the Lambda runtime sees: under `panic = "unwind"` the invocation gets an error
//! and the same process answers the next one; under `"abort"` the process dies.

use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|req: Request| async move {
        if matches!(req.body(), Body::Text(t) if t == "panic") {
            panic!("panic-probe: a handler panic, on request");
        }
        Ok::<_, Error>(Response::new(Body::Text("ok".into())))
    }))
    .await
}
