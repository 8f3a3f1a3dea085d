//! Tests of what configurations lower to (the model is the gateway's own, so they live here),
//! and of the gateway's verdicts beside HAProxy 2.6's on the same files.

mod environment;
mod every_option;
mod haproxy_agrees;
mod keywords;
mod model;
mod server_state;
mod servers;
mod spop_mode;
mod tls;
