//! NEWM `PATCH /v1/users/me` and `/v1/users/{userId}`: the handler, and the NEWM dialect it speaks.

pub mod dialect;
mod handler;

pub use handler::{handle, ROUTES};
