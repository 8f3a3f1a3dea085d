//! HAProxy's sample-expression and ACL language, shared by `spoe.conf` (`args`, `acl`,
//! `event ... if COND`) and the gateway's `haproxy.cfg`.
//!
//! ```text
//!   Word "req.hdr(host),lower"  ── SampleExpr::parse ──> SampleExpr { fetch: ReqHdr{host}, [Lower] }
//!                                                             │ eval(&host)
//!   host: impl Fetch  <── fetch(&FetchKind) ─────────────────┘──> Option<Sample> ──> TypedData
//!
//!   acl NAME CRITERION [flags] PATTERNS  ── AclSet::parse_acl ──> AclSet
//!   if|unless [!]NAME ... [or ...] { anonymous }  ── Condition::parse ──> Condition
//!                                                  Condition::eval(&host, &acls) ──> bool
//! ```
//!
//! What the host provides is the [`Fetch`] trait: one method returning the value of a
//! [`FetchKind`] (the client address, a header, a variable...). Constants (`str()`, `int()`,
//! `bin()`...) and `env()` are evaluated here. A fetch with no value, or a converter that
//! fails, makes the expression yield `None`, which SPOE sends as NULL.
//!
//! Names follow HAProxy 2.6 to 3.x. A fetch or converter HAProxy has but this implementation
//! does not evaluate is a parse error that says so, never a silent empty value.
//!
//! Stick-table fetches (`sc_*`, `src_*`, `table_*`) are parsed here and answered by the host,
//! which owns the tables.
//!
//! Does not do: maps, stick-table converters (`table_*`, `in_table`), SSL fetches, TCP payload inspection, resolving host names
//! in IP patterns, HAProxy's iteration of `hdr()` values inside a sample expression (the host
//! decides, see [`Fetch::fetch_all`]).

mod acl;
mod args;
mod call;
mod cond;
mod converter;
mod counters;
mod encoding;
mod error;
mod fetch;
mod haproxy_names;
mod pattern;
mod pattern_list;
mod sample;
mod sample_expr;
mod script;

pub use acl::{Acl, AclContext, AclExpr, AclSet, ExprWarning, predefined_acl_names};
pub(crate) use args::{ArgType, ArgValue, parse_arg_list};
pub use call::{CallArg, ConverterCall, FetchCall, supported_converters, supported_fetches};
pub use cond::{Condition, Polarity, Term};
pub use converter::{Converter, Operand, haproxy_replacement};
pub use counters::{CounterFetch, CounterOf, CounterRead, STICK_COUNTERS};
pub use error::{ArgError, ExprError, ExprErrorKind, ExprWarningKind};
pub use fetch::{DataSource, Fetch, FetchKind, VarRef, VarScope, fetch_names, is_var_char};
pub use pattern::{MatchMethod, Pattern};
pub use pattern_list::{INDEX_FROM, PatternList};
pub use sample::{Sample, SampleType};
pub use sample_expr::{ConverterStep, SampleExpr};
pub use script::{ScriptNames, with_script_names};
