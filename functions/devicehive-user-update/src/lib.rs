//! DeviceHive's WebSocket messages (`user/update`, and DeviceHive's answer to any other action):
//! the route handler, and the DeviceHive dialect it speaks.

pub mod dialect;
mod handler;

pub use handler::handle;
