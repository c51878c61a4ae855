//! DeviceHive's user API over both of its transports: the WebSocket API's messages
//! (`handler`, the `devicehive-user-update` binary) and the REST API (`rest`, the `devicehive-rest`
//! binary), with one dialect and one set of rules (`users`) between them.

pub mod dialect;
mod handler;
pub mod rest;
mod users;

pub use handler::{handle, Settings};
