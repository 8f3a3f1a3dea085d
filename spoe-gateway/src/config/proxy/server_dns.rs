//! The settings of a server named by a host name (`srv_parse_resolvers()`,
//! `srv_parse_resolve_*()`, `srv_parse_init_addr()` in `src/server.c`): `resolvers NAME`,
//! `resolve-prefer ipv4|ipv6`, `resolve-opts allow-dup-ip|ignore-weight|prevent-dup-ip`,
//! `resolve-net NET[,NET...]`, `init-addr last,libc,none,IP`; and the address a server
//! starts with (`srv_iterate_initaddr()`).

use std::net::{IpAddr, SocketAddr};

use spoe::config::Span;
use spoe::config::reader::Word;

use super::conn::parse_net;
use crate::config::addr::{ServerAddress, resolve_libc};
use crate::config::dns_settings::{DnsSettings, InitAddr};
use crate::config::keywords::{Keyword, Use};
use crate::config::lower::{Lowerer, ServerSettings};
use crate::resolve::{Prefer, ServerDns};

/// The DNS settings of `server` and `default-server` lines.
pub(in crate::config) const DNS_SETTINGS: &[Keyword<()>] = &[
    Keyword {
        name: "resolvers",
        handler: (),
        uses: Use::Runs(&[("Server.dns", "generation/resolution.rs")]),
    },
    Keyword {
        name: "resolve-prefer",
        handler: (),
        uses: Use::Runs(&[("Server.dns", "generation/resolution.rs")]),
    },
    Keyword {
        name: "resolve-opts",
        handler: (),
        uses: Use::Runs(&[("Server.dns", "generation/resolution.rs")]),
    },
    Keyword {
        name: "resolve-net",
        handler: (),
        uses: Use::Runs(&[("Server.dns", "generation/resolution.rs")]),
    },
    Keyword {
        name: "init-addr",
        handler: (),
        uses: Use::Runs(&[("Server.addr", "generation/mod.rs")]),
    },
];

/// Where a server starts.
pub(in crate::config) struct Start {
    pub(in crate::config) addr: SocketAddr,
    pub(in crate::config) fqdn: Option<String>,
    pub(in crate::config) dns: Option<ServerDns>,
}

impl Lowerer<'_, '_> {
    /// Reads the DNS setting `words[*i]` (and its value, `*i` left on it); `false` after an
    /// error.
    pub(super) fn dns_setting(
        &mut self,
        words: &[Word],
        i: &mut usize,
        label: &str,
        s: &mut DnsSettings,
    ) -> bool {
        let key = words[*i].as_str();
        let Some(value) = words.get(*i + 1) else {
            self.diag.error_msg(
                words[*i].span().clone(),
                format!("'{label}' : '{key}' expects an argument"),
            );
            return false;
        };
        *i += 1;
        let text = value.as_str();
        let bad = |what: String| (value.span().clone(), format!("'{label}' : {what}"));
        let result: Result<(), (Span, String)> = match key {
            "resolvers" => {
                s.resolvers = Some((text.to_owned(), value.span().clone()));
                Ok(())
            }
            "resolve-prefer" => match text {
                "ipv4" => {
                    s.prefer = Prefer::V4;
                    Ok(())
                }
                "ipv6" => {
                    s.prefer = Prefer::V6;
                    Ok(())
                }
                other => Err(bad(format!(
                    "'{key}' expects either ipv4 or ipv6 as argument, got '{other}'."
                ))),
            },
            "resolve-opts" => text.split(',').try_for_each(|opt| match opt {
                "allow-dup-ip" => {
                    s.allow_dup_ip = true;
                    Ok(())
                }
                "prevent-dup-ip" => {
                    s.allow_dup_ip = false;
                    Ok(())
                }
                // It only weighs the servers of SRV records, which the gateway refuses.
                "ignore-weight" => Ok(()),
                other => Err(bad(format!(
                    "'{key}' : unknown resolve-opts option '{other}', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'."
                ))),
            }),
            "resolve-net" => {
                let mut nets = Vec::new();
                let parsed = text.split(',').try_for_each(|n| match parse_net(n) {
                    Some(net) => {
                        nets.push(net);
                        Ok(())
                    }
                    None => Err(bad(format!("'{key}' : invalid network '{n}'."))),
                });
                s.nets = nets;
                parsed
            }
            _ => {
                let mut methods = Vec::new();
                let parsed = text.split(',').try_for_each(|m| {
                    let method = match m {
                        "last" => InitAddr::Last,
                        "libc" => InitAddr::Libc,
                        "none" => InitAddr::None,
                        ip => match ip.parse::<IpAddr>() {
                            Ok(ip) if methods.iter().any(|m| matches!(m, InitAddr::Ip(_))) => {
                                return Err(bad(format!(
                                    "'{key}' : initial address already specified, cannot add '{ip}'."
                                )));
                            }
                            Ok(ip) => InitAddr::Ip(ip),
                            Err(_) => {
                                return Err(bad(format!(
                                    "'{key}' : unknown init-addr method '{m}', supported methods are 'libc', 'last', 'none'."
                                )));
                            }
                        },
                    };
                    methods.push(method);
                    Ok(())
                });
                s.init_addr = Some(methods);
                parsed
            }
        };
        match result {
            Ok(()) => true,
            Err((at, msg)) => {
                self.diag.error_msg(at, msg);
                false
            }
        }
    }

    /// Where the server of `label` at `address` starts (`srv_iterate_initaddr()`): an IP
    /// address as written; a host name by its `init-addr` methods in order (`last` has no
    /// state file to read here: a reload starts from the last answer anyway). `None` after an
    /// error.
    pub(super) fn server_start(
        &mut self,
        address: ServerAddress,
        settings: &ServerSettings,
        label: &str,
        at: &Span,
    ) -> Option<Start> {
        let dns_settings = &settings.dns;
        let Some(fqdn) = address.fqdn else {
            return Some(Start {
                addr: address.addr,
                fqdn: None,
                dns: None,
            });
        };
        if fqdn.starts_with('_') {
            self.diag.error_msg(
                at.clone(),
                format!("'{label}' : '{fqdn}' : SRV records are not supported by the gateway (A and AAAA only)"),
            );
            return None;
        }
        if let Some((name, at)) = &dns_settings.resolvers
            && !self.global.resolvers.iter().any(|r| &r.name == name)
        {
            // HAProxy's `resolvers_finalize()` says it once every section is read; a
            // `resolvers` section after the proxies that name it is read as well here.
            if !self.resolvers_ahead.contains(name) {
                self.diag.error_msg(
                    at.clone(),
                    format!("'{label}' : unable to find required resolvers '{name}'"),
                );
                return None;
            }
        }
        let dns = dns_settings.resolvers.as_ref().map(|(name, _)| ServerDns {
            fqdn: fqdn.clone(),
            resolvers: name.clone(),
            prefer: dns_settings.prefer,
            allow_dup_ip: dns_settings.allow_dup_ip,
            nets: dns_settings.nets.clone(),
        });
        let methods = dns_settings
            .init_addr
            .clone()
            .unwrap_or_else(|| vec![InitAddr::Last, InitAddr::Libc]);
        let mut addr = address.addr;
        let mut found = false;
        // As HAProxy, `none` and an IP warn only after a method that failed.
        let mut failed = false;
        for method in &methods {
            match method {
                InitAddr::Last => {}
                InitAddr::Libc => match resolve_libc(&fqdn, addr.port()) {
                    Some(ip) => {
                        addr.set_ip(ip);
                        found = true;
                    }
                    None => failed = true,
                },
                InitAddr::None => {
                    if failed {
                        self.diag.warn_msg(
                            at.clone(),
                            format!(
                                "'{label}' : could not resolve address '{fqdn}', disabling server."
                            ),
                        );
                    }
                    found = true;
                }
                InitAddr::Ip(ip) => {
                    if failed {
                        self.diag.warn_msg(
                            at.clone(),
                            format!("'{label}' : could not resolve address '{fqdn}', falling back to configured address."),
                        );
                    }
                    addr.set_ip(*ip);
                    found = true;
                }
            }
            if found {
                break;
            }
        }
        if !found {
            let msg = if !failed {
                format!("'{label}' : no method found to resolve address '{fqdn}'.")
            } else {
                format!("'{label}' : could not resolve address '{fqdn}'.")
            };
            self.diag.error_msg(at.clone(), msg);
            return None;
        }
        Some(Start {
            addr,
            fqdn: Some(fqdn),
            dns,
        })
    }
}
