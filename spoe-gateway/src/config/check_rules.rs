//! What a proxy's health check lines say (`option httpchk`, `http-check`, `option
//! tcp-check`, `tcp-check`, read in `proxy/check.rs`), and the backend's [`CheckSpec`] built
//! from it once its section is read.

use bytes::{BufMut, BytesMut};

use crate::model::{CheckSpec, Expect, HttpCheck};

/// What the check lines of a proxy said so far (handed down by `defaults`).
#[derive(Debug, Clone, Default)]
pub(super) struct CheckBuilder {
    /// `option httpchk` is on.
    pub(super) http: bool,
    /// `option redis-check|mysql-check|...` is on (the last check option wins).
    pub(super) proto: Option<crate::proto_check::ProtoCheck>,
    pub(super) meth: Option<String>,
    pub(super) uri: Option<String>,
    pub(super) ver: Option<String>,
    pub(super) hdrs: Vec<(String, String)>,
    pub(super) body: Option<String>,
    pub(super) expects: Vec<Expect>,
    pub(super) port: Option<u16>,
    pub(super) disable_on_404: bool,
    /// `option log-health-checks`.
    pub(super) log_health_checks: bool,
}

impl CheckBuilder {
    /// The backend's checks.
    pub(super) fn build(&self) -> CheckSpec {
        let http = self.http.then(|| {
            std::sync::Arc::new(HttpCheck {
                request: self.request(),
                expects: self.expects.clone(),
            })
        });
        CheckSpec {
            http,
            proto: self.proto.clone().map(std::sync::Arc::new),
            port: self.port,
            disable_on_404: self.disable_on_404,
            log_health_checks: self.log_health_checks,
        }
    }

    /// The request as HAProxy 2.6's HTTP/1 multiplexer writes it: the request line, the
    /// headers in order (names in lower case), `connection: close` from HTTP/1.1 on (unless
    /// a `connection` header was given), `content-length` with a body.
    fn request(&self) -> bytes::Bytes {
        let meth = self.meth.as_deref().unwrap_or("OPTIONS");
        let uri = self.uri.as_deref().unwrap_or("/");
        let ver = self.ver.as_deref().unwrap_or("HTTP/1.0");
        let mut out = BytesMut::new();
        out.put_slice(format!("{meth} {uri} {ver}\r\n").as_bytes());
        let mut connection = false;
        for (name, value) in &self.hdrs {
            let name = name.to_ascii_lowercase();
            connection |= name == "connection";
            out.put_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if !connection && is_http11(ver) {
            out.put_slice(b"connection: close\r\n");
        }
        let body = self.body.as_deref().unwrap_or("");
        if !body.is_empty() {
            out.put_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        out.put_slice(b"\r\n");
        out.put_slice(body.as_bytes());
        out.freeze()
    }
}

/// HAProxy's test for a version at least HTTP/1.1 (or `HTTP/2`).
fn is_http11(ver: &str) -> bool {
    let b = ver.as_bytes();
    (b.len() == 6 && b[5] == b'2')
        || (b.len() == 8 && (b[5] > b'1' || (b[5] == b'1' && b[7] >= b'1')))
}
