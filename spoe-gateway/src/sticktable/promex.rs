//! The stick tables' families of HAProxy's Prometheus exporter
//! (`promex_dump_sticktable_metrics()`): `haproxy_sticktable_size` and
//! `haproxy_sticktable_used`, labelled with the table's name and key type, the tables in
//! the order `show table` lists them.

use std::fmt::Write as _;

use super::tables::Tables;

/// Writes both families (nothing without tables).
pub(crate) fn render(tables: &Tables, out: &mut String) {
    if tables.is_empty() {
        return;
    }
    for (name, help, get) in [
        (
            "size",
            "Stick table size.",
            (|t: &super::table::StickTable| t.size()) as fn(&super::table::StickTable) -> usize,
        ),
        ("used", "Number of entries used in this stick table.", |t| {
            t.used()
        }),
    ] {
        let _ = writeln!(out, "# HELP haproxy_sticktable_{name} {help}");
        let _ = writeln!(out, "# TYPE haproxy_sticktable_{name} gauge");
        for t in tables.iter() {
            let _ = writeln!(
                out,
                "haproxy_sticktable_{name}{{name=\"{}\",type=\"{}\"}} {}",
                t.name().replace('\\', "\\\\").replace('"', "\\\""),
                t.key_type().name(),
                get(t)
            );
        }
    }
}
