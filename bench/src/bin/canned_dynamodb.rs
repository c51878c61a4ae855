//! `canned-dynamodb --port N`: the canned DynamoDB over HTTP, for `userctl serve` throughput runs.

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .skip_while(|a| a != "--port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8001);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the canned DynamoDB port");
    println!("canned DynamoDB on http://127.0.0.1:{port}");
    bench::serve_canned(listener).await;
}
