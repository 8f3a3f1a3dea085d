//! Tracking: a stream's stick counters (`track-sc0..2`), what they count as the stream goes
//! (HAProxy's `stream_start_counters()`, `stream_inc_http_req_ctr()`...), and the `sc_*`,
//! `src_*` and `table_*` fetches that read them.

use std::sync::Arc;

use spoe::expr::{CounterFetch, CounterOf, CounterRead, STICK_COUNTERS, Sample};

use super::data::{DataType, Values};
use super::table::{Entry, StickTable};
use super::tables::Tables;

/// An entry a stream tracks: it neither expires nor is evicted until dropped, and
/// `conn_cur` counts it meanwhile.
#[derive(Debug)]
pub(crate) struct Tracked {
    table: Arc<StickTable>,
    entry: Arc<Entry>,
}

impl Tracked {
    /// Starts tracking `key` in `table` (created when missing): `conn_cur`, `conn_cnt` and
    /// `conn_rate` count one more, as HAProxy's `stream_track_stkctr()`. `None` when the table
    /// is full of tracked entries (or `nopurge`).
    pub(crate) fn start(table: &Arc<StickTable>, key: Box<[u8]>) -> Option<Self> {
        let entry = table.get_or_create(key)?;
        table.update(&entry, |v| {
            v.add(DataType::ConnCur, 1);
            v.event(DataType::ConnCnt, DataType::ConnRate);
        });
        Some(Self {
            table: table.clone(),
            entry,
        })
    }

    /// Changes its values (and touches it).
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut Values<'_>) -> R) -> R {
        self.table.update(&self.entry, f)
    }

    /// The table.
    pub(crate) fn table(&self) -> &Arc<StickTable> {
        &self.table
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        // HAProxy's `stream_store_counters()`.
        self.table.update(&self.entry, |v| v.leave());
        self.table.release(&self.entry);
    }
}

/// A stream's stick counters, and the tables its fetches may name.
#[derive(Debug, Default)]
pub(crate) struct StreamCounters {
    tables: Option<Arc<Tables>>,
    slots: [Option<Tracked>; STICK_COUNTERS as usize],
    /// The table of the proxy whose rules run: `src_*` and `table_*` without a table name
    /// read it.
    current: Option<Arc<StickTable>>,
}

impl StreamCounters {
    /// The counters of a stream of a configuration with `tables` (none tracked yet).
    pub(crate) fn new(tables: &Arc<Tables>) -> Self {
        Self {
            tables: (!tables.is_empty()).then(|| tables.clone()),
            ..Self::default()
        }
    }

    /// The rules of proxy `name` run now.
    pub(crate) fn enter_proxy(&mut self, name: &str) {
        if let Some(tables) = &self.tables {
            self.current = tables.get(name).cloned();
        }
    }

    /// The table called `name`.
    pub(crate) fn table(&self, name: &str) -> Option<&Arc<StickTable>> {
        self.tables.as_ref()?.get(name)
    }

    /// `track-scN KEY [table T]`: does nothing when counter `slot` already tracks an entry, or
    /// the key has no value; else tracks it and counts an HTTP request (`http_req_cnt`,
    /// `http_req_rate`), as HAProxy's `http_action_track_sc()`.
    pub(crate) fn track(&mut self, slot: u8, table: &str, key: Option<&Sample>) {
        let Some(place) = self.slots.get_mut(usize::from(slot)) else {
            return;
        };
        if place.is_some() {
            return;
        }
        let Some(table) = self.tables.as_ref().and_then(|t| t.get(table)) else {
            return;
        };
        let Some(key) = key.and_then(|k| table.key_type().key(k)) else {
            return;
        };
        if let Some(tracked) = Tracked::start(table, key) {
            tracked.update(|v| v.event(DataType::HttpReqCnt, DataType::HttpReqRate));
            *place = Some(tracked);
        }
    }

    /// Counts in every tracked entry.
    fn each(&self, mut f: impl FnMut(&mut Values<'_>)) {
        for t in self.slots.iter().flatten() {
            t.update(&mut f);
        }
    }

    /// A request was denied (`deny`, `tarpit`): `http_err_cnt` and `http_err_rate`, as
    /// HAProxy's `stream_inc_http_err_ctr()`.
    pub(crate) fn denied(&self) {
        self.each(|v| v.event(DataType::HttpErrCnt, DataType::HttpErrRate));
    }

    /// The server answered `status`: a 4xx is an error of the client (`http_err_*`), a 5xx
    /// but 501 and 505 a failure (`http_fail_*`).
    pub(crate) fn response(&self, status: u16) {
        match status {
            400..=499 => self.denied(),
            500..=599 if status != 501 && status != 505 => {
                self.each(|v| v.event(DataType::HttpFailCnt, DataType::HttpFailRate));
            }
            _ => {}
        }
    }

    /// The bytes sent to the client, counted when the response ends (`bytes_out_cnt`,
    /// `bytes_out_rate`; HAProxy counts them as they go).
    pub(crate) fn bytes_out(&self, bytes: u64) {
        if self.slots.iter().all(Option::is_none) {
            return;
        }
        self.each(|v| {
            v.add(DataType::BytesOutCnt, bytes);
            v.hit(
                DataType::BytesOutRate,
                u32::try_from(bytes).unwrap_or(u32::MAX),
            );
        });
    }

    /// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`: the counter and its rate, on counter `slot`'s entry.
    pub(crate) fn inc_gpc(&self, slot: u8, which: u8) {
        if let Some(Some(t)) = self.slots.get(usize::from(slot)) {
            t.update(|v| inc_gpc(v, which));
        }
    }

    /// `sc-set-gpt0(N) VALUE`.
    pub(crate) fn set_gpt0(&self, slot: u8, value: i64) {
        if let Some(Some(t)) = self.slots.get(usize::from(slot)) {
            t.update(|v| v.set(DataType::Gpt0, u64::from(value as u32)));
        }
    }

    /// A stick-table fetch (`src` is the client's address, for `src_*`).
    pub(crate) fn fetch(
        &self,
        f: &CounterFetch,
        src: impl FnOnce() -> Option<Sample>,
    ) -> Option<Sample> {
        let named = |name: &Option<String>| match name {
            Some(n) => self.table(n).cloned(),
            None => self.current.clone(),
        };
        match f.of {
            CounterOf::Table => {
                let table = named(&f.table)?;
                let used = table.used() as i64;
                Some(Sample::Int(match f.read {
                    CounterRead::Avl => table.size() as i64 - used,
                    _ => used,
                }))
            }
            CounterOf::Slot(n) => {
                let tracked = self.slots.get(usize::from(n))?.as_ref();
                if f.read == CounterRead::Tracked {
                    return Some(Sample::Bool(tracked.is_some()));
                }
                let tracked = tracked?;
                match &f.table {
                    None => read(tracked.table(), Some(&tracked.entry), f.read),
                    Some(other) => {
                        let other = self.table(other)?;
                        let entry = other.lookup(&tracked.entry.key);
                        read(other, entry.as_ref(), f.read)
                    }
                }
            }
            CounterOf::Src => {
                let table = named(&f.table)?;
                let key = table.key_type().key(&src()?)?;
                let creates = matches!(
                    f.read,
                    CounterRead::IncGpc0
                        | CounterRead::IncGpc1
                        | CounterRead::ClrGpc0
                        | CounterRead::ClrGpc1
                        | CounterRead::UpdtConnCnt
                );
                if creates {
                    let entry = table.get_or_create(key)?;
                    let out = read(&table, Some(&entry), f.read);
                    table.release(&entry);
                    out
                } else {
                    let entry = table.lookup(&key);
                    read(&table, entry.as_ref(), f.read)
                }
            }
        }
    }
}

fn inc_gpc(v: &mut Values<'_>, which: u8) -> Option<u64> {
    let (cnt, rate) = if which == 0 {
        (DataType::Gpc0, DataType::Gpc0Rate)
    } else {
        (DataType::Gpc1, DataType::Gpc1Rate)
    };
    v.hit(rate, 1);
    v.add(cnt, 1);
    v.get(cnt)
}

/// What `read` makes of an entry (`None`: no entry, which reads 0 as in HAProxy).
fn read(table: &StickTable, entry: Option<&Arc<Entry>>, what: CounterRead) -> Option<Sample> {
    use CounterRead as R;
    use DataType as D;
    let Some(entry) = entry else {
        return Some(Sample::Int(0));
    };
    let get = |dt: DataType| table.read(entry, |v| v.get(dt));
    let value = match what {
        R::ConnCnt => get(D::ConnCnt),
        R::ConnCur => get(D::ConnCur),
        R::ConnRate => get(D::ConnRate),
        R::SessCnt => get(D::SessCnt),
        R::SessRate => get(D::SessRate),
        R::HttpReqCnt => get(D::HttpReqCnt),
        R::HttpReqRate => get(D::HttpReqRate),
        R::HttpErrCnt => get(D::HttpErrCnt),
        R::HttpErrRate => get(D::HttpErrRate),
        R::HttpFailCnt => get(D::HttpFailCnt),
        R::HttpFailRate => get(D::HttpFailRate),
        R::BytesInRate => get(D::BytesInRate),
        R::BytesOutRate => get(D::BytesOutRate),
        R::KbytesIn => get(D::BytesInCnt).map(|b| b >> 10),
        R::KbytesOut => get(D::BytesOutCnt).map(|b| b >> 10),
        R::GetGpc0 => get(D::Gpc0),
        R::GetGpc1 => get(D::Gpc1),
        R::GetGpt0 => get(D::Gpt0),
        R::Gpc0Rate => get(D::Gpc0Rate),
        R::Gpc1Rate => get(D::Gpc1Rate),
        R::IncGpc0 | R::IncGpc1 => {
            let which = u8::from(what == R::IncGpc1);
            let store = table.store();
            let (cnt, rate) = if which == 0 {
                (D::Gpc0, D::Gpc0Rate)
            } else {
                (D::Gpc1, D::Gpc1Rate)
            };
            if !store.has(cnt) && !store.has(rate) {
                return None;
            }
            Some(table.update(entry, |v| inc_gpc(v, which)).unwrap_or(0))
        }
        R::ClrGpc0 | R::ClrGpc1 => {
            let cnt = if what == R::ClrGpc0 { D::Gpc0 } else { D::Gpc1 };
            table.update(entry, |v| {
                let before = v.get(cnt);
                v.set(cnt, 0);
                before
            })
        }
        R::UpdtConnCnt => table.update(entry, |v| {
            v.add(D::ConnCnt, 1);
            v.get(D::ConnCnt)
        }),
        R::Trackers => Some(u64::from(
            entry.refs.load(std::sync::atomic::Ordering::Relaxed),
        )),
        R::Tracked | R::Avl | R::Cnt => None,
        _ => None,
    }?;
    Some(Sample::Int(value as i64))
}
