//! The one reader of HAProxy's configuration language, shared by `spoe.conf` (this crate) and
//! `haproxy.cfg` (spoe-gateway): lines, words, the preprocessor, and sections. Each file's
//! grammar sits on top as a [`Grammar`]: which keywords open sections, and which lines inside a
//! section are a misspelt section keyword.
//!
//! ```text
//!   text ── lines (LF) ── words (quotes, escapes, "${ENV}") ── .if/.elif/.else/.endif, .diag... ── sections
//!                                                                                          │ Section { kind, header: Line, lines }
//!   errors and warnings, `parsing [file:line:col] : ...` ──────────────────────────────────┘ Line { modifier, words, scope }
//! ```
//!
//! The rules are HAProxy 2.6's (`readcfgfile()` in `src/cfgparse.c`, `parse_line()` and
//! `env_expand()` in `src/tools.c`, `src/cfgcond.c`):
//!
//! - One physical line is one statement: HAProxy 2.6 has no line continuation (a `\` at the end
//!   of a line is kept as a `\`). A CR ends a line's content; a NUL byte is an error; the last
//!   line must end with an LF.
//! - Words are separated by unquoted blanks. `#` outside quotes starts a comment (`\#` is a
//!   literal `#`). `'...'` keeps everything literally. `"..."` keeps blanks and `#` and expands
//!   environment variables: `$NAME`, `${NAME}`, `${NAME-default}`, `${NAME[*]}` (one word per
//!   blank-separated part of the value), and `$.LINE`, `$.FILE`, `$.SECTION`; an unset variable
//!   expands to nothing. Outside single quotes `\` escapes a blank, `\`, `'`, `"`, `#`, `t`, `n`,
//!   `r`, `xHH` and (inside double quotes) `$`; any other `\c` stays as is.
//! - Outside double quotes `$` is literal for the reader. HAProxy expands it later in the
//!   arguments that are addresses (`bind :${PORT}`, a server's address): that is
//!   [`env_expand`], which the grammar applies to those arguments, with its own rules (no
//!   default, no `[*]`; a `$` not followed by a name disappears).
//! - The first empty word (`""`, an unset `"${VAR}"`) ends a line's arguments: HAProxy never
//!   reads the words after it (a warning names them).
//! - `.if COND`, `.elif COND`, `.else`, `.endif` mask lines out; `.diag`, `.notice`, `.warning`
//!   print a message and `.alert` fails the read. Conditions: numbers, `defined(VAR)`,
//!   `feature(NAME)`, `streq(A,B)`, `strneq(A,B)`, `version_atleast(V)`, `version_before(V)`,
//!   `openssl_version_atleast(V)`, `openssl_version_before(V)`, `ssllib_name_startswith(S)`,
//!   `!`, `&&`, `||` and parentheses. Words inside masked blocks are still
//!   tokenized, so a quoting error there is still an error, as in HAProxy.
//! - `no KEYWORD` and `default KEYWORD` are read for `option`, `log`, `busy-polling`,
//!   `set-dumpable`, `strict-limits`, `insecure-fork-wanted` and `numa-cpu-mapping` (an error
//!   elsewhere, with HAProxy's message).
//! - A `[name]` line opens a scope (the scope of each following line, see [`Line::scope`]).
//! - A line before any section is an error, and so are the lines after it up to the next
//!   section: one typo, one error.

pub(crate) mod document;
pub(crate) mod env;
pub(crate) mod lexer;
pub(crate) mod preproc;

pub use document::{Document, Grammar, Input, Line, Modifier, Section, read};
pub use env::env_expand;
pub use lexer::{MAX_LINE_ARGS, Word, is_name_char, split_line};
pub use preproc::HAPROXY_VERSION;
