//! Sections to typed configuration: each section's directives (see [`super::directives`]),
//! then the checks across sections that `parse_spoe_flt()` makes (`src/flt_spoe.c`). Every
//! error is collected.

use std::path::Path;
use std::sync::Arc;

use super::agent::{AgentConfig, VarName};
use super::directives::{
    AgentBuilder, GroupBuilder, MessageBuilder, agent_directive, group_directive, message_directive,
};
use super::error::{ConfigErrorKind, ConfigWarningKind, Diagnostics, SectionKind};
use super::message::{GroupConfig, MessageConfig};
use super::parse::Document;
use super::reader::Section;
use super::reader::is_name_char;
use super::span::Span;
use crate::expr::{AclContext, AclSet};

/// Lowers the sections of the selected scope into the agent's configuration. `None` when an
/// error makes an agent impossible to build (the errors are in `diags`).
pub(crate) fn lower(
    doc: &Document,
    file: &Arc<Path>,
    engine: Option<&str>,
    base_dir: &Path,
    diags: &mut Diagnostics,
) -> Option<AgentConfig> {
    let cx = AclContext { base_dir };
    let mut agent: Option<AgentBuilder> = None;
    let mut messages: Vec<MessageBuilder> = Vec::new();
    let mut groups: Vec<GroupBuilder> = Vec::new();

    for section in &doc.sections {
        let Some(name) = header(section, diags) else {
            continue;
        };
        match section.kind {
            SectionKind::Agent => {
                let mut builder = AgentBuilder::new(name, section.span().clone());
                for d in &section.lines {
                    agent_directive(&mut builder, d, diags);
                }
                if let Some(first) = &agent {
                    diags.error(
                        section.span().clone(),
                        ConfigErrorKind::DuplicateAgent {
                            first: first.span.clone(),
                        },
                    );
                } else {
                    agent = Some(builder);
                }
            }
            SectionKind::Message => {
                if let Some(first) = messages.iter().find(|m| m.name == name) {
                    diags.error(
                        section.header.words[1].span().clone(),
                        ConfigErrorKind::DuplicateSection {
                            section: SectionKind::Message,
                            name: name.clone(),
                            first: first.span.clone(),
                        },
                    );
                    continue;
                }
                let mut builder = MessageBuilder {
                    name,
                    span: section.span().clone(),
                    args: Vec::new(),
                    event: None,
                    cond: None,
                    acls: AclSet::new(),
                    misspelt: false,
                };
                for d in &section.lines {
                    message_directive(&mut builder, d, &cx, diags);
                }
                messages.push(builder);
            }
            SectionKind::Group => {
                if let Some(first) = groups.iter().find(|g| g.name == name) {
                    diags.error(
                        section.header.words[1].span().clone(),
                        ConfigErrorKind::DuplicateSection {
                            section: SectionKind::Group,
                            name: name.clone(),
                            first: first.span.clone(),
                        },
                    );
                    continue;
                }
                let mut builder = GroupBuilder {
                    name,
                    span: section.span().clone(),
                    messages: Vec::new(),
                };
                for d in &section.lines {
                    group_directive(&mut builder, d, diags);
                }
                groups.push(builder);
            }
        }
    }

    let Some(agent) = agent else {
        if misplaced_in(diags, file) {
            // The agent's section header is the misplaced line already reported.
            return None;
        }
        diags.error(
            Span::file(file.clone()),
            ConfigErrorKind::NoAgent {
                engine: engine.map(str::to_owned),
            },
        );
        return None;
    };
    finish(agent, messages, groups, engine, diags)
}

/// The checks of `parse_spoe_flt()` once the file is read.
fn finish(
    agent: AgentBuilder,
    messages: Vec<MessageBuilder>,
    groups: Vec<GroupBuilder>,
    engine: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<AgentConfig> {
    let errors_before = diags.errors.len();
    // A misspelt section header was reported: the messages and groups it
    // would have defined are missing as a consequence, not reported again.
    let misplaced = misplaced_in(diags, &agent.span.file);
    let use_backend = agent.use_backend.clone();
    // What the misspelt keywords of the agent were meant to be: what follows from their
    // absence (no backend, no prefix, missing timeouts, no message) is not reported again.
    let meant = misspelt_in_agent(diags, &agent.span.file);
    let meant_any = |k: &str| {
        meant
            .iter()
            .any(|m| m == k || m.starts_with(&format!("{k} ")))
    };
    if use_backend.is_none() && !meant_any("use-backend") {
        diags.error(
            agent.span.clone(),
            ConfigErrorKind::NoBackend {
                agent: agent.id.clone(),
            },
        );
    }
    let missing: Vec<&'static str> = [
        ("hello", agent.timeout_hello),
        ("idle", agent.timeout_idle),
        ("processing", agent.timeout_processing),
    ]
    .into_iter()
    .filter(|(n, t)| {
        !matches!(t, Some(Some(_)))
            && !meant
                .iter()
                .any(|m| m == "timeout" || *m == format!("timeout {n}"))
    })
    .map(|(n, _)| n)
    .collect();
    if !missing.is_empty() {
        diags.warn(
            agent.span.clone(),
            ConfigWarningKind::MissingTimeouts {
                agent: agent.id.clone(),
                missing,
            },
        );
    }
    let var_prefix = match &agent.var_prefix {
        Some(p) => Some(p.clone()),
        None => match agent.id.parse::<VarName>() {
            Ok(p) => Some(p),
            Err(_) if meant_any("option") => None,
            Err(_) => {
                diags.error(
                    agent.span.clone(),
                    ConfigErrorKind::DefaultVarPrefix {
                        agent: agent.id.clone(),
                    },
                );
                None
            }
        },
    };

    let misspelt_messages: Vec<String> = messages
        .iter()
        .filter(|m| m.misspelt)
        .map(|m| m.name.clone())
        .collect();
    let messages: Vec<Arc<MessageConfig>> = messages
        .into_iter()
        .map(|m| {
            Arc::new(MessageConfig {
                name: m.name,
                span: m.span,
                args: m.args,
                event: m.event.map(|(e, _)| e),
                cond: m.cond,
                acls: m.acls,
            })
        })
        .collect();
    let find_message = |name: &str| messages.iter().find(|m| m.name == name);

    let mut bound = Vec::new();
    let mut used_groups: Vec<GroupConfig> = Vec::new();
    let mut used_message_names: Vec<&str> = Vec::new();
    if agent.messages.is_empty() && agent.groups.is_empty() {
        if meant_any("messages") || meant_any("groups") {
            // The misspelt line was the list.
        } else {
            diags.warn(
                agent.span.clone(),
                ConfigWarningKind::NoMessages {
                    agent: agent.id.clone(),
                },
            );
        }
    } else {
        for reference in &agent.messages {
            let Some(message) = find_message(reference.as_str()) else {
                if !misplaced {
                    diags.error(
                        reference.span().clone(),
                        ConfigErrorKind::UndefinedMessage {
                            agent: agent.id.clone(),
                            name: reference.as_str().to_owned(),
                        },
                    );
                }
                continue;
            };
            used_message_names.push(reference.as_str());
            let Some(event) = message.event else {
                // At the message, as HAProxy reports it; not when its `event` line was
                // misspelt (that error says it).
                if !misspelt_messages.contains(&message.name) {
                    diags.warn(
                        message.span.clone(),
                        ConfigWarningKind::MessageWithoutEvent {
                            message: message.name.clone(),
                        },
                    );
                }
                continue;
            };
            let mut available = true;
            for arg in &message.args {
                if !event.provides(arg.expr.source()) {
                    available = false;
                    diags.error(
                        arg.expr.span().clone(),
                        ConfigErrorKind::FetchNotAvailable {
                            message: message.name.clone(),
                            arg: if arg.name.is_empty() {
                                arg.expr.text().to_owned()
                            } else {
                                arg.name.clone()
                            },
                            fetch: arg.expr.fetch_name().to_owned(),
                            needs: arg.expr.source().describe(),
                            event: event.to_string(),
                        },
                    );
                }
            }
            if available {
                bound.push(message.clone());
            }
        }
        // HAProxy lets each message belong to one group of the agent.
        let mut owner: Vec<(String, String, Span)> = Vec::new();
        for reference in &agent.groups {
            let Some(group) = groups.iter().find(|g| g.name == reference.as_str()) else {
                if !misplaced {
                    diags.error(
                        reference.span().clone(),
                        ConfigErrorKind::UndefinedGroup {
                            agent: agent.id.clone(),
                            name: reference.as_str().to_owned(),
                        },
                    );
                }
                continue;
            };
            let mut members = Vec::new();
            for m in &group.messages {
                let Some(message) = find_message(m.as_str()) else {
                    if !misplaced {
                        diags.error(
                            m.span().clone(),
                            ConfigErrorKind::UndefinedGroupMessage {
                                group: group.name.clone(),
                                name: m.as_str().to_owned(),
                            },
                        );
                    }
                    continue;
                };
                if let Some((_, first, at)) = owner.iter().find(|(msg, _, _)| msg == m.as_str()) {
                    diags.error(
                        m.span().clone(),
                        ConfigErrorKind::MessageInTwoGroups {
                            message: m.as_str().to_owned(),
                            group: first.clone(),
                            at: at.clone(),
                        },
                    );
                    continue;
                }
                owner.push((
                    m.as_str().to_owned(),
                    group.name.clone(),
                    group.span.clone(),
                ));
                used_message_names.push(m.as_str());
                members.push(message.clone());
            }
            used_groups.push(GroupConfig {
                name: group.name.clone(),
                span: group.span.clone(),
                messages: members,
            });
        }
    }

    let listed = !agent.messages.is_empty() || !agent.groups.is_empty();
    if listed && bound.is_empty() && used_groups.is_empty() && diags.errors.len() == errors_before {
        diags.warn(
            agent.span.clone(),
            ConfigWarningKind::AgentReceivesNothing {
                agent: agent.id.clone(),
                why: "none of its messages has an 'event', and it uses no group".to_owned(),
            },
        );
    }

    let mut register_var_names = Vec::new();
    for name in &agent.register_var_names {
        match name.as_str().parse::<VarName>() {
            Ok(v) => register_var_names.push(v),
            Err(_) => diags.error(
                name.span().clone(),
                ConfigErrorKind::RegisterVarName {
                    agent: agent.id.clone(),
                    prefix: var_prefix
                        .as_ref()
                        .map_or_else(|| agent.id.clone(), ToString::to_string),
                    name: name.as_str().to_owned(),
                },
            ),
        }
    }

    // A misspelt `messages` or `groups` line, or a misplaced line (a section that was not
    // read), is why messages or groups look unused.
    let lists_misspelt = meant_any("messages") || meant_any("groups") || misplaced;
    for message in messages.iter().filter(|_| !lists_misspelt) {
        if !used_message_names.contains(&message.name.as_str()) {
            diags.warn(
                message.span.clone(),
                ConfigWarningKind::Unused {
                    section: SectionKind::Message,
                    name: message.name.clone(),
                    agent: agent.id.clone(),
                },
            );
        }
    }
    for group in groups.iter().filter(|_| !lists_misspelt) {
        if !agent.groups.iter().any(|g| g.as_str() == group.name) {
            diags.warn(
                group.span.clone(),
                ConfigWarningKind::Unused {
                    section: SectionKind::Group,
                    name: group.name.clone(),
                    agent: agent.id.clone(),
                },
            );
        }
    }

    if diags.errors.len() > errors_before {
        return None;
    }
    Some(AgentConfig {
        id: agent.id,
        span: agent.span,
        engine: engine.map(str::to_owned),
        use_backend: use_backend?,
        timeout_hello: agent.timeout_hello.flatten(),
        timeout_idle: agent.timeout_idle.flatten(),
        timeout_processing: agent.timeout_processing.flatten(),
        timeout_processing_at: agent.timeout_processing_at,
        var_prefix: var_prefix?,
        set_on_error: agent.set_on_error,
        set_process_time: agent.set_process_time,
        set_total_time: agent.set_total_time,
        continue_on_error: agent.continue_on_error,
        force_set_var: agent.force_set_var,
        pipelining: agent.pipelining,
        max_frame_size: agent.max_frame_size,
        max_waiting_frames: agent.max_waiting_frames,
        maxconnrate: agent.maxconnrate,
        maxerrrate: agent.maxerrrate,
        register_var_names,
        dontlog_normal: agent.dontlog_normal,
        log: agent.log,
        messages: bound,
        groups: used_groups,
    })
}

/// The section line: a name, nothing after it, only `[A-Za-z0-9.:_-]`.
fn header(section: &Section<SectionKind>, diags: &mut Diagnostics) -> Option<String> {
    let keyword = &section.header.words[0];
    let Some(name) = section.name() else {
        diags.error(
            keyword.span().clone(),
            ConfigErrorKind::MissingSectionName {
                section: section.kind,
            },
        );
        return None;
    };
    if let Some(extra) = section.header.arg(2) {
        diags.error(
            extra.span().clone(),
            ConfigErrorKind::TooManyArgs {
                directive: keyword.as_str().to_owned(),
                arg: extra.as_str().to_owned(),
            },
        );
        return None;
    }
    if let Some((at, ch)) = name
        .as_str()
        .char_indices()
        .find(|&(_, c)| !is_name_char(c))
    {
        diags.error(
            name.span_at(at),
            ConfigErrorKind::NameChar {
                what: keyword.as_str().to_owned(),
                name: name.as_str().to_owned(),
                ch,
            },
        );
        return None;
    }
    Some(name.as_str().to_owned())
}

/// Whether `file` has a line the parser could not place (see
/// [`super::parse::is_misplaced_line`]).
fn misplaced_in(diags: &Diagnostics, file: &Path) -> bool {
    diags
        .errors
        .iter()
        .any(|e| *e.span.file == *file && super::parse::is_misplaced_line(&e.kind))
}

/// What each misspelt (or wrongly written) keyword of the agent section of `file` was meant to
/// be: `use-backend`, `option var-prefix`, `timeout processing`, or `timeout` when the
/// timeout's name is unknown.
fn misspelt_in_agent(diags: &Diagnostics, file: &Path) -> Vec<String> {
    use super::keywords::{AGENT_KEYWORDS, AGENT_OPTIONS};
    diags
        .errors
        .iter()
        .filter(|e| *e.span.file == *file)
        .filter_map(|e| match &e.kind {
            ConfigErrorKind::UnknownKeyword {
                keyword,
                section: SectionKind::Agent,
            } => super::did_you_mean(keyword, AGENT_KEYWORDS.iter().copied()).map(str::to_owned),
            ConfigErrorKind::UnknownOption { name } => {
                super::did_you_mean(name, AGENT_OPTIONS.iter().copied())
                    .map(|o| format!("option {o}"))
            }
            ConfigErrorKind::UnknownTimeout { got } => Some(
                super::did_you_mean(got, ["hello", "idle", "processing"])
                    .map_or_else(|| "timeout".to_owned(), |t| format!("timeout {t}")),
            ),
            // A timeout whose value is wrong was set, wrongly: not missing.
            ConfigErrorKind::BadDuration { directive, .. }
            | ConfigErrorKind::TimerOverflow { directive, .. } => Some(directive.clone()),
            _ => None,
        })
        .collect()
}
