//! `global` keywords that change the process at start: `daemon`, `user`/`uid`,
//! `group`/`gid`, `chroot` (`cfg_parse_global()` in HAProxy 2.6's `src/cfgparse-global.c`:
//! the same messages, the same alerts that keep the first line). They fill
//! [`crate::model::Process`]; `crate::process` applies it once the listeners are open, and the
//! `spoe` command goes to the background for `daemon`.

use nix::unistd::{Group, User};
use spoe::config::reader::Line;

use super::lower::Lowerer;

/// `daemon`.
pub(super) fn daemon(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if !lw.too_many(line, 0, "daemon") {
        lw.global.process.daemon = true;
    }
}

/// `chroot DIR`.
pub(super) fn chroot(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if lw.too_many(line, 1, "chroot") {
        return;
    }
    if lw.global.process.chroot.is_some() {
        return lw.diag.warn_msg(
            line.span().clone(),
            "'chroot' already specified. Continuing.",
        );
    }
    match line.arg(1) {
        Some(dir) if !dir.as_str().is_empty() => {
            lw.global.process.chroot = Some(dir.as_str().into());
        }
        _ => lw.diag.error_msg(
            line.span().clone(),
            "'chroot' expects a directory as an argument.",
        ),
    }
}

/// `uid N` and `user NAME`.
pub(super) fn user(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let kw = line.keyword();
    if lw.too_many(line, 1, kw) {
        return;
    }
    if lw.global.process.uid != 0 {
        return lw.diag.warn_msg(
            line.span().clone(),
            "user/uid already specified. Continuing.",
        );
    }
    let arg = line.arg(1).map_or("", |w| w.as_str());
    let id = match kw {
        "uid" => numeric(lw, line, arg, "uid", "user"),
        _ => match User::from_name(arg) {
            Ok(Some(user)) => Some(user.uid.as_raw()),
            found => {
                return lw.diag.error_msg(
                    line.span().clone(),
                    format!("cannot find user id for '{arg}' ({})", errno(&found)),
                );
            }
        },
    };
    if let Some(id) = id {
        lw.global.process.uid = id;
    }
}

/// `gid N` and `group NAME`.
pub(super) fn group(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let kw = line.keyword();
    if lw.too_many(line, 1, kw) {
        return;
    }
    if lw.global.process.gid != 0 {
        let already = match kw {
            "gid" => "group/gid already specified. Continuing.",
            _ => "gid/group was already specified. Continuing.",
        };
        return lw.diag.warn_msg(line.span().clone(), already);
    }
    let arg = line.arg(1).map_or("", |w| w.as_str());
    let id = match kw {
        "gid" => numeric(lw, line, arg, "gid", "group"),
        _ => match Group::from_name(arg) {
            Ok(Some(group)) => Some(group.gid.as_raw()),
            found => {
                return lw.diag.error_msg(
                    line.span().clone(),
                    format!("cannot find group id for '{arg}' ({})", errno(&found)),
                );
            }
        },
    };
    if let Some(id) = id {
        lw.global.process.gid = id;
    }
}

/// `uid`/`gid`'s number; not a number is HAProxy's warning, and the line is ignored.
fn numeric(
    lw: &mut Lowerer<'_, '_>,
    line: &Line,
    arg: &str,
    kw: &str,
    by_name: &str,
) -> Option<u32> {
    if arg.is_empty() {
        lw.diag.error_msg(
            line.span().clone(),
            format!("'{kw}' expects an integer argument."),
        );
        return None;
    }
    let id = arg.parse::<u32>().ok();
    if id.is_none() {
        lw.diag.warn_msg(
            line.span().clone(),
            format!(
                "{kw}: string '{arg}' is not a number.\n   | You might want to use the \
                 '{by_name}' parameter to use a system {by_name} name."
            ),
        );
    }
    id
}

/// HAProxy's `(errno:strerror)` of a failed look-up: `(0:Success)` for a name that is not
/// there.
fn errno<T>(found: &nix::Result<Option<T>>) -> String {
    match found {
        Err(e) => format!("{}:{}", *e as i32, e.desc()),
        Ok(_) => "0:Success".to_owned(),
    }
}

/// `ulimit-n N` and `fd-hard-limit N` (`atol()`, as HAProxy: what is not a number is 0, no
/// limit asked).
pub(super) fn files_limit(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let kw = line.keyword();
    if lw.too_many(line, 1, kw) {
        return;
    }
    let files = &lw.global.process.files;
    let already = match kw {
        "ulimit-n" => files.ulimit_n.is_some(),
        _ => files.hard_limit.is_some(),
    };
    if already {
        // HAProxy's alert that keeps the first line.
        return lw.diag.warn_msg(
            line.span().clone(),
            format!("'{kw}' already specified. Continuing."),
        );
    }
    let Some(arg) = line.arg(1).map(|w| w.as_str()).filter(|a| !a.is_empty()) else {
        return lw.diag.error_msg(
            line.span().clone(),
            format!("'{kw}' expects an integer argument."),
        );
    };
    let digits: String = arg.chars().take_while(char::is_ascii_digit).collect();
    let n = digits.parse::<u64>().ok().filter(|n| *n > 0);
    let files = &mut lw.global.process.files;
    match kw {
        "ulimit-n" => files.ulimit_n = n,
        _ => files.hard_limit = n,
    }
}

/// `strict-limits` and `no strict-limits`.
pub(super) fn strict_limits(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if !lw.too_many(line, 0, "strict-limits") {
        lw.global.process.files.strict = line.modifier != spoe::config::reader::Modifier::No;
    }
}

/// `zero-warning`: a configuration with a warning is refused (see `config::GatewayConfig`).
pub(super) fn zero_warning(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if !lw.too_many(line, 0, "zero-warning") {
        lw.zero_warning = Some(line.span().clone());
    }
}

/// `localpeer NAME`: the name of this process in `peers` sections, which the gateway refuses
/// (stick tables are not supported); alone, it changes nothing HAProxy does either.
pub(super) fn localpeer(lw: &mut Lowerer<'_, '_>, line: &Line) {
    if lw.too_many(line, 1, "localpeer") {
        return;
    }
    if line.arg(1).is_none_or(|w| w.as_str().is_empty()) {
        lw.diag.error_msg(
            line.span().clone(),
            "'localpeer' expects a name as an argument.",
        );
    }
}
