//! The audit trail: every change of a user, read from the users table's stream (insert,
//! modification, removal), recorded once in the audit table with who made it (the stamp the write
//! left), through which API, for which request, and what changed.

mod handler;
pub mod record;

pub use handler::{Audit, DEFAULT_RETENTION_DAYS, IN_FLIGHT};
