//! TLS on `bind` lines and towards servers ([`upstream`]), with rustls: HAProxy's keywords as settings
//! ([`settings`]), OpenSSL's names ([`names`]) and cipher strings (`cipher_string`), PEM files as HAProxy reads
//! them ([`certs`]), the certificate chosen by SNI and the configuration of
//! a listener ([`bind`]), and what a handshake established ([`facts`], into
//! `spoe-http`'s `TlsFacts`, which the `ssl_*` fetches read).
//!
//! ```text
//!  haproxy.cfg words ──> TlsOptions / BindTlsSpec ──(files read: load)──> TlsBind
//!  client hello ──> TlsBind::select (SNI, key types) ──> rustls ServerConfig ──> facts::of
//! ```
//!
//! Does not do: TLS 1.0/1.1, the suites rustls lacks (DHE, CBC, CCM, ARIA, Camellia...: a
//! cipher string selecting only those is refused), OCSP stapling (each is refused by name where
//! the configuration asks for it).

pub mod bind;
pub mod certs;
pub(crate) mod cipher_string;
pub mod facts;
pub mod names;
pub mod settings;
pub mod upstream;

pub use bind::{TlsBind, TlsConfigError};
pub use settings::{BindTlsSpec, CrtSpec, SniFilter, TlsOptions, TlsTunes, Verify};
pub use upstream::{EvaluatedSni, ServerTlsSpec, UpstreamTls};
