//! `stick-table type ip|ipv6|integer|string [len N]|binary [len N] size N [expire D]
//! [nopurge] [peers P] [store TYPE[(ARG)],...]` (`parse_stick_table()` in
//! `src/stick_table.c`): the table takes the proxy's name.

use spoe::config::reader::{Line, Word};

use super::super::lower::{Lowerer, Proxy};
use crate::sticktable::data::{DataType, Repr, Store, UNSUPPORTED};
use crate::sticktable::decl::StickTableDecl;
use crate::sticktable::key::KeyType;

/// HAProxy's `parse_size_err()`: digits, then `k`, `m` or `g` (powers of 1024).
fn size(text: &str) -> Result<usize, char> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let n: usize = text[..digits].parse().unwrap_or(0);
    let mut rest = text[digits..].chars();
    let mult = match rest.next() {
        None => 1,
        Some('k' | 'K') => 1 << 10,
        Some('m' | 'M') => 1 << 20,
        Some('g' | 'G') => 1 << 30,
        Some(c) => return Err(c),
    };
    match rest.next() {
        Some(c) => Err(c),
        None => Ok(n.saturating_mul(mult)),
    }
}

impl Lowerer<'_, '_> {
    /// `stick-table ...`.
    pub(super) fn stick_table(&mut self, p: &mut Proxy, line: &Line) {
        const KW: &str = "stick-table";
        if p.kind == super::super::grammar::Kind::Defaults {
            self.diag.error_msg(
                line.span().clone(),
                format!("'{KW}' is not allowed in 'defaults' section"),
            );
            return;
        }
        if p.stick_table.is_some() {
            self.diag.error_msg(
                line.span().clone(),
                format!("'{KW}' : only one stick-table per proxy is allowed"),
            );
            return;
        }
        let words = &line.words[1..];
        let mut key = None;
        let mut table_size = 0;
        let mut expire = None;
        let mut nopurge = false;
        let mut peers = None;
        let mut store = Store::default();
        let mut i = 0;
        let after = |i: usize| -> Option<&Word> { words.get(i + 1) };
        while let Some(word) = words.get(i) {
            let arg = word.as_str();
            let missing = |lw: &mut Self| {
                lw.diag.error_msg(
                    word.span().clone(),
                    format!("{KW}: missing argument after '{arg}'."),
                );
            };
            match arg {
                "size" => {
                    let Some(v) = after(i) else {
                        return missing(self);
                    };
                    match size(v.as_str()) {
                        Ok(n) => table_size = n,
                        Err(c) => {
                            return self.diag.error_msg(
                                v.span().clone(),
                                format!("{KW}: unexpected character '{c}' in argument of 'size'."),
                            );
                        }
                    }
                    i += 2;
                }
                "expire" => {
                    let Some(v) = after(i) else {
                        return missing(self);
                    };
                    let Some(d) = self.duration(v, "stick-table expire") else {
                        return;
                    };
                    expire = Some(u32::try_from(d.as_millis()).unwrap_or(i32::MAX as u32));
                    i += 2;
                }
                "nopurge" => {
                    nopurge = true;
                    i += 1;
                }
                "peers" => {
                    let Some(v) = after(i) else {
                        return missing(self);
                    };
                    peers = Some(v.spanned());
                    i += 2;
                }
                "type" => {
                    let Some(v) = after(i) else {
                        return missing(self);
                    };
                    let len = match words.get(i + 2).map(Word::as_str) {
                        Some("len") => {
                            let Some(n) = words.get(i + 3) else {
                                return missing(self);
                            };
                            match n.as_str().parse::<usize>() {
                                Ok(n) if n > 0 => Some(n),
                                _ => {
                                    return self.diag.error_msg(
                                        v.span().clone(),
                                        format!("{KW}: unknown type '{}'.", v.as_str()),
                                    );
                                }
                            }
                        }
                        _ => None,
                    };
                    key = Some(match (v.as_str(), len) {
                        ("ip", None) => KeyType::Ip,
                        ("ipv6", None) => KeyType::Ipv6,
                        ("integer", None) => KeyType::Integer,
                        ("string", n) => KeyType::String(n.unwrap_or(32)),
                        ("binary", n) => KeyType::Binary(n.unwrap_or(32)),
                        _ => {
                            return self.diag.error_msg(
                                v.span().clone(),
                                format!("{KW}: unknown type '{}'.", v.as_str()),
                            );
                        }
                    });
                    i += if len.is_some() { 4 } else { 2 };
                }
                "store" => {
                    let Some(v) = after(i) else {
                        return missing(self);
                    };
                    if !self.store(&mut store, v) {
                        return;
                    }
                    i += 2;
                }
                "srvkey" => {
                    return self.diag.error_msg(
                        word.span().clone(),
                        format!("{KW}: 'srvkey' is not supported by the gateway (no 'server_key' is stored)"),
                    );
                }
                _ => {
                    return self.diag.error_msg(
                        word.span().clone(),
                        format!("{KW}: unknown argument '{arg}'."),
                    );
                }
            }
        }
        if table_size == 0 {
            return self
                .diag
                .error_msg(line.span().clone(), format!("{KW}: missing size."));
        }
        let Some(key) = key else {
            return self
                .diag
                .error_msg(line.span().clone(), format!("{KW}: missing type."));
        };
        let peers = match peers {
            None => None,
            Some(name) => match self.peers.iter().find(|s| **s == name.value) {
                Some(_) => Some(name.value),
                None => {
                    return self.diag.error_msg(
                        name.span,
                        format!(
                            "{KW}: unable to find the 'peers' section '{}' (a 'peers' section must come before the table using it)",
                            name.value
                        ),
                    );
                }
            },
        };
        p.stick_table = Some(StickTableDecl {
            name: p.name.clone(),
            key,
            size: table_size,
            expire,
            nopurge,
            peers,
            store,
        });
    }

    /// `store TYPE[(ARG)],...`: `false` after an error.
    fn store(&mut self, store: &mut Store, word: &Word) -> bool {
        const KW: &str = "stick-table";
        let text = word.as_str();
        let mut rest = text;
        while !rest.is_empty() {
            // One item: NAME or NAME(ARG), up to the next comma outside parentheses.
            let end = match (rest.find('('), rest.find(',')) {
                (Some(open), comma) if comma.is_none_or(|c| open < c) => {
                    match rest[open..].find(')') {
                        Some(close) => open + close + 1,
                        None => {
                            self.diag.error_msg(
                                word.span().clone(),
                                format!(
                                    "{KW}: missing closing parenthesis after store option '{}'.",
                                    &rest[..open]
                                ),
                            );
                            return false;
                        }
                    }
                }
                (_, Some(comma)) => comma,
                (_, None) => rest.len(),
            };
            let item = &rest[..end];
            rest = rest[end..].strip_prefix(',').unwrap_or(&rest[end..]);
            let (name, arg) = match item.split_once('(') {
                Some((n, a)) => (n, Some(a.trim_end_matches(')'))),
                None => (item, None),
            };
            let Some(dt) = DataType::by_name(name) else {
                let msg = if UNSUPPORTED.contains(&name) {
                    format!("{KW}: store option '{name}' is not supported by the gateway")
                } else {
                    format!("{KW}: unknown store option '{name}'.")
                };
                self.diag.error_msg(word.span().clone(), msg);
                return false;
            };
            let period = match (dt.repr(), arg) {
                (Repr::Rate, Some(a)) => match spoe::duration::parse_timer(a) {
                    Ok(t) if t.trailing.is_none() => {
                        u32::try_from(t.duration().as_millis()).unwrap_or(u32::MAX)
                    }
                    _ => {
                        self.diag.error_msg(
                            word.span().clone(),
                            format!("{KW}: error when processing store option '{name}'."),
                        );
                        return false;
                    }
                },
                (Repr::Rate, None) => {
                    self.diag.error_msg(
                        word.span().clone(),
                        format!("{KW}: missing argument to store option '{name}'."),
                    );
                    return false;
                }
                (_, Some(_)) => {
                    self.diag.error_msg(
                        word.span().clone(),
                        format!("{KW}: unexpected argument to store option '{name}'."),
                    );
                    return false;
                }
                (_, None) => 0,
            };
            if !store.add(dt, period) {
                self.diag.warn_msg(
                    word.span().clone(),
                    format!("{KW}: store option '{name}' already enabled, ignored."),
                );
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::size("100k"), Ok(102_400));
        assert_eq!(super::size("1m"), Ok(1 << 20));
        assert_eq!(super::size("200"), Ok(200));
        assert_eq!(super::size("1x"), Err('x'));
    }
}
