//! A fault-injecting proxy between the store and the DynamoDB-protocol test server, for tests
//! and the soak: it forwards each request, or answers it with a fault, as programmed per
//! operation and per call (or at random, at a rate). Production code does not know it exists: a
//! store reaches it through `DYNAMODB_ENDPOINT` like any other endpoint.
//!
//! Faults: DynamoDB's throttling answers, its 500, a delay past the SDK's attempt timeout (the
//! request is forwarded late: it may commit after the client gave up), forward-then-drop (the
//! write commits and its answer is lost) and a connection reset (nothing forwarded). It can also
//! emulate DynamoDB's `ClientRequestToken` on `TransactWriteItems`, which moto ignores: a repeat
//! of a committed transaction with the same token is answered as a success without being
//! forwarded, the same token with other parameters is `IdempotentParameterMismatchException`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

/// What the proxy can do to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// 400 `ProvisionedThroughputExceededException`.
    ProvisionedThroughputExceeded,
    /// 400 `ThrottlingException`.
    Throttling,
    /// 500 `InternalServerError`.
    InternalServerError,
    /// Held past the SDK's 2 s attempt timeout, then forwarded.
    Delay,
    /// Forwarded (it commits), then the connection is dropped without an answer.
    ForwardThenDrop,
    /// The connection is dropped at once; nothing is forwarded.
    Reset,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::ProvisionedThroughputExceeded,
        Fault::Throttling,
        Fault::InternalServerError,
        Fault::Delay,
        Fault::ForwardThenDrop,
        Fault::Reset,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::ProvisionedThroughputExceeded => "throughput-exceeded",
            Fault::Throttling => "throttling",
            Fault::InternalServerError => "internal-server-error",
            Fault::Delay => "delay",
            Fault::ForwardThenDrop => "forward-then-drop",
            Fault::Reset => "reset",
        }
    }

    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// How long a delayed call is held: past the SDK's attempt timeout (2 s), within its operation
/// timeout (4 s).
pub const DELAY: Duration = Duration::from_millis(2600);

struct Rule {
    op: String,
    skip: usize,
    times: usize,
    fault: Fault,
}

#[derive(Default)]
struct Plan {
    rules: Vec<Rule>,
    /// Random faults: the probability of one per call, the kinds drawn from, and the generator.
    rate: Option<(f64, Vec<Fault>, u64)>,
    /// Only these operations get random faults (all when empty).
    rate_ops: Vec<String>,
    emulate_tokens: bool,
    /// `ClientRequestToken` -> (the request's fingerprint, when it committed).
    committed: HashMap<String, ([u8; 32], Instant)>,
    calls: BTreeMap<String, usize>,
    injected: BTreeMap<String, usize>,
    /// Run once, after the next forward-then-drop call landed and before its answer is lost.
    interleave: Option<Interleaved>,
    /// Run once, before the call of an operation they name (after skipping that many) is
    /// forwarded.
    before: Vec<(String, usize, Interleaved)>,
}

type Interleaved = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// What went through the proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Calls per DynamoDB operation.
    pub calls: BTreeMap<String, usize>,
    /// Faults injected, by kind.
    pub injected: BTreeMap<String, usize>,
}

pub struct FaultProxy {
    endpoint: String,
    plan: Arc<Mutex<Plan>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    pub async fn start(upstream: &str) -> FaultProxy {
        Self::start_on(upstream, 0).await
    }

    pub async fn start_on(upstream: &str, port: u16) -> FaultProxy {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .expect("bind the fault proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let plan = Arc::new(Mutex::new(Plan::default()));
        let upstream = upstream.trim_end_matches('/').to_owned();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(16)
            .build()
            .expect("an HTTP client");
        let shared = plan.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (plan, client, upstream) = (shared.clone(), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        handle(plan.clone(), client.clone(), upstream.clone(), req)
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            endpoint,
            plan,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The `times` calls of operation `op` (`UpdateItem`, `TransactWriteItems`, ...) that come
    /// after the next `skip` get `fault`.
    pub fn inject(&self, op: &str, skip: usize, times: usize, fault: Fault) {
        self.plan.lock().unwrap().rules.push(Rule {
            op: op.to_owned(),
            skip,
            times,
            fault,
        });
    }

    /// Every call (of `ops`, or of any operation when empty) gets a fault with probability
    /// `rate`, its kind drawn from `kinds`; `seed` makes the sequence repeatable.
    pub fn set_rate(&self, rate: f64, kinds: &[Fault], ops: &[&str], seed: u64) {
        let mut plan = self.plan.lock().unwrap();
        plan.rate = Some((rate, kinds.to_vec(), seed.max(1)));
        plan.rate_ops = ops.iter().map(|o| o.to_string()).collect();
    }

    /// `write` runs once, after the next forward-then-drop call landed and before its answer
    /// is lost: another client's write slipping in between a write and the SDK's resend of it.
    pub fn interleave(&self, write: impl std::future::Future<Output = ()> + Send + 'static) {
        self.plan.lock().unwrap().interleave = Some(Box::pin(write));
    }

    /// `write` runs once, before the call of `op` that comes after the next `skip` is
    /// forwarded: another client's write slipping in between two calls of one request.
    pub fn before(
        &self,
        op: &str,
        skip: usize,
        write: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.plan
            .lock()
            .unwrap()
            .before
            .push((op.to_owned(), skip, Box::pin(write)));
    }

    /// Emulates DynamoDB's `ClientRequestToken` on `TransactWriteItems` (moto ignores it).
    pub fn emulate_request_tokens(&self, on: bool) {
        self.plan.lock().unwrap().emulate_tokens = on;
    }

    /// No more faults (what was counted stays).
    pub fn clear(&self) {
        let mut plan = self.plan.lock().unwrap();
        plan.rules.clear();
        plan.rate = None;
    }

    pub fn stats(&self) -> Stats {
        let plan = self.plan.lock().unwrap();
        Stats {
            calls: plan.calls.clone(),
            injected: plan.injected.clone(),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// xorshift64*: enough randomness to spread faults, and repeatable from a seed.
fn next_random(state: &mut u64) -> f64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
}

/// Which fault, if any, this call of `op` gets; counts the call.
fn decide(plan: &mut Plan, op: &str) -> Option<Fault> {
    *plan.calls.entry(op.to_owned()).or_default() += 1;
    let mut chosen = None;
    for rule in plan.rules.iter_mut().filter(|r| r.op == op && r.times > 0) {
        if rule.skip > 0 {
            rule.skip -= 1;
            continue;
        }
        rule.times -= 1;
        chosen = Some(rule.fault);
        break;
    }
    plan.rules.retain(|r| r.times > 0);
    if chosen.is_none() && (plan.rate_ops.is_empty() || plan.rate_ops.iter().any(|o| o == op)) {
        if let Some((rate, kinds, state)) = plan.rate.as_mut() {
            if !kinds.is_empty() && next_random(state) < *rate {
                let i = (next_random(state) * kinds.len() as f64) as usize;
                chosen = Some(kinds[i.min(kinds.len() - 1)]);
            }
        }
    }
    if let Some(f) = chosen {
        *plan.injected.entry(f.name().to_owned()).or_default() += 1;
    }
    chosen
}

fn dynamodb_error(status: u16, kind: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    let body = serde_json::json!({"__type": kind, "message": message}).to_string();
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", uuid::Uuid::new_v4().to_string())
        .body(Full::new(Bytes::from(body)))
        .expect("static response")
}

/// The connection is dropped: the service fails, and hyper closes the connection unanswered.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    plan: Arc<Mutex<Plan>>,
    client: reqwest::Client,
    upstream: String,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let op = target.rsplit('.').next().unwrap_or("").to_owned();
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();

    if parts.uri.path() == "/__fault-proxy/stats" {
        let stats = {
            let plan = plan.lock().unwrap();
            Stats {
                calls: plan.calls.clone(),
                injected: plan.injected.clone(),
            }
        };
        return Ok(hyper::Response::new(Full::new(Bytes::from(
            serde_json::to_string(&stats).unwrap(),
        ))));
    }

    let before = {
        let mut plan = plan.lock().unwrap();
        let mut due = None;
        for (i, (hooked, skip, _)) in plan.before.iter_mut().enumerate() {
            if *hooked == op {
                if *skip == 0 {
                    due = Some(i);
                } else {
                    *skip -= 1;
                }
                break;
            }
        }
        due.map(|i| plan.before.remove(i).2)
    };
    if let Some(write) = before {
        write.await;
    }

    let (fault, emulate_tokens) = {
        let mut plan = plan.lock().unwrap();
        (decide(&mut plan, &op), plan.emulate_tokens)
    };
    match fault {
        Some(Fault::ProvisionedThroughputExceeded) => {
            return Ok(dynamodb_error(
                400,
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            ))
        }
        Some(Fault::Throttling) => {
            return Ok(dynamodb_error(
                400,
                "com.amazon.coral.availability#ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
            ))
        }
        Some(Fault::InternalServerError) => {
            return Ok(dynamodb_error(
                500,
                "com.amazon.coral.service#InternalServerError",
                "Internal server error",
            ))
        }
        Some(Fault::Reset) => return Err(Dropped),
        Some(Fault::Delay) => tokio::time::sleep(DELAY).await,
        Some(Fault::ForwardThenDrop) | None => {}
    }

    let token = (emulate_tokens && op == "TransactWriteItems")
        .then(|| request_token(&body))
        .flatten();
    if let Some((token, fingerprint)) = &token {
        let mut plan = plan.lock().unwrap();
        let now = Instant::now();
        plan.committed
            .retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(600));
        if let Some((seen, _)) = plan.committed.get(token) {
            // DynamoDB's own answer to a repeated token: applied once, answered again.
            let repeat = if seen == fingerprint {
                hyper::Response::builder()
                    .status(200)
                    .header("content-type", "application/x-amz-json-1.0")
                    .body(Full::new(Bytes::from_static(b"{}")))
                    .expect("static response")
            } else {
                dynamodb_error(
                    400,
                    "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                    "The request uses the same client token as a previous, but non-identical request.",
                )
            };
            drop(plan);
            return if fault == Some(Fault::ForwardThenDrop) {
                Err(Dropped)
            } else {
                Ok(repeat)
            };
        }
    }

    let mut forward = client
        .request(parts.method.clone(), format!("{upstream}{}", parts.uri))
        .body(body.clone());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.send().await.map_err(|_| Dropped)?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.map_err(|_| Dropped)?;
    if let (Some((token, fingerprint)), true) = (token, status.is_success()) {
        plan.lock()
            .unwrap()
            .committed
            .insert(token, (fingerprint, Instant::now()));
    }
    if fault == Some(Fault::ForwardThenDrop) {
        let interleaved = plan.lock().unwrap().interleave.take();
        if let Some(write) = interleaved {
            write.await;
        }
        return Err(Dropped);
    }
    let mut response = hyper::Response::builder().status(status.as_u16());
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            response = response.header(name, value);
        }
    }
    Ok(response
        .body(Full::new(bytes))
        .expect("a copied response is valid"))
}

/// A transaction's `ClientRequestToken` and a fingerprint of the whole request.
fn request_token(body: &[u8]) -> Option<(String, [u8; 32])> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let token = value.get("ClientRequestToken")?.as_str()?.to_owned();
    Some((token, Sha256::digest(body).into()))
}
