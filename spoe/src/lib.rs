//! The Stream Processing Offload Engine (SPOE): the side of SPOP that sends
//! NOTIFY frames to agents and applies their answers.
//!
//! The engine itself is not built yet. This crate currently holds the pieces
//! of HAProxy's configuration language that other parts already share:
//! [`duration`], HAProxy's time units.

#![warn(missing_docs)]

pub mod duration;
