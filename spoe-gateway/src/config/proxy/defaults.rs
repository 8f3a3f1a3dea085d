//! `defaults` sections: which one a proxy (or another `defaults`) starts from. What a proxy
//! inherits is [`Proxy::from_defaults`]; the keywords refused in `defaults` say so in their
//! own handlers.

use spoe::config::Span;
use spoe::config::reader::Word;

use crate::config::grammar::Kind;
use crate::config::lower::{Lowerer, Proxy};

impl Lowerer<'_, '_> {
    /// The `defaults` a `kind` section named `name` starts from: the one named after `from`,
    /// else the last one read (a `defaults` section without `from` starts afresh). `None`
    /// after an error.
    pub(super) fn defaults_for(
        &mut self,
        kind: Kind,
        name: &str,
        from: Option<&Word>,
    ) -> Option<Proxy> {
        let keyword = kind.keyword();
        match from {
            Some(from) => {
                self.check_name(from, "defaults section");
                let mut found = self
                    .named_defaults
                    .iter()
                    .filter(|d| d.name == from.as_str());
                match (found.next(), found.next()) {
                    (Some(first), Some(second)) => {
                        let msg = format!(
                            "ambiguous defaults section name '{}' referenced by {keyword} '{name}' exists at least at {} and {}",
                            from.as_str(),
                            first.span,
                            second.span
                        );
                        self.diag.error_msg(from.span().clone(), msg);
                        None
                    }
                    (Some(d), None) => Some(d.clone()),
                    (None, _) => {
                        self.diag.error_msg(
                            from.span().clone(),
                            format!(
                                "defaults section '{}' not found for {keyword} '{name}'",
                                from.as_str()
                            ),
                        );
                        None
                    }
                }
            }
            None if kind == Kind::Defaults => Some(Proxy::new(
                Kind::Defaults,
                String::new(),
                Span::file(self.file.clone()),
            )),
            None => Some(self.defaults.clone()),
        }
    }

    /// A `defaults` section read: the next proxies start from it, and `from` finds it by name.
    pub(super) fn keep_defaults(&mut self, proxy: Proxy) {
        if !proxy.name.is_empty() {
            self.named_defaults.push(proxy.clone());
        }
        self.defaults = proxy;
    }
}
