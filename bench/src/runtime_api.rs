//! A local Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`): hands a function process its events,
//! one per `GET /runtime/invocation/next`, and records what the process posts back
//! (`/invocation/{id}/response` or `/invocation/{id}/error`, or `/init/error`). Used by the cold
//! start benchmark and by the deploy check (tests/src/bin/deploy-check.rs), which runs the arm64
//! `bootstrap` files `sam build` produced.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the process posted back.
#[derive(Debug, Clone)]
pub struct Posted {
    pub at: Instant,
    /// The request path, e.g. `/2018-06-01/runtime/invocation/req-1/response`.
    pub path: String,
    pub body: Bytes,
}

impl Posted {
    /// An invocation's answer (`/invocation/{id}/response`).
    pub fn is_response(&self) -> bool {
        self.path.ends_with("/response")
    }

    /// An invocation's error (`/invocation/{id}/error`: the handler failed or panicked).
    pub fn is_invocation_error(&self) -> bool {
        self.path.contains("/invocation/") && self.path.ends_with("/error")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct Shared {
    /// Events not yet handed out; a `next` waits here as Lambda's does.
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
    first_next: Mutex<Option<Instant>>,
    next_id: Mutex<u64>,
}

/// One emulator, for one process at a time. Stops serving when dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<String>,
    posted: mpsc::UnboundedReceiver<Posted>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Listens on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (queue, events) = mpsc::unbounded_channel();
        let (post, posted) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(events),
            first_next: Mutex::new(None),
            next_id: Mutex::new(0),
        });
        let server = {
            let shared = shared.clone();
            tokio::spawn(crate::serve_http1(listener, move |req| {
                handle(shared.clone(), post.clone(), req)
            }))
        };
        Ok(Self {
            addr,
            shared,
            queue,
            posted,
            server,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an event for the next `next`.
    pub fn push(&self, event: String) {
        let _ = self.queue.send(event);
    }

    /// When the process first asked for an event (the end of its init).
    pub fn first_next(&self) -> Option<Instant> {
        *self.shared.first_next.lock().unwrap()
    }

    /// The next thing the process posts, or `None` after `timeout`.
    pub async fn posted(&mut self, timeout: Duration) -> Option<Posted> {
        tokio::time::timeout(timeout, self.posted.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    shared: Arc<Shared>,
    post: mpsc::UnboundedSender<Posted>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/runtime/invocation/next") {
        shared
            .first_next
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        let Some(event) = shared.events.lock().await.recv().await else {
            return status(503);
        };
        let id = {
            let mut n = shared.next_id.lock().unwrap();
            *n += 1;
            format!("req-{n}")
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 30_000;
        return hyper::Response::builder()
            .header("lambda-runtime-aws-request-id", id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:local",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(event)))
            .unwrap();
    }
    let body = crate::body_bytes(req).await;
    let _ = post.send(Posted {
        at: Instant::now(),
        path,
        body,
    });
    status(202)
}

fn status(code: u16) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(code)
        .body(Full::new(Bytes::new()))
        .unwrap()
}
