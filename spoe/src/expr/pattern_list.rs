//! A list of ACL patterns, indexed for its match method: a million-line `-f` file costs a
//! lookup, not a million comparisons, per request (HAProxy indexes the same methods:
//! `pat_idx_tree_ip`, `pat_idx_tree_str`, `pat_idx_tree_pfx` in `src/pattern.c`).
//!
//! | method | structure | per sample |
//! |---|---|---|
//! | `ip` | the networks as sorted, merged address ranges (IPv4 and IPv6 apart) | a binary search |
//! | `str` | a hash set (of the lower-cased patterns with `-i`) | a hash lookup |
//! | `beg`, `sub` | an Aho-Corasick automaton (anchored for `beg`) | one pass over the sample |
//! | others, and any list of fewer than [`INDEX_FROM`] patterns | the list | each pattern in turn |
//!
//! An ACL only asks whether some pattern matches, so the ranges of overlapping networks merge;
//! an IPv4 mask that is not a prefix (`255.0.255.0`) stays in the list, as in HAProxy.

use std::collections::HashSet;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, Anchored, Input, MatchKind, StartKind};
use bytes::Bytes;

use super::pattern::{MatchMethod, Pattern, matches, v6_embedded_v4};
use super::sample::Sample;

/// Lists shorter than this are compared pattern by pattern (cheaper than hashing or an
/// automaton for a handful).
pub const INDEX_FROM: usize = 8;

/// Patterns parsed with the same flags, and how they are looked up. Cloning is cheap (the
/// patterns and their index are shared).
#[derive(Debug, Clone)]
pub struct PatternList {
    ignore_case: bool,
    len: usize,
    index: Arc<Index>,
}

#[derive(Debug)]
enum Index {
    List(Vec<Pattern>),
    Exact(HashSet<Bytes>),
    Ip(IpRanges),
    Automaton(AhoCorasick),
}

impl PatternList {
    /// Indexes `patterns` (parsed for `method`, with `-i` when `ignore_case`).
    pub fn new(method: MatchMethod, ignore_case: bool, patterns: Vec<Pattern>) -> Self {
        let len = patterns.len();
        let index = if len < INDEX_FROM {
            Index::List(patterns)
        } else {
            match method {
                MatchMethod::Str => Index::Exact(
                    patterns
                        .into_iter()
                        .filter_map(|p| match p {
                            Pattern::Bytes(b) if ignore_case => {
                                Some(Bytes::from(b.to_ascii_lowercase()))
                            }
                            Pattern::Bytes(b) => Some(b),
                            _ => None,
                        })
                        .collect(),
                ),
                MatchMethod::Ip => Index::Ip(IpRanges::new(patterns)),
                MatchMethod::Beg | MatchMethod::Sub => {
                    automaton(&patterns, ignore_case, method == MatchMethod::Beg)
                        .map_or(Index::List(patterns), Index::Automaton)
                }
                _ => Index::List(patterns),
            }
        };
        Self {
            ignore_case,
            len,
            index: Arc::new(index),
        }
    }

    /// Whether `-i` was given.
    pub fn ignore_case(&self) -> bool {
        self.ignore_case
    }

    /// How many patterns the list holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list holds no pattern.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `sample` (already cast to `method.expect_type()`) matches one of the patterns.
    pub(crate) fn matches(&self, method: MatchMethod, sample: &Sample) -> bool {
        match &*self.index {
            Index::List(patterns) => patterns
                .iter()
                .any(|p| matches(method, self.ignore_case, sample, p)),
            Index::Exact(set) => sample.as_bytes().is_some_and(|s| {
                if self.ignore_case {
                    let (mut stack, mut heap) = ([0u8; 256], Vec::new());
                    set.contains(lowered(s, &mut stack, &mut heap))
                } else {
                    set.contains(&s[..])
                }
            }),
            Index::Ip(ranges) => ranges.contains(sample),
            Index::Automaton(ac) => sample.as_bytes().is_some_and(|s| {
                let input = Input::new(&s[..]);
                if method == MatchMethod::Beg {
                    ac.is_match(input.anchored(Anchored::Yes))
                } else {
                    ac.is_match(input)
                }
            }),
        }
    }
}

/// The automaton of `beg` (anchored at the sample's start) or `sub` patterns; `None` if it
/// cannot be built (the list is then compared pattern by pattern).
fn automaton(patterns: &[Pattern], ignore_case: bool, anchored: bool) -> Option<AhoCorasick> {
    let bytes = patterns.iter().filter_map(|p| match p {
        Pattern::Bytes(b) => Some(&b[..]),
        _ => None,
    });
    AhoCorasick::builder()
        .ascii_case_insensitive(ignore_case)
        .match_kind(MatchKind::Standard)
        .start_kind(if anchored {
            StartKind::Anchored
        } else {
            StartKind::Unanchored
        })
        .build(bytes)
        .ok()
}

/// IP networks as sorted, disjoint ranges.
#[derive(Debug, Default)]
struct IpRanges {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    /// IPv4 networks whose mask is not a prefix.
    others: Vec<Pattern>,
}

impl IpRanges {
    fn new(patterns: Vec<Pattern>) -> Self {
        let mut r = Self::default();
        for p in patterns {
            match p {
                Pattern::Ipv4 { addr, mask } if is_prefix(u32::from(mask)) => {
                    let (a, m) = (u32::from(addr), u32::from(mask));
                    r.v4.push((a & m, a | !m));
                }
                Pattern::Ipv6 { addr, prefix } => {
                    let m = super::args::prefix_mask_u128(prefix);
                    let a = u128::from(addr);
                    r.v6.push((a & m, a | !m));
                }
                other => r.others.push(other),
            }
        }
        merge(&mut r.v4, |x| x.checked_add(1));
        merge(&mut r.v6, |x| x.checked_add(1));
        r
    }

    /// What `match_ip` says of each pattern, for all of them: an IPv4 sample also matches IPv6
    /// networks as `::ffff:a.b.c.d`, an IPv6 sample IPv4 networks through the IPv4 address it
    /// embeds.
    fn contains(&self, sample: &Sample) -> bool {
        let hit = match sample {
            Sample::Ipv4(a) => {
                in_ranges(&self.v4, u32::from(*a))
                    || in_ranges(&self.v6, u128::from(a.to_ipv6_mapped()))
            }
            Sample::Ipv6(a) => {
                in_ranges(&self.v6, u128::from(*a))
                    || v6_embedded_v4(a).is_some_and(|v4| in_ranges(&self.v4, v4))
            }
            _ => false,
        };
        hit || self
            .others
            .iter()
            .any(|p| matches(MatchMethod::Ip, false, sample, p))
    }
}

fn is_prefix(mask: u32) -> bool {
    mask.leading_ones() + mask.trailing_zeros() == 32
}

/// Sorts ranges and merges those that overlap or touch (`next` is the value after a bound, if
/// any).
fn merge<T: Ord + Copy>(ranges: &mut Vec<(T, T)>, next: impl Fn(T) -> Option<T>) {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges.iter() {
        match out.last_mut() {
            Some(last) if next(last.1).is_none_or(|n| lo <= n) => {
                if hi > last.1 {
                    last.1 = hi;
                }
            }
            _ => out.push((lo, hi)),
        }
    }
    out.shrink_to_fit();
    *ranges = out;
}

fn in_ranges<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    // The last range starting at or before `x`.
    let i = ranges.partition_point(|&(lo, _)| lo <= x);
    i > 0 && x <= ranges[i - 1].1
}

/// `s` in lower case, in `stack` when it fits (no allocation for the usual sample).
fn lowered<'a>(s: &'a [u8], stack: &'a mut [u8; 256], heap: &'a mut Vec<u8>) -> &'a [u8] {
    if !s.iter().any(u8::is_ascii_uppercase) {
        return s;
    }
    let out: &mut [u8] = match stack.get_mut(..s.len()) {
        Some(room) => room,
        None => {
            heap.resize(s.len(), 0);
            heap
        }
    };
    out.copy_from_slice(s);
    out.make_ascii_lowercase();
    out
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Sample {
        Sample::Ipv4(Ipv4Addr::new(a, b, c, d))
    }

    fn v6(text: &str) -> Sample {
        Sample::Ipv6(text.parse::<Ipv6Addr>().unwrap())
    }

    fn list(method: MatchMethod, icase: bool, pats: &[&str]) -> PatternList {
        let patterns = pats
            .iter()
            .map(|p| Pattern::parse(method, p, icase).unwrap())
            .collect();
        PatternList::new(method, icase, patterns)
    }

    fn padded(pats: &[&'static str], filler: &'static str) -> Vec<&'static str> {
        let mut v = pats.to_vec();
        v.extend(std::iter::repeat_n(filler, INDEX_FROM));
        v
    }

    fn s(t: &str) -> Sample {
        Sample::str(t)
    }

    /// Each indexed list matches what the same patterns match one by one.
    fn agrees(method: MatchMethod, icase: bool, pats: &[&str], samples: &[Sample]) {
        let indexed = list(method, icase, pats);
        assert!(
            !matches!(*indexed.index, Index::List(_)),
            "{method} is indexed"
        );
        let linear: Vec<Pattern> = pats
            .iter()
            .map(|p| Pattern::parse(method, p, icase).unwrap())
            .collect();
        for sample in samples {
            let sample = sample.clone().cast(method.expect_type()).unwrap();
            let expected = linear.iter().any(|p| matches(method, icase, &sample, p));
            assert_eq!(
                indexed.matches(method, &sample),
                expected,
                "{method} -i={icase} {sample:?}"
            );
        }
    }

    #[test]
    fn ip_ranges_agree_with_each_network() {
        let pats = padded(
            &[
                "10.0.0.0/8",
                "10.1.0.0/16",
                "192.168.1.1",
                "192.168.1.2",
                "172.16.0.0/255.240.0.0",
                "10.20.0.0/255.0.255.0",
                "2001:db8::/32",
                "::ffff:100.64.0.0/106",
            ],
            "203.0.113.7",
        );
        let samples = [
            v4(10, 9, 9, 9),
            v4(11, 0, 0, 0),
            v4(192, 168, 1, 1),
            v4(192, 168, 1, 3),
            v4(172, 31, 255, 255),
            v4(172, 32, 0, 0),
            v4(99, 20, 5, 0),
            v4(99, 21, 5, 0),
            v4(100, 64, 0, 1),
            v4(203, 0, 113, 7),
            v6("2001:db8::1"),
            v6("2001:db9::1"),
            v6("::ffff:10.2.3.4"),
            v6("2002:c0a8:0101::"),
            v6("::1"),
            s("192.168.1.2"),
        ];
        agrees(MatchMethod::Ip, false, &pats, &samples);
        // Everything: one range.
        let all = padded(&["0.0.0.0/0", "::/0"], "1.2.3.4");
        let l = list(MatchMethod::Ip, false, &all);
        let Index::Ip(r) = &*l.index else {
            panic!("indexed")
        };
        assert_eq!(r.v4, [(0, u32::MAX)]);
        assert_eq!(r.v6, [(0, u128::MAX)]);
        assert!(l.matches(MatchMethod::Ip, &v4(255, 255, 255, 255)));
    }

    #[test]
    fn strings_prefixes_and_substrings_agree_with_each_pattern() {
        let samples = [
            s("/admin"),
            s("/Admin"),
            s("/admin/x"),
            s("/ADMIN/x"),
            s("/a/wp-login.php?x"),
            s("/a/WP-LOGIN.php"),
            s(""),
            s("/"),
            s("/static/app.js"),
        ];
        let pats = padded(&["/admin", "/Static/", "wp-login"], "/nothing-here");
        for icase in [false, true] {
            agrees(MatchMethod::Str, icase, &pats, &samples);
            agrees(MatchMethod::Beg, icase, &pats, &samples);
            agrees(MatchMethod::Sub, icase, &pats, &samples);
        }
        // An empty pattern: every sample begins with it and contains it.
        let empty = padded(&[""], "x");
        agrees(MatchMethod::Beg, false, &empty, &samples);
        agrees(MatchMethod::Sub, false, &empty, &samples);
    }

    #[test]
    fn short_lists_and_other_methods_are_lists() {
        assert!(matches!(
            *list(MatchMethod::Str, false, &["a", "b"]).index,
            Index::List(_)
        ));
        let l = list(MatchMethod::End, false, &padded(&[".php"], ".x"));
        assert!(matches!(*l.index, Index::List(_)));
        assert!(l.matches(MatchMethod::End, &s("/a.php")));
        assert_eq!(l.len(), INDEX_FROM + 1);
    }

    proptest::proptest! {
        /// Random IPv4 and IPv6 networks, random addresses: the ranges say what the networks
        /// say one by one.
        #[test]
        fn random_networks_agree(
            nets in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u32..=32, proptest::prelude::any::<bool>()), INDEX_FROM..40),
            addrs in proptest::collection::vec(proptest::prelude::any::<u32>(), 1..40),
        ) {
            let pats: Vec<String> = nets
                .iter()
                .map(|&(a, len, six)| {
                    if six {
                        format!("::ffff:{}/{}", Ipv4Addr::from(a), 96 + len)
                    } else {
                        format!("{}/{len}", Ipv4Addr::from(a))
                    }
                })
                .collect();
            let pats: Vec<&str> = pats.iter().map(String::as_str).collect();
            let mut samples: Vec<Sample> = addrs.iter().map(|&a| Sample::Ipv4(Ipv4Addr::from(a))).collect();
            // Addresses inside the networks too (random ones rarely are).
            samples.extend(nets.iter().map(|&(a, _, _)| Sample::Ipv4(Ipv4Addr::from(a))));
            samples.extend(addrs.iter().map(|&a| Sample::Ipv6(Ipv4Addr::from(a).to_ipv6_mapped())));
            agrees(MatchMethod::Ip, false, &pats, &samples);
        }
    }
}
