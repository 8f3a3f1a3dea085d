//! HAProxy's Lua API.
#![warn(missing_docs)]

mod exec;
pub mod host;
mod value;
