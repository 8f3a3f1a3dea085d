//! `show table` and `clear table` of the runtime API, in HAProxy 2.6's format
//! (`table_dump_head_to_buffer()`, `table_dump_entry_to_buffer()`): a head line per table,
//! then one line per entry, by key, each with its data in HAProxy's order.

use std::fmt::Write as _;
use std::sync::Arc;

use super::data::{DataType, Repr, UNSUPPORTED};
use super::key::KeyType;
use super::table::{Entry, StickTable};
use super::tables::Tables;

/// A `data.TYPE OP VALUE` filter (`eq`, `ne`, `lt`, `le`, `gt`, `ge`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DataFilter {
    dt: DataType,
    op: Op,
    value: i64,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// What `show table NAME` (or `clear table NAME`) selects.
#[derive(Debug, Clone)]
pub(crate) enum Select {
    /// Every entry.
    All,
    /// `key K`.
    Key(Box<[u8]>),
    /// `data.X OP V [data.Y OP W...]`.
    Data(Vec<DataFilter>),
}

/// How many `data.` filters a command may have (HAProxy's `STKTABLE_FILTER_LEN`).
const FILTERS: usize = 4;

/// Reads the words after `show table NAME` (`clear`: after `clear table NAME`); the error is
/// HAProxy's reply (`cli_parse_table_req()`, `table_prepare_data_request()`,
/// `table_process_entry_per_key()`).
pub(crate) fn parse_select(
    table: &StickTable,
    words: &[&str],
    clear: bool,
) -> Result<Select, String> {
    match words {
        [] => Ok(Select::All),
        ["key", rest @ ..] => {
            let Some(text) = rest.first().filter(|k| !k.is_empty()) else {
                return Err("Key value expected\n".to_owned());
            };
            if matches!(table.key_type(), KeyType::Binary(_)) {
                let verb = if clear { "Removing keys from" } else { "Showing keys from" };
                return Err(format!(
                    "{verb} tables of type other than ip, ipv6, string and integer is not supported\n"
                ));
            }
            match table.key_type().parse(text) {
                Some(key) => Ok(Select::Key(key)),
                // HAProxy reads a bad IPv4 address as 0.0.0.0.
                None if table.key_type() == KeyType::Ip => Ok(Select::Key(Box::new([0; 4]))),
                None => Err("Invalid key\n".to_owned()),
            }
        }
        [first, ..] if first.starts_with("data.") => {
            let mut filters = Vec::new();
            let mut i = 0;
            while i < FILTERS {
                let at = |k: usize| words.get(3 * i + k).copied().unwrap_or_default();
                if i > 0 && at(0).is_empty() {
                    break;
                }
                let entry = i + 1;
                let name = at(0).get(5..).unwrap_or_default();
                let Some(dt) = DataType::by_name(name).or_else(|| known(name)) else {
                    return Err(format!("Filter entry #{entry}: Unknown data type\n"));
                };
                if !table.store().has(dt) || UNSUPPORTED.contains(&name) {
                    return Err(format!(
                        "Filter entry #{entry}: Data type not stored in this table\n"
                    ));
                }
                let op = match at(1) {
                    "eq" => Op::Eq,
                    "ne" => Op::Ne,
                    "lt" => Op::Lt,
                    "le" => Op::Le,
                    "gt" => Op::Gt,
                    "ge" => Op::Ge,
                    _ => {
                        return Err(format!(
                            "Filter entry #{entry}: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n"
                        ));
                    }
                };
                let Ok(value) = at(2).parse::<i64>() else {
                    return Err(format!(
                        "Filter entry #{entry}: Require a valid integer value to compare against\n"
                    ));
                };
                filters.push(DataFilter { dt, op, value });
                i += 1;
            }
            if let Some(extra) = words.get(3 * i).filter(|w| !w.is_empty()) {
                let _ = extra;
                return Err(format!(
                    "Detected extra data in filter, {}th word of input, after '{}'\n",
                    3 * i + 4,
                    words[3 * i - 1]
                ));
            }
            Ok(Select::Data(filters))
        }
        _ if clear => Err("Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n".to_owned()),
        _ => Err("Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n".to_owned()),
    }
}

/// A data type HAProxy 2.6 knows and the gateway never stores (so a filter on it matches
/// no table): any stored type stands for it, [`UNSUPPORTED`] decides.
fn known(name: &str) -> Option<DataType> {
    UNSUPPORTED.contains(&name).then_some(DataType::ServerId)
}

/// `# table: NAME, type: T, size:N, used:N` and a newline.
pub(crate) fn head(table: &StickTable, out: &mut String) {
    let _ = writeln!(
        out,
        "# table: {}, type: {}, size:{}, used:{}",
        table.name(),
        table.key_type().name(),
        table.size(),
        table.used()
    );
}

/// One entry's line. HAProxy starts it with the entry's address; the gateway writes its
/// own, stable for the entry's life.
pub(crate) fn entry(table: &StickTable, e: &Arc<Entry>, out: &mut String) {
    let _ = write!(out, "{:p}:", Arc::as_ptr(e));
    table.key_type().write_key(&e.key, out);
    let _ = write!(
        out,
        " use={} exp={}",
        e.refs.load(std::sync::atomic::Ordering::Relaxed),
        table.remaining(e)
    );
    table.read(e, |v| v.write_show(out));
    out.push('\n');
}

fn matches(table: &StickTable, e: &Entry, filters: &[DataFilter]) -> bool {
    filters.iter().all(|f| {
        let v = table.read(e, |v| v.get(f.dt)).unwrap_or(0);
        let v = match f.dt.repr() {
            Repr::Sint => i64::from(v as u32 as i32),
            _ => v as i64,
        };
        match f.op {
            Op::Eq => v == f.value,
            Op::Ne => v != f.value,
            Op::Lt => v < f.value,
            Op::Le => v <= f.value,
            Op::Gt => v > f.value,
            Op::Ge => v >= f.value,
        }
    })
}

/// The entries `select` picks, in order.
fn selected(table: &StickTable, select: &Select) -> Vec<Arc<Entry>> {
    match select {
        Select::All => table.entries(),
        Select::Key(key) => table.lookup(key).into_iter().collect(),
        Select::Data(filters) => table
            .entries()
            .into_iter()
            .filter(|e| matches(table, e, filters))
            .collect(),
    }
}

/// `show table`: the head line of every table.
pub(crate) fn show_all(tables: &Tables) -> String {
    let mut out = String::new();
    for t in tables.iter() {
        t.purge_expired();
        head(t, &mut out);
    }
    out
}

/// `show table NAME [key K | data.X OP V]`: its head line and the entries selected.
pub(crate) fn show(table: &StickTable, select: &Select) -> String {
    let entries = selected(table, select);
    let mut out = String::new();
    if matches!(select, Select::Key(_)) && entries.is_empty() {
        // HAProxy writes nothing for a key it does not have.
        return out;
    }
    head(table, &mut out);
    for e in &entries {
        entry(table, e, &mut out);
    }
    out
}

/// `clear table NAME [key K | data.X OP V]`: removes the untracked entries selected; a
/// key in use is HAProxy's error.
pub(crate) fn clear(table: &StickTable, select: &Select) -> String {
    let mut in_use = false;
    for e in selected(table, select) {
        in_use |= !table.remove(&e);
    }
    if in_use && matches!(select, Select::Key(_)) {
        return "Entry currently in use, cannot remove\n".to_owned();
    }
    String::new()
}
