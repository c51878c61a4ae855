//! AAA `PUT /api/AAA/UserProfiles/{id}`: the handler, the AAA dialect it speaks, and AAA's
//! preference and property upserts.

pub mod dialect;
mod handler;
pub mod merge;

pub use handler::{handle, ROUTES};
