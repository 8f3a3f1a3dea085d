//! The extension point for hosts that read their own configuration in
//! HAProxy's syntax next to `spoe.conf` (spoe-gateway reads `haproxy.cfg`
//! this way): HAProxy's line tokenizer, so that both files are split into
//! words by the same rules, and [`Diagnostics`](super::Diagnostics) with
//! [`ConfigErrorKind::Host`](super::ConfigErrorKind::Host) and
//! [`ConfigWarningKind::Host`](super::ConfigWarningKind::Host) for the
//! host's own findings, so that they print like `spoe.conf`'s
//! (`parsing [file:line:col] : ...`).
//!
//! The tokenizer's rules are those of HAProxy 2.6's `parse_line()`: see
//! [`lex_line`].

pub use super::lexer::{
    LexContext, LexedLine, MAX_LINE_ARGS, Word, is_name_char, lex_line, split_lines,
};
