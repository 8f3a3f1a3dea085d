//! Where a piece of configuration came from: file, line and column.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A position in a configuration file: the file name as it was given, and a 1-based line and
/// column.
///
/// Columns count characters (not bytes) from the start of the raw line, before quotes and
/// escapes are removed, so they point at what an editor shows. Line 0 means "the file as a whole"
/// (for instance "no spoe-agent section found"); [`Display`](fmt::Display) then prints the file
/// name alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    /// The file, as named by the caller (`spoe.conf`, `/etc/haproxy/spoe.conf`).
    pub file: Arc<Path>,
    /// 1-based line number; 0 for the whole file.
    pub line: u32,
    /// 1-based column, in characters; 0 when `line` is 0.
    pub col: u32,
}

impl Span {
    /// A span at `line:col` of `file`.
    pub fn new(file: Arc<Path>, line: u32, col: u32) -> Self {
        Self { file, line, col }
    }

    /// A span naming the whole file (line 0).
    pub fn file(file: Arc<Path>) -> Self {
        Self {
            file,
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for Span {
    /// `spoe.conf:12:23`, or `spoe.conf` for the whole file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
        }
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs `value` with `span`.
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}
