//! What a stick table stores for each key (`store ...`, `stktable_data_types[]` in
//! `src/stick_table.c`): the data types in HAProxy's order, which is the order `show table`
//! prints them in, and the values of one entry.

use std::fmt::Write as _;

use super::freq::FreqCtr;

/// A data type a table may store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum DataType {
    ServerId,
    Gpt0,
    Gpc0,
    Gpc0Rate,
    ConnCnt,
    ConnRate,
    ConnCur,
    SessCnt,
    SessRate,
    HttpReqCnt,
    HttpReqRate,
    HttpErrCnt,
    HttpErrRate,
    BytesInCnt,
    BytesInRate,
    BytesOutCnt,
    BytesOutRate,
    Gpc1,
    Gpc1Rate,
    HttpFailCnt,
    HttpFailRate,
}

/// How a data type holds its value (`std_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repr {
    /// A signed 32-bit number (`server_id`).
    Sint,
    /// An unsigned 32-bit counter.
    Uint,
    /// An unsigned 64-bit counter (bytes).
    Ull,
    /// A rate over a period given in the `store` line.
    Rate,
}

/// Every data type, in HAProxy's order.
pub(crate) const DATA_TYPES: [DataType; 21] = [
    DataType::ServerId,
    DataType::Gpt0,
    DataType::Gpc0,
    DataType::Gpc0Rate,
    DataType::ConnCnt,
    DataType::ConnRate,
    DataType::ConnCur,
    DataType::SessCnt,
    DataType::SessRate,
    DataType::HttpReqCnt,
    DataType::HttpReqRate,
    DataType::HttpErrCnt,
    DataType::HttpErrRate,
    DataType::BytesInCnt,
    DataType::BytesInRate,
    DataType::BytesOutCnt,
    DataType::BytesOutRate,
    DataType::Gpc1,
    DataType::Gpc1Rate,
    DataType::HttpFailCnt,
    DataType::HttpFailRate,
];

/// HAProxy 2.6's data types the gateway does not store: `server_key` and the arrays, and the
/// bytes received from clients (the gateway does not count a request's bytes).
pub(crate) const UNSUPPORTED: &[&str] = &[
    "server_key",
    "gpt",
    "gpc",
    "gpc_rate",
    "bytes_in_cnt",
    "bytes_in_rate",
];

impl DataType {
    /// Its name in `store` and in `show table`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::ServerId => "server_id",
            Self::Gpt0 => "gpt0",
            Self::Gpc0 => "gpc0",
            Self::Gpc0Rate => "gpc0_rate",
            Self::ConnCnt => "conn_cnt",
            Self::ConnRate => "conn_rate",
            Self::ConnCur => "conn_cur",
            Self::SessCnt => "sess_cnt",
            Self::SessRate => "sess_rate",
            Self::HttpReqCnt => "http_req_cnt",
            Self::HttpReqRate => "http_req_rate",
            Self::HttpErrCnt => "http_err_cnt",
            Self::HttpErrRate => "http_err_rate",
            Self::BytesInCnt => "bytes_in_cnt",
            Self::BytesInRate => "bytes_in_rate",
            Self::BytesOutCnt => "bytes_out_cnt",
            Self::BytesOutRate => "bytes_out_rate",
            Self::Gpc1 => "gpc1",
            Self::Gpc1Rate => "gpc1_rate",
            Self::HttpFailCnt => "http_fail_cnt",
            Self::HttpFailRate => "http_fail_rate",
        }
    }

    /// The data type called `name`.
    pub(crate) fn by_name(name: &str) -> Option<Self> {
        DATA_TYPES
            .into_iter()
            .find(|d| d.name() == name && !UNSUPPORTED.contains(&name))
    }

    /// How it holds its value.
    pub(crate) fn repr(self) -> Repr {
        match self {
            Self::ServerId => Repr::Sint,
            Self::BytesInCnt | Self::BytesOutCnt => Repr::Ull,
            Self::Gpc0Rate
            | Self::ConnRate
            | Self::SessRate
            | Self::HttpReqRate
            | Self::HttpErrRate
            | Self::BytesInRate
            | Self::BytesOutRate
            | Self::Gpc1Rate
            | Self::HttpFailRate => Repr::Rate,
            _ => Repr::Uint,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a table stores: each data type's place in an entry's values, and the period of
/// each rate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Store {
    /// `(type, period in ms)`, in the order of the `store` lines.
    stored: Vec<(DataType, u32)>,
    /// Each type's index in `stored`.
    slot: [Option<u8>; DATA_TYPES.len()],
}

impl Store {
    /// Adds `dt` (with its period for a rate); `false` when it was already there.
    pub(crate) fn add(&mut self, dt: DataType, period: u32) -> bool {
        if self.slot[dt.index()].is_some() {
            return false;
        }
        self.slot[dt.index()] = u8::try_from(self.stored.len()).ok();
        self.stored.push((dt, period));
        true
    }

    /// Whether `dt` is stored.
    pub(crate) fn has(&self, dt: DataType) -> bool {
        self.slot[dt.index()].is_some()
    }

    /// The period of rate `dt`.
    pub(crate) fn period(&self, dt: DataType) -> Option<u32> {
        self.slot[dt.index()].map(|i| self.stored[usize::from(i)].1)
    }

    /// The values of a new entry: every counter at zero.
    pub(crate) fn fresh(&self) -> Box<[Value]> {
        self.stored
            .iter()
            .map(|(dt, _)| match dt.repr() {
                Repr::Rate => Value::Rate(FreqCtr::default()),
                _ => Value::Num(0),
            })
            .collect()
    }

    /// The stored types in HAProxy's order, with their periods.
    pub(crate) fn in_order(&self) -> impl Iterator<Item = (DataType, u32)> + '_ {
        DATA_TYPES
            .into_iter()
            .filter_map(|dt| self.period(dt).map(|p| (dt, p)))
    }
}

/// One stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    /// A counter or a number (its width is its type's: [`Repr`]).
    Num(u64),
    /// A rate.
    Rate(FreqCtr),
}

/// The values of one entry, read and changed through its table's [`Store`].
#[derive(Debug)]
pub(crate) struct Values<'a> {
    pub(crate) store: &'a Store,
    pub(crate) values: &'a mut [Value],
    /// The tick of the change.
    pub(crate) now: u32,
}

impl Values<'_> {
    fn at(&mut self, dt: DataType) -> Option<&mut Value> {
        let i = self.store.slot[dt.index()]?;
        self.values.get_mut(usize::from(i))
    }

    /// Adds `n` to counter `dt` (wrapping at its width), if stored.
    pub(crate) fn add(&mut self, dt: DataType, n: u64) {
        let wide = dt.repr() == Repr::Ull;
        if let Some(Value::Num(v)) = self.at(dt) {
            *v = if wide {
                v.wrapping_add(n)
            } else {
                u64::from((*v as u32).wrapping_add(n as u32))
            };
        }
    }

    /// Counts `n` events in rate `dt`, if stored.
    pub(crate) fn hit(&mut self, dt: DataType, n: u32) {
        let now = self.now;
        let period = self.store.period(dt).unwrap_or(0);
        if let Some(Value::Rate(f)) = self.at(dt) {
            f.add(now, period, n);
        }
    }

    /// A counter and its rate, as HAProxy moves them together (`http_req_cnt` and
    /// `http_req_rate`...).
    pub(crate) fn event(&mut self, cnt: DataType, rate: DataType) {
        self.add(cnt, 1);
        self.hit(rate, 1);
    }

    /// Sets number `dt`, if stored.
    pub(crate) fn set(&mut self, dt: DataType, n: u64) {
        if let Some(Value::Num(v)) = self.at(dt) {
            *v = n;
        }
    }

    /// Takes one from `conn_cur`, never below zero.
    pub(crate) fn leave(&mut self) {
        if let Some(Value::Num(v)) = self.at(DataType::ConnCur) {
            *v = v.saturating_sub(1);
        }
    }

    /// The value of `dt` as a fetch reads it: a rate over its period (`None`: not stored).
    pub(crate) fn get(&self, dt: DataType) -> Option<u64> {
        let i = self.store.slot[dt.index()]?;
        Some(match self.values[usize::from(i)] {
            Value::Num(n) => n,
            Value::Rate(f) => u64::from(f.read(self.now, self.store.period(dt).unwrap_or(0))),
        })
    }

    /// ` name(period)=value` for each stored type, as `show table` writes them.
    pub(crate) fn write_show(&self, out: &mut String) {
        for (dt, period) in self.store.in_order() {
            let v = self.get(dt).unwrap_or(0);
            let _ = match dt.repr() {
                Repr::Rate => write!(out, " {}({period})={v}", dt.name()),
                Repr::Sint => write!(out, " {}={}", dt.name(), v as u32 as i32),
                Repr::Uint => write!(out, " {}={}", dt.name(), v as u32),
                Repr::Ull => write!(out, " {}={v}", dt.name()),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_show_in_haproxys_order() {
        let mut store = Store::default();
        assert!(store.add(DataType::HttpReqRate, 10_000));
        assert!(store.add(DataType::ConnCur, 0));
        assert!(store.add(DataType::Gpc0, 0));
        assert!(!store.add(DataType::Gpc0, 0));
        let mut values = store.fresh();
        let mut v = Values {
            store: &store,
            values: &mut values,
            now: 100_000,
        };
        v.event(DataType::HttpReqCnt, DataType::HttpReqRate);
        v.add(DataType::ConnCur, 1);
        v.add(DataType::Gpc0, 3);
        v.leave();
        v.leave();
        let mut out = String::new();
        v.write_show(&mut out);
        assert_eq!(out, " gpc0=3 conn_cur=0 http_req_rate(10000)=1");
        assert_eq!(v.get(DataType::HttpReqCnt), None);
        assert_eq!(
            DataType::by_name("bytes_out_rate"),
            Some(DataType::BytesOutRate)
        );
    }
}
