//! `fault-proxy --upstream URL [--port N] [--rate R] [--faults a,b,...] [--seed S] [--emulate-tokens]`:
//! the test kit's fault-injecting proxy as a process, for the soak (`scripts/soak`). Prints its
//! endpoint, then serves until killed; `GET /__fault-proxy/stats` answers the calls and the faults
//! injected so far, as JSON.

use testkit::fault_proxy::{Fault, FaultProxy};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(upstream) = value("--upstream") else {
        eprintln!("usage: fault-proxy --upstream URL [--port N] [--rate R] [--faults a,b] [--seed S] [--emulate-tokens]");
        return std::process::ExitCode::FAILURE;
    };
    let port: u16 = value("--port").and_then(|p| p.parse().ok()).unwrap_or(0);
    let rate: f64 = value("--rate").and_then(|r| r.parse().ok()).unwrap_or(0.0);
    let seed: u64 = value("--seed").and_then(|s| s.parse().ok()).unwrap_or(1);
    let faults: Vec<Fault> = match value("--faults") {
        None => Fault::ALL.to_vec(),
        Some(list) => {
            let parsed: Option<Vec<Fault>> = list.split(',').map(Fault::parse).collect();
            let Some(parsed) = parsed else {
                eprintln!(
                    "fault-proxy: unknown fault in {list:?}; known: {}",
                    Fault::ALL.map(Fault::name).join(", ")
                );
                return std::process::ExitCode::FAILURE;
            };
            parsed
        }
    };
    let emulate = args.iter().any(|a| a == "--emulate-tokens");
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async move {
            let proxy = FaultProxy::start_on(&upstream, port).await;
            proxy.emulate_request_tokens(emulate);
            if rate > 0.0 {
                proxy.set_rate(rate, &faults, &[], seed);
            }
            println!("{}", proxy.endpoint());
            std::future::pending::<()>().await;
        });
    std::process::ExitCode::SUCCESS
}
