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
