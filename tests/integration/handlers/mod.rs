//! Each function's handler in-process against the test server: every status its document lists,
//! every refusal, and that a refused request writes nothing.

mod aaa;
mod devicehive;
mod mmc;
mod newm;
mod unleash;
