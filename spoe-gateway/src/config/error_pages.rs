//! What a proxy's error-page lines leave until every `http-errors` section is read
//! (`config::http_errors` reads the sections and resolves them): the sections, the proxy's
//! lines in order, the rules whose reply names a section.

use std::collections::BTreeMap;
use std::sync::Arc;

use spoe::config::Span;

use crate::errorfile::ErrorFile;

/// An `http-errors` section.
#[derive(Debug)]
pub(super) struct HttpErrors {
    pub(super) name: String,
    /// The section line.
    pub(super) span: Span,
    pub(super) pages: BTreeMap<u16, Arc<ErrorFile>>,
}

/// A proxy line that sets error pages, kept in order until the sections are known.
#[derive(Debug, Clone)]
pub(super) enum ErrorLine {
    /// `errorfile`, `errorloc*`, `http-error`: the page for a status (none: HAProxy's own,
    /// `http-error status N default-errorfiles`).
    Page(u16, Option<Arc<ErrorFile>>),
    /// `errorfiles NAME [CODE...]`, `http-error status N errorfiles NAME`: the section's pages
    /// for `codes` (empty: all of them), a missing one reported when it was named.
    Section {
        name: String,
        codes: Vec<u16>,
        span: Span,
    },
}

/// A rule's reply naming an `http-errors` section: which rule list (`http-request` 0,
/// `http-response` 1), which rule, the name, where, the reply's status.
#[derive(Debug, Clone)]
pub(super) struct PendingReply {
    pub(super) list: usize,
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) span: Span,
    pub(super) status: u16,
}
