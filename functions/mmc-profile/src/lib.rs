//! Mosquitto Management Center `PUT /api/profile/{userName}`: the handler, and the MMC dialect it
//! speaks.

pub mod dialect;
mod handler;

pub use handler::{handle, Settings, ROUTES};
