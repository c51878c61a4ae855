//! API Gateway plumbing shared by the functions: HTTP API (payload 2.0) requests and responses,
//! and WebSocket API events, side by side.

pub mod http;
pub mod websocket;
