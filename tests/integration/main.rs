//! Every test that needs the DynamoDB-protocol test server (moto over HTTP), in one binary: the
//! store, each function's handler in-process, and end to end through `userctl serve` and the
//! `userctl` CLI. One module per concern; one link of the AWS SDK for all of them.

/// The `userctl` CLI, built by cargo beside this test from the same library as the real binary.
const USERCTL: &str = env!("CARGO_BIN_EXE_userctl-under-test");

mod audit;
mod cli;
mod clients;
mod contract;
mod events;
mod faults;
mod handlers;
mod http;
mod jwks;
mod round_trips;
mod security;
mod store;
mod websocket;
