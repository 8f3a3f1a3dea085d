//! `hash-type map-based|consistent [sdbm|djb2|wt6|crc32] [avalanche]` and
//! `hash-balance-factor N` (`cfg_parse_listen()`): how `balance source|uri|hdr()` hash their
//! key. The gateway runs HAProxy's map-based lookup with each of its hash functions;
//! `consistent` is an error naming it.

use spoe::config::reader::Line;

use crate::config::lower::{Lowerer, Proxy};
use crate::model::{HashFunc, HashType};

impl Lowerer<'_, '_> {
    /// `hash-type map-based|consistent [FUNCTION] [avalanche]`.
    pub(super) fn hash_type(&mut self, p: &mut Proxy, line: &Line) {
        if !p.has_backend() {
            return self.not_capable(p, line.span(), "hash-type");
        }
        match line.arg_str(1) {
            Some("map-based") => {}
            Some("consistent") => {
                return self.diag.error_msg(
                    line.words[1].span().clone(),
                    "'hash-type consistent' is not supported by the gateway (only 'map-based')",
                );
            }
            Some("avalanche") => {
                return self.diag.error_msg(
                    line.span().clone(),
                    "experimental feature 'hash-type avalanche' is not supported anymore, please use 'hash-type map-based sdbm avalanche' instead.",
                );
            }
            _ => {
                return self.diag.error_msg(
                    line.span().clone(),
                    "'hash-type' only supports 'consistent' and 'map-based'.",
                );
            }
        }
        let func = match line.arg_str(2) {
            None | Some("sdbm") => HashFunc::Sdbm,
            Some("djb2") => HashFunc::Djb2,
            Some("wt6") => HashFunc::Wt6,
            Some("crc32") => HashFunc::Crc32,
            Some(_) => {
                return self.diag.error_msg(
                    line.words[2].span().clone(),
                    "'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.",
                );
            }
        };
        let avalanche = match line.arg_str(3) {
            None => false,
            Some("avalanche") => true,
            Some(_) => {
                return self.diag.error_msg(
                    line.words[3].span().clone(),
                    "'hash-type' only supports 'avalanche' as a modifier for hash functions.",
                );
            }
        };
        if self.too_many(line, 3, "hash-type") {
            return;
        }
        p.choice.hash_type = HashType { func, avalanche };
    }

    /// `hash-balance-factor N`: a bound on the load of `consistent` hashing, which the gateway
    /// refuses; with `map-based`, HAProxy does not use it either.
    pub(super) fn hash_balance_factor(&mut self, p: &mut Proxy, line: &Line) {
        let Some(word) = line.arg(1) else {
            return self.missing(line, "hash-balance-factor", "a number");
        };
        if self.too_many(line, 1, "hash-balance-factor") {
            return;
        }
        let Some(n) = self.ranged(word, "hash-balance-factor", 0, 65535) else {
            return;
        };
        if n != 0 && n <= 100 {
            return self.diag.error_msg(
                word.span().clone(),
                "'hash-balance-factor' must be 0 or greater than 100.",
            );
        }
        if !p.has_backend() {
            self.not_capable(p, line.span(), "hash-balance-factor");
        }
    }
}
