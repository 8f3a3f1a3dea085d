//! Server state files (`server-state-file`, `server-state-base` in `global`;
//! `load-server-state-from-file`, `server-state-file-name` in proxies), as HAProxy 2.6 reads
//! them (`src/cfgparse-global.c`, `src/cfgparse-listen.c`, `src/server_state.c`).
//!
//! A file named by `server-state-file` is only read for a backend that says
//! `load-server-state-from-file global` (HAProxy's default is `none`), and one named by
//! `server-state-file-name` for `local`: naming a file alone changes nothing, in HAProxy as
//! here. The gateway does not load server states at start-up, so `load-server-state-from-file
//! global|local` is an error naming it.

use spoe::config::reader::Line;

use super::lower::{Lowerer, Proxy};

/// `server-state-file FILE` and `server-state-base DIR` (global): a path, used by nothing
/// unless a backend loads the file.
pub(super) fn global_path(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let kw = line.keyword();
    if line.arg(1).is_none() {
        let what = if kw == "server-state-base" {
            "a directory"
        } else {
            "a file name"
        };
        return lw.missing(line, kw, what);
    }
    lw.too_many(line, 1, kw);
}

/// `load-server-state-from-file global|local|none`.
pub(super) fn load_from_file(lw: &mut Lowerer<'_, '_>, p: &mut Proxy, line: &Line) {
    const KW: &str = "load-server-state-from-file";
    let Some(word) = line.arg(1) else {
        return lw.missing(line, KW, "'global', 'local' or 'none'");
    };
    if lw.too_many(line, 1, KW) {
        return;
    }
    if !p.has_backend() {
        return lw.not_capable(p, line.span(), KW);
    }
    match word.as_str() {
        "none" => {}
        how @ ("global" | "local") => lw.diag.error_msg(
            word.span().clone(),
            format!(
                "'{KW} {how}' is not supported by the gateway: it does not load server states \
                 at start-up (set them through the runtime API's 'set server' once it runs)"
            ),
        ),
        other => lw.diag.error_msg(
            word.span().clone(),
            format!("'{KW}' expects 'global', 'local' or 'none'. Got '{other}'"),
        ),
    }
}

/// `server-state-file-name [use-backend-name|FILE]`: the file `load-server-state-from-file
/// local` would read.
pub(super) fn file_name(lw: &mut Lowerer<'_, '_>, p: &mut Proxy, line: &Line) {
    const KW: &str = "server-state-file-name";
    if lw.too_many(line, 1, KW) {
        return;
    }
    if !p.has_backend() {
        lw.not_capable(p, line.span(), KW);
    }
}
