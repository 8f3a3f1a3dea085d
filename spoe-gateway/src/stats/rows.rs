//! One line of statistics per frontend, backend and server: HAProxy's
//! `stats_fill_fe_stats` / `_be_` / `_sv_` output, a value per [`Field`]
//! (empty where HAProxy leaves it empty). Every view (the Prometheus
//! exporter, a CSV, `show stat`) reads these.

use super::counters::CheckStatus;
use super::fields::Field;

/// What a line describes (HAProxy's `type` field: 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjType {
    /// A frontend (`svname` `FRONTEND`).
    Frontend,
    /// A backend (`svname` `BACKEND`).
    Backend,
    /// A server of a backend.
    Server,
}

impl ObjType {
    /// HAProxy's number for it (`type` column).
    pub const fn code(self) -> u64 {
        match self {
            Self::Frontend => 0,
            Self::Backend => 1,
            Self::Server => 2,
        }
    }
}

/// One field's value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// No value (an empty CSV cell; `NaN` in Prometheus).
    #[default]
    Empty,
    /// An unsigned number.
    U64(u64),
    /// A signed number (`lastsess` is -1 when never).
    S64(i64),
    /// Text (`status`, `mode`, `check_status`...).
    Str(String),
}

impl Value {
    /// The value as a number, if it is one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Self::U64(v) => Some(*v as f64),
            Self::S64(v) => Some(*v as f64),
            Self::Empty | Self::Str(_) => None,
        }
    }
}

impl std::fmt::Display for Value {
    /// As a CSV cell.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => Ok(()),
            Self::U64(v) => write!(f, "{v}"),
            Self::S64(v) => write!(f, "{v}"),
            Self::Str(s) => f.write_str(s),
        }
    }
}

/// A server's state as the Prometheus exporter labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerState {
    /// Down (failed its checks).
    Down,
    /// Up (or without checks).
    #[default]
    Up,
}

/// One line: a frontend, a backend or a server.
#[derive(Debug, Clone)]
pub struct Row {
    /// What it describes.
    pub obj: ObjType,
    /// Whether the proxy is in `mode http` (HTTP fields are left out of
    /// other proxies' Prometheus families, as HAProxy does).
    pub http: bool,
    /// A server's state, or a backend's (up when it has a usable server or
    /// no server at all).
    pub state: ServerState,
    /// A server's last check, when it has `check`.
    pub check: Option<CheckStatus>,
    values: Vec<Value>,
}

impl Row {
    /// An empty line for `obj` of `proxy` (`svname` as HAProxy writes it:
    /// `FRONTEND`, `BACKEND` or the server's name).
    pub fn new(obj: ObjType, proxy: &str, svname: &str, http: bool) -> Self {
        let mut row = Self {
            obj,
            http,
            state: ServerState::Up,
            check: None,
            values: vec![Value::Empty; Field::ALL.len()],
        };
        row.set(Field::Pxname, Value::Str(proxy.to_owned()));
        row.set(Field::Svname, Value::Str(svname.to_owned()));
        row.set(Field::Type, Value::U64(obj.code()));
        row.set(
            Field::Mode,
            Value::Str(if http { "http" } else { "tcp" }.to_owned()),
        );
        row
    }

    /// Sets a field.
    pub fn set(&mut self, field: Field, value: Value) {
        self.values[field as usize] = value;
    }

    /// Sets a field to a number.
    pub fn num(&mut self, field: Field, value: u64) {
        self.set(field, Value::U64(value));
    }

    /// A field's value.
    pub fn get(&self, field: Field) -> &Value {
        &self.values[field as usize]
    }

    /// The proxy's name.
    pub fn proxy(&self) -> &str {
        match self.get(Field::Pxname) {
            Value::Str(s) => s,
            _ => "",
        }
    }

    /// `FRONTEND`, `BACKEND`, or the server's name.
    pub fn svname(&self) -> &str {
        match self.get(Field::Svname) {
            Value::Str(s) => s,
            _ => "",
        }
    }

    /// The line as HAProxy's CSV writes it: the fields, then the extra modules' columns
    /// ([`EXTRA_COLUMNS`]: empty, the gateway does not count by protocol), each cell
    /// followed by a comma.
    pub fn csv(&self) -> String {
        let mut line = String::new();
        for v in &self.values {
            line.push_str(&v.to_string());
            line.push(',');
        }
        line.push_str("-,");
        for _ in EXTRA_COLUMNS {
            line.push(',');
        }
        line
    }
}

/// The columns HAProxy 2.6's extra statistics modules (SSL, HTTP/2, HTTP/1) add after the
/// fields and a `-` column. The gateway has no such per-protocol counters: its cells are
/// empty (no value), never a made-up zero.
pub const EXTRA_COLUMNS: &[&str] = &[
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// HAProxy 2.6's CSV header line (`# pxname,svname,...,-,ssl_sess,...,`), as `show stat`
/// and the stats page's `;csv` print it.
pub fn csv_header() -> String {
    let mut line = String::from("# ");
    for name in Field::ALL
        .iter()
        .map(|f| f.name())
        .chain(["-"])
        .chain(EXTRA_COLUMNS.iter().copied())
    {
        line.push_str(name);
        line.push(',');
    }
    line
}

/// The CSV document of `rows`: the header and a line per row, each ending in a newline.
pub fn csv_document(rows: &[Row]) -> String {
    let mut out = csv_header();
    out.push('\n');
    for row in rows {
        out.push_str(&row.csv());
        out.push('\n');
    }
    out
}
