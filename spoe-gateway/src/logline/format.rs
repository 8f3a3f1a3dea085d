//! A parsed format and its line counter.

use std::sync::atomic::{AtomicU64, Ordering};

use spoe::config::reader::Word;
use spoe::expr::SampleExpr;

use super::nodes::Node;
use super::parse;

/// A parsed access-line format.
#[derive(Debug)]
pub(crate) struct LineFormat {
    nodes: Vec<Node>,
    samples: Vec<SampleExpr>,
    /// `%lc`: lines written with this format (HAProxy's per-frontend `log_count`).
    count: AtomicU64,
}

impl LineFormat {
    pub(super) fn new(nodes: Vec<Node>, samples: Vec<SampleExpr>) -> Self {
        Self {
            nodes,
            samples,
            count: AtomicU64::new(0),
        }
    }

    /// Parses a `log-format` string; the error is HAProxy's (after `failed to parse
    /// log-format : `).
    pub(crate) fn parse(word: &Word) -> Result<Self, String> {
        parse::parse(word).map(|(nodes, samples)| Self::new(nodes, samples))
    }

    /// One of the presets ([`HTTPLOG`], [`HTTPLOG_CLF`], [`TCPLOG`]).
    pub(crate) fn preset(text: &str, span: spoe::config::Span) -> Self {
        match Self::parse(&Word::synthetic(text, span)) {
            Ok(f) => f,
            // The presets are constants the tests parse.
            Err(_) => Self::new(vec![Node::Text(text.to_owned())], Vec::new()),
        }
    }

    /// The `%[EXPR]` expressions, in the order [`Facts::samples`] holds their values.
    pub(crate) fn samples(&self) -> &[SampleExpr] {
        &self.samples
    }

    /// Counts a line written (`%lc`), returning the count before it.
    pub(crate) fn next_count(&self) -> u64 {
        self.count.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn nodes(&self) -> &[Node] {
        &self.nodes
    }
}
