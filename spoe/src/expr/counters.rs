//! Stick-table fetches (`src/stick_table.c`): `sc_*(N[,table])`, `sc0_*`..`sc2_*([table])`,
//! `src_*([table])`, `table_avl([table])` and `table_cnt([table])`. The names are read by
//! pattern rather than listed one by one: HAProxy has the same ~30 counters under each prefix.
//!
//! What they read is the host's: the entries a stream tracks (`track-sc0`...), or the entry of
//! the client's address. A stick counter that tracks nothing has no value, as in HAProxy (an
//! ACL on it does not match); an address with no entry reads 0.

use super::args::{ArgType, ArgValue};

/// How many stick counters a stream has (HAProxy's default `MAX_SESS_STKCTR`).
pub const STICK_COUNTERS: u8 = 3;

/// Which entry a stick-table fetch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterOf {
    /// `sc_*(N)`, `scN_*`: the entry stick counter N tracks.
    Slot(u8),
    /// `src_*`: the entry of the client's address (looked up, never created; `src_inc_*` and
    /// `src_clr_*` create it, as HAProxy's `stktable_get_entry()`).
    Src,
    /// `table_avl`, `table_cnt`: the table itself.
    Table,
}

/// What a stick-table fetch reads or does (the part of its name after the prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CounterRead {
    /// `conn_cnt`.
    ConnCnt,
    /// `conn_cur`.
    ConnCur,
    /// `conn_rate`.
    ConnRate,
    /// `sess_cnt`.
    SessCnt,
    /// `sess_rate`.
    SessRate,
    /// `http_req_cnt`.
    HttpReqCnt,
    /// `http_req_rate`.
    HttpReqRate,
    /// `http_err_cnt`.
    HttpErrCnt,
    /// `http_err_rate`.
    HttpErrRate,
    /// `http_fail_cnt`.
    HttpFailCnt,
    /// `http_fail_rate`.
    HttpFailRate,
    /// `bytes_in_rate`.
    BytesInRate,
    /// `bytes_out_rate`.
    BytesOutRate,
    /// `kbytes_in`: `bytes_in_cnt` / 1024.
    KbytesIn,
    /// `kbytes_out`: `bytes_out_cnt` / 1024.
    KbytesOut,
    /// `get_gpc0`.
    GetGpc0,
    /// `get_gpc1`.
    GetGpc1,
    /// `get_gpt0`.
    GetGpt0,
    /// `gpc0_rate`.
    Gpc0Rate,
    /// `gpc1_rate`.
    Gpc1Rate,
    /// `inc_gpc0`: adds one, returns the new value.
    IncGpc0,
    /// `inc_gpc1`.
    IncGpc1,
    /// `clr_gpc0`: sets to zero, returns the value before.
    ClrGpc0,
    /// `clr_gpc1`.
    ClrGpc1,
    /// `tracked` (stick counters only): whether the counter tracks an entry (a boolean).
    Tracked,
    /// `trackers`: how many streams track the entry.
    Trackers,
    /// `updt_conn_cnt` (`src_` only): counts a connection, returns the new `conn_cnt`.
    UpdtConnCnt,
    /// `table_avl`: free entries.
    Avl,
    /// `table_cnt`: entries in use.
    Cnt,
}

/// The counters every prefix has.
const READS: &[(&str, CounterRead)] = &[
    ("conn_cnt", CounterRead::ConnCnt),
    ("conn_cur", CounterRead::ConnCur),
    ("conn_rate", CounterRead::ConnRate),
    ("sess_cnt", CounterRead::SessCnt),
    ("sess_rate", CounterRead::SessRate),
    ("http_req_cnt", CounterRead::HttpReqCnt),
    ("http_req_rate", CounterRead::HttpReqRate),
    ("http_err_cnt", CounterRead::HttpErrCnt),
    ("http_err_rate", CounterRead::HttpErrRate),
    ("http_fail_cnt", CounterRead::HttpFailCnt),
    ("http_fail_rate", CounterRead::HttpFailRate),
    ("bytes_in_rate", CounterRead::BytesInRate),
    ("bytes_out_rate", CounterRead::BytesOutRate),
    ("kbytes_in", CounterRead::KbytesIn),
    ("kbytes_out", CounterRead::KbytesOut),
    ("get_gpc0", CounterRead::GetGpc0),
    ("get_gpc1", CounterRead::GetGpc1),
    ("get_gpt0", CounterRead::GetGpt0),
    ("gpc0_rate", CounterRead::Gpc0Rate),
    ("gpc1_rate", CounterRead::Gpc1Rate),
    ("inc_gpc0", CounterRead::IncGpc0),
    ("inc_gpc1", CounterRead::IncGpc1),
    ("clr_gpc0", CounterRead::ClrGpc0),
    ("clr_gpc1", CounterRead::ClrGpc1),
];

/// A stick-table fetch with its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CounterFetch {
    /// Which entry.
    pub of: CounterOf,
    /// What of it.
    pub read: CounterRead,
    /// The table argument: for a stick counter, the same key looked up in that table
    /// instead; for `src_*` and `table_*`, the table (`None`: the proxy's own).
    pub table: Option<String>,
}

/// The fetch's name cut into what it reads (`None`: not a stick-table fetch).
fn split(name: &str) -> Option<(CounterOf, Option<u8>, CounterRead)> {
    let lookup = |rest: &str| READS.iter().find(|(n, _)| *n == rest).map(|(_, r)| *r);
    if let Some(rest) = name.strip_prefix("sc_") {
        let read = match rest {
            "tracked" => CounterRead::Tracked,
            "trackers" => CounterRead::Trackers,
            _ => lookup(rest)?,
        };
        return Some((CounterOf::Slot(0), None, read));
    }
    if let Some(rest) = name.strip_prefix("src_") {
        let read = match rest {
            "updt_conn_cnt" => CounterRead::UpdtConnCnt,
            _ => lookup(rest)?,
        };
        return Some((CounterOf::Src, None, read));
    }
    match name {
        "table_avl" => return Some((CounterOf::Table, None, CounterRead::Avl)),
        "table_cnt" => return Some((CounterOf::Table, None, CounterRead::Cnt)),
        _ => {}
    }
    let digits = name.strip_prefix("sc")?;
    let (n, rest) = digits.split_at_checked(1)?;
    let slot = n.parse::<u8>().ok().filter(|n| *n < STICK_COUNTERS)?;
    let rest = rest.strip_prefix('_')?;
    let read = match rest {
        "tracked" => CounterRead::Tracked,
        "trackers" => CounterRead::Trackers,
        _ => lookup(rest)?,
    };
    Some((CounterOf::Slot(slot), Some(slot), read))
}

const SLOT_TABLE: &[ArgType] = &[ArgType::Int, ArgType::Str];
const TABLE: &[ArgType] = &[ArgType::Str];

/// The signature of a stick-table fetch, as HAProxy declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CounterSig {
    pub(crate) args: &'static [ArgType],
    pub(crate) min: usize,
    /// A boolean (`sc_tracked`), else an integer.
    pub(crate) boolean: bool,
    /// It reads the client's address (`src_*`), else internal data.
    pub(crate) of_src: bool,
}

/// The signature of the stick-table fetch `name`.
pub(crate) fn counter_sig(name: &str) -> Option<CounterSig> {
    let (of, numbered, read) = split(name)?;
    let (args, min) = match (of, numbered) {
        (CounterOf::Slot(_), None) => (SLOT_TABLE, 1),
        _ => (TABLE, 0),
    };
    Some(CounterSig {
        args,
        min,
        boolean: read == CounterRead::Tracked,
        of_src: of == CounterOf::Src,
    })
}

/// Builds the stick-table fetch `name` from its arguments.
pub(crate) fn build_counter(name: &str, args: &[ArgValue]) -> Option<Result<CounterFetch, String>> {
    let (of, numbered, read) = split(name)?;
    let str_at = |i: usize| args.get(i).and_then(ArgValue::as_str).map(str::to_owned);
    let fetch = match (of, numbered) {
        (CounterOf::Slot(_), None) => {
            let n = args.first().and_then(ArgValue::as_int).unwrap_or(0);
            match u8::try_from(n).ok().filter(|n| *n < STICK_COUNTERS) {
                Some(slot) => CounterFetch {
                    of: CounterOf::Slot(slot),
                    read,
                    table: str_at(1),
                },
                None => {
                    return Some(Err(format!(
                        "invalid stick counter value {n}: the maximum is {}",
                        STICK_COUNTERS - 1
                    )));
                }
            }
        }
        _ => CounterFetch {
            of,
            read,
            table: str_at(0),
        },
    };
    let fetch = CounterFetch {
        table: fetch.table.filter(|t| !t.is_empty()),
        ..fetch
    };
    Some(Ok(fetch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let b = |n: &str, a: &[ArgValue]| build_counter(n, a).unwrap().unwrap();
        assert_eq!(
            b("sc_http_req_rate", &[ArgValue::Int(1)]),
            CounterFetch {
                of: CounterOf::Slot(1),
                read: CounterRead::HttpReqRate,
                table: None
            }
        );
        assert_eq!(
            b("sc2_conn_cur", &[ArgValue::Str("t".into())]),
            CounterFetch {
                of: CounterOf::Slot(2),
                read: CounterRead::ConnCur,
                table: Some("t".into())
            }
        );
        assert_eq!(
            b("src_conn_rate", &[]),
            CounterFetch {
                of: CounterOf::Src,
                read: CounterRead::ConnRate,
                table: None
            }
        );
        assert!(build_counter("sc3_conn_cur", &[]).is_none());
        assert!(build_counter("sc_foo", &[]).is_none());
        assert!(build_counter("src", &[]).is_none());
        assert_eq!(
            build_counter("sc_conn_cur", &[ArgValue::Int(5)]).unwrap(),
            Err("invalid stick counter value 5: the maximum is 2".to_owned())
        );
        assert_eq!(counter_sig("sc_get_gpc0").unwrap().min, 1);
        assert!(counter_sig("sc0_tracked").unwrap().boolean);
        assert_eq!(counter_sig("table_cnt").unwrap().min, 0);
        assert!(counter_sig("src_inc_gpc0").unwrap().of_src);
    }
}
