//! `peers NAME` sections (`cfg_parse_peers()` in `src/cfgparse.c`). The gateway runs the
//! common case: a section whose only peer is this process, which keeps the tables that
//! name it across reloads (HAProxy's old process hands them to the new one through its
//! local peer; the gateway hands them from one generation to the next). Peers on other
//! machines (synchronisation between instances) are an error: the gateway does not speak
//! the peers protocol.

use spoe::config::Span;
use spoe::config::reader::Section;

use super::grammar::Kind;
use super::lower::Lowerer;

impl Lowerer<'_, '_> {
    pub(super) fn peers_section(&mut self, section: &Section<Kind>) {
        let Some(name) = section.header.arg_str(1) else {
            self.diag.error_msg(
                section.span().clone(),
                "'peers' : missing name for peers section.",
            );
            return;
        };
        let mut peers: Vec<(String, Span)> = Vec::new();
        for line in &section.lines {
            let kw = line.keyword();
            match kw {
                "peer" | "server" => {
                    let peer = line.arg_str(1).unwrap_or_default().to_owned();
                    peers.push((peer, line.span().clone()));
                }
                // The local peer's listener: only other instances would connect to it.
                "bind" | "default-server" | "enabled" | "disabled" => {}
                "table" => self.diag.error_msg(
                    line.span().clone(),
                    "'table' in a 'peers' section is not supported by the gateway; declare the table with 'stick-table ... peers NAME' in a proxy",
                ),
                other => self.diag.error_msg(
                    line.span().clone(),
                    format!("'{other}' is not supported in a 'peers' section by the gateway"),
                ),
            }
        }
        if let [_, remote, ..] = peers.as_slice() {
            self.diag.error_msg(
                remote.1.clone(),
                format!(
                    "peers section '{name}': remote peer '{}' is not supported by the gateway (it does not synchronise stick tables between instances; a section whose only peer is this process keeps its tables across reloads)",
                    remote.0
                ),
            );
        }
        self.peers.push(name.to_owned());
    }
}
