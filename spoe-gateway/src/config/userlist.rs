//! `userlist NAME` sections (`cfg_parse_users()` in HAProxy 2.6's `src/cfgparse.c`, names
//! resolved as `userlist_postinit()` in `src/auth.c`): `user NAME [password HASH |
//! insecure-password PASS] [groups G,...]` and `group NAME [users U,...]`. What runs them is
//! `crate::auth`; the fetches that name a userlist must find it (`check_fetches`).

use spoe::config::reader::Section;
use spoe::expr::{AclSet, FetchKind, SampleExpr};

use super::diag::Diag;
use super::grammar::Kind;
use super::lower::{Lowerer, PendingList};
use crate::auth::{Password, User, Userlist};

impl Lowerer<'_, '_> {
    pub(super) fn userlist_section(&mut self, section: &Section<Kind>) {
        let header = &section.header;
        match header.arg(1) {
            None => self.diag.error_msg(
                section.span().clone(),
                "'userlist' expects <name> as arguments.",
            ),
            Some(_) if header.arg(2).is_some() => self.diag.error_msg(
                section.span().clone(),
                "'userlist' cannot handle unexpected argument.",
            ),
            Some(name) if !self.check_name(name, "userlist") => {}
            Some(name) if self.userlists.iter().any(|l| l.list.name == name.as_str()) => {
                self.diag.warn_msg(
                    section.span().clone(),
                    format!("ignoring duplicated userlist '{}'.", name.as_str()),
                );
            }
            Some(name) => self.userlists.push(PendingList {
                list: Userlist {
                    name: name.as_str().to_owned(),
                    ..Userlist::default()
                },
                ..PendingList::default()
            }),
        }
        // As HAProxy: the lines go to the last userlist declared (none: they are dropped).
        for line in &section.lines {
            let Some(current) = self.userlists.last_mut() else {
                continue;
            };
            let list_name = current.list.name.clone();
            let span = line.span().clone();
            match line.keyword() {
                "group" => {
                    let Some(name) = line.arg(1) else {
                        self.diag
                            .error_msg(span, "'group' expects <name> as arguments.");
                        continue;
                    };
                    if !self.check_name(name, "group") {
                        continue;
                    }
                    let current = self.userlists.last_mut().expect("checked above");
                    if current.list.groups.iter().any(|g| g == name.as_str()) {
                        self.diag.warn_msg(
                            span,
                            format!(
                                "ignoring duplicated group '{}' in userlist '{list_name}'.",
                                name.as_str()
                            ),
                        );
                        continue;
                    }
                    let mut users = None;
                    let mut i = 2;
                    let mut bad = false;
                    while let Some(opt) = line.arg(i) {
                        if opt.as_str() == "users" {
                            users = Some(line.arg_str(i + 1).unwrap_or_default().to_owned());
                            i += 2;
                        } else {
                            bad = true;
                            break;
                        }
                    }
                    if bad {
                        self.diag
                            .error_msg(span, "'group' only supports 'users' option.");
                        continue;
                    }
                    let current = self.userlists.last_mut().expect("checked above");
                    let index = current.list.groups.len();
                    current.list.groups.push(name.as_str().to_owned());
                    if let Some(users) = users {
                        current.group_users.push((index, users, span));
                    }
                }
                "user" => {
                    let Some(name) = line.arg_str(1) else {
                        self.diag
                            .error_msg(span, "'user' expects <name> as arguments.");
                        continue;
                    };
                    if current.list.users.iter().any(|u| u.name == name) {
                        self.diag.warn_msg(
                            span,
                            format!("ignoring duplicated user '{name}' in userlist '{list_name}'."),
                        );
                        continue;
                    }
                    let mut user = User {
                        name: name.to_owned(),
                        password: Password::None,
                        groups: Vec::new(),
                    };
                    let mut groups = None;
                    let mut i = 2;
                    let mut failed = false;
                    while let Some(opt) = line.arg(i) {
                        let value = line.arg_str(i + 1).unwrap_or_default().to_owned();
                        match opt.as_str() {
                            "password" => {
                                if !crate::auth::crypt_supported(&value) {
                                    self.diag.error_msg(
                                        line.arg(i + 1).map_or(span.clone(), |w| w.span().clone()),
                                        format!(
                                            "the encrypted password used for user '{name}' is not supported by crypt(3) (expected $1$, $5$, $6$, $2a$/$2b$/$2y$, $y$ or DES)."
                                        ),
                                    );
                                    failed = true;
                                    break;
                                }
                                user.password = Password::Crypt(value);
                            }
                            "insecure-password" => user.password = Password::Insecure(value),
                            "groups" => groups = Some(value),
                            _ => {
                                self.diag.error_msg(
                                    opt.span().clone(),
                                    "'user' only supports 'password', 'insecure-password' and 'groups' options.",
                                );
                                failed = true;
                                break;
                            }
                        }
                        i += 2;
                    }
                    // HAProxy keeps the user even when a later option fails (an error
                    // refuses the file anyway).
                    let current = self.userlists.last_mut().expect("checked above");
                    let index = current.list.users.len();
                    current.list.users.push(user);
                    if let (Some(groups), false) = (groups, failed) {
                        current.user_groups.push((index, groups, span));
                    }
                }
                other => self.diag.error_msg(
                    span,
                    format!("unknown keyword '{other}' in 'userlist' section"),
                ),
            }
        }
    }
}

/// Resolves the group and user names of each userlist (`userlist_postinit()`).
pub(super) fn resolve(pending: Vec<PendingList>, diag: &mut Diag) -> Vec<Userlist> {
    pending
        .into_iter()
        .map(|p| {
            let mut list = p.list;
            for (user, names, span) in p.user_groups {
                for g in names.split(',').filter(|g| !g.is_empty()) {
                    match list.groups.iter().position(|n| n == g) {
                        Some(gi) => list.users[user].groups.push(gi),
                        None => diag.error_msg(
                            span.clone(),
                            format!(
                                "userlist '{}': no such group '{g}' specified in user '{}'",
                                list.name, list.users[user].name
                            ),
                        ),
                    }
                }
            }
            for (group, names, span) in p.group_users {
                for u in names.split(',').filter(|u| !u.is_empty()) {
                    match list.users.iter().position(|n| n.name == u) {
                        Some(ui) => {
                            if !list.users[ui].groups.contains(&group) {
                                list.users[ui].groups.push(group);
                            }
                        }
                        None => diag.error_msg(
                            span.clone(),
                            format!(
                                "userlist '{}': no such user '{u}' specified in group '{}'",
                                list.name, list.groups[group]
                            ),
                        ),
                    }
                }
            }
            for u in &mut list.users {
                u.groups.sort_unstable();
            }
            list
        })
        .collect()
}

/// Every `http_auth(L)` and `http_auth_group(L)` of the proxies' ACLs (named or `{ ... }`)
/// names a userlist that exists (HAProxy's `smp_resolve_args()`).
pub(super) fn check_fetches<'a>(
    acls: impl Iterator<Item = &'a AclSet>,
    lists: &[Userlist],
    diag: &mut Diag,
) {
    for set in acls {
        for acl in set.iter() {
            for e in &acl.exprs {
                named_list(&e.criterion, lists, diag);
            }
        }
    }
}

/// The userlist an auth fetch names, or an error when it does not exist.
fn named_list<'l>(
    expr: &SampleExpr,
    lists: &'l [Userlist],
    diag: &mut Diag,
) -> Option<&'l Userlist> {
    let (FetchKind::HttpAuth { userlist } | FetchKind::HttpAuthGroup { userlist }) = expr.fetch()
    else {
        return None;
    };
    let found = lists.iter().find(|l| l.name == *userlist);
    if found.is_none() {
        diag.error_msg(
            expr.span().clone(),
            format!(
                "fetch method '{}' : unable to find userlist '{userlist}'",
                expr.fetch_name()
            ),
        );
    }
    found
}
