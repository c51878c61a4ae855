//! Unleash `PUT /api/admin/user-admin/{id}`: the handler, and the Unleash dialect it speaks.

pub mod dialect;
mod handler;

pub use handler::{handle, ROUTES};
