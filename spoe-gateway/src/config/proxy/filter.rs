//! `filter spoe [engine NAME] config FILE` (`parse_filter()` in `src/filters.c`,
//! `parse_spoe_flt()` in `src/flt_spoe.c`): the `spoe.conf` is read here, as HAProxy reads it
//! while it reads the `filter` line.

use std::sync::Arc;

use spoe::config::reader::{Line, Word};
use spoe::config::{ParseOptions, SpoeConfig};

use crate::config::grammar::Kind;
use crate::config::lower::{Lowerer, Proxy};
use crate::model::SpoeFilterDecl;

impl Lowerer<'_, '_> {
    /// `filter spoe [engine NAME] config FILE`: the file is read and parsed here, as HAProxy
    /// does while it reads the `filter` line.
    pub(super) fn filter(&mut self, p: &mut Proxy, line: &Line) {
        let loaded = p.filters.len();
        self.filter_line(p, line);
        // What names this filter's engine (`send-spoe-group`) then finds nothing: not a second
        // error.
        p.filter_failed |= p.filters.len() == loaded;
    }

    fn filter_line(&mut self, p: &mut Proxy, line: &Line) {
        if p.kind == Kind::Defaults {
            return self.diag.error_msg(
                line.span().clone(),
                "'filter' is not allowed in a 'defaults' section",
            );
        }
        let Some(kind) = line.arg(1) else {
            return self.diag.error_msg(
                line.span().clone(),
                format!(
                    "missing argument for 'filter' in {} '{}'",
                    p.kind.keyword(),
                    p.name
                ),
            );
        };
        match kind.as_str() {
            "spoe" => {}
            "cache" => return self.cache_filter(p, line),
            other
                if [
                    "trace",
                    "compression",
                    "bwlim-in",
                    "bwlim-out",
                    "fcgi-app",
                    "opentracing",
                ]
                .contains(&other) =>
            {
                return self.diag.error_msg(
                    kind.span().clone(),
                    format!("filter '{other}' is not supported by the gateway (only 'spoe')"),
                );
            }
            other => {
                return self.diag.error_msg(
                    kind.span().clone(),
                    format!("'filter' : unknown keyword '{other}'"),
                );
            }
        }
        let mut engine: Option<&Word> = None;
        let mut config: Option<&Word> = None;
        let mut i = 2;
        while let Some(word) = line.arg(i) {
            let slot = match word.as_str() {
                "engine" => &mut engine,
                "config" => &mut config,
                other => {
                    return self.diag.error_msg(
                        word.span().clone(),
                        format!("'filter spoe' : unknown keyword '{other}'"),
                    );
                }
            };
            let Some(value) = line.arg(i + 1) else {
                return self.diag.error_msg(
                    word.span().clone(),
                    format!("'spoe' : '{}' option without value", word.as_str()),
                );
            };
            *slot = Some(value);
            i += 2;
        }
        let Some(config) = config else {
            return self
                .diag
                .error_msg(line.span().clone(), "'spoe' : missing config file");
        };
        let engine_name = engine.map(|e| e.as_str().to_owned());
        let path = self.base_dir.join(config.as_str());
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                return self.diag.error_msg(
                    config.span().clone(),
                    format!(
                        "'filter spoe' : could not open configuration file {} : {e}",
                        path.display()
                    ),
                );
            }
        };
        if !self.files.contains(&path) {
            self.files.push(path.clone());
        }
        let options = ParseOptions {
            env: self.env.cloned(),
            base_dir: Some(self.base_dir.clone()),
            features: crate::config::grammar::FEATURES,
        };
        match SpoeConfig::parse_str_with(&text, &path, engine_name.as_deref(), &options) {
            Ok((mut spoe, warnings)) => {
                if p.kind == Kind::Listen {
                    spoe.agent.on_both_sides();
                }
                self.diag.merge(line.span(), Vec::new(), warnings);
                for target in &spoe.agent.log {
                    if let spoe::config::LogTarget::Server(s) = target
                        && let Some(why) = crate::config::log::unsupported_target(&s.address)
                    {
                        self.diag.error_msg(s.span.clone(), why);
                    }
                }
                p.filters.push(SpoeFilterDecl {
                    engine: engine_name,
                    config: Arc::new(spoe),
                    span: line.span().clone(),
                });
            }
            Err(errors) => {
                // HAProxy adds "'filter' : Error(s) found in configuration file"; the file's
                // own errors say where, and one typo stays one error.
                self.diag.merge(line.span(), errors.errors, errors.warnings);
            }
        }
    }
}
