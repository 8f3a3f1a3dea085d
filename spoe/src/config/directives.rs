//! The directives of each section, checked one line at a time as HAProxy's
//! `cfg_parse_spoe_agent()`, `cfg_parse_spoe_message()` and `cfg_parse_spoe_group()` do
//! (`src/flt_spoe.c`).

use std::time::Duration;

use super::agent::{MaxFrameSize, VarName};
use super::error::{ConfigErrorKind, ConfigWarningKind, Diagnostics, SectionKind};
use super::keywords::MESSAGE_KEYWORDS;
use super::log::{LogDirective, LogTarget, parse_log};
use super::message::{Event, MessageArg};
use super::reader::{Line as Directive, Modifier, Word, is_name_char};
use super::span::{Span, Spanned};
use crate::duration::{TimerError, parse_timer};
use crate::expr::{AclContext, AclSet, Condition, ExprError, SampleExpr, is_var_char};

/// Why `option async` and `option send-frag-payload` have no effect here.
const ASYNC_IGNORED: &str = "this engine does not use async mode (removed in HAProxy 3.1): \
     an ACK is expected on the connection that carried its NOTIFY";
const FRAG_IGNORED: &str = "this engine never fragments frames (as HAProxy 3.1+): a message \
     larger than max-frame-size fails with status 3";

/// A `spoe-agent` section being read.
#[derive(Debug)]
pub(super) struct AgentBuilder {
    pub(super) id: String,
    pub(super) span: Span,
    pub(super) use_backend: Option<Spanned<String>>,
    /// `Some(value)` once set; the value is `None` for 0 (no timeout).
    pub(super) timeout_hello: Option<Option<Duration>>,
    pub(super) timeout_idle: Option<Option<Duration>>,
    pub(super) timeout_processing: Option<Option<Duration>>,
    /// Where `timeout processing` was written.
    pub(super) timeout_processing_at: Option<Span>,
    pub(super) var_prefix: Option<VarName>,
    pub(super) set_on_error: Option<VarName>,
    pub(super) set_process_time: Option<VarName>,
    pub(super) set_total_time: Option<VarName>,
    pub(super) continue_on_error: bool,
    pub(super) force_set_var: bool,
    pub(super) pipelining: bool,
    pub(super) max_frame_size: MaxFrameSize,
    pub(super) max_waiting_frames: u32,
    pub(super) maxconnrate: Option<u32>,
    pub(super) maxerrrate: Option<u32>,
    pub(super) register_var_names: Vec<Word>,
    pub(super) dontlog_normal: bool,
    pub(super) log: Vec<LogTarget>,
    pub(super) messages: Vec<Word>,
    pub(super) groups: Vec<Word>,
}

/// A `spoe-message` section being read.
#[derive(Debug)]
pub(super) struct MessageBuilder {
    pub(super) name: String,
    pub(super) span: Span,
    pub(super) args: Vec<MessageArg>,
    pub(super) event: Option<(Event, Span)>,
    pub(super) cond: Option<Condition>,
    pub(super) acls: AclSet,
    /// A keyword of the section was misspelt (reported): what its absence causes is not.
    pub(super) misspelt: bool,
}

/// A `spoe-group` section being read.
#[derive(Debug)]
pub(super) struct GroupBuilder {
    pub(super) name: String,
    pub(super) span: Span,
    pub(super) messages: Vec<Word>,
}

/// Reports the first argument beyond `max` (the keyword's words not counted).
fn too_many(d: &Directive, max: usize, directive: &str, diags: &mut Diagnostics) -> bool {
    match d.words.get(max + 1) {
        Some(extra) => {
            diags.error(
                extra.span().clone(),
                ConfigErrorKind::TooManyArgs {
                    directive: directive.to_owned(),
                    arg: extra.as_str().to_owned(),
                },
            );
            true
        }
        None => false,
    }
}

fn missing(d: &Directive, directive: &str, expected: &'static str, diags: &mut Diagnostics) {
    let last = d.words.last().unwrap_or(&d.words[0]);
    diags.error(
        last.span_at(last.as_str().len()),
        ConfigErrorKind::MissingArg {
            directive: directive.to_owned(),
            expected,
        },
    );
}

/// C's `atol()` on a directive argument, with a warning when the text is not plain digits.
fn lenient_integer(word: &Word, directive: &str, diags: &mut Diagnostics) -> i64 {
    let text = word.as_str();
    let trimmed = text.trim_start();
    let (neg, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let magnitude = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    let value = if neg { -magnitude } else { magnitude };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        diags.warn(
            word.span().clone(),
            ConfigWarningKind::LenientInteger {
                directive: directive.to_owned(),
                got: text.to_owned(),
                used: value,
            },
        );
    }
    value
}

impl AgentBuilder {
    pub(super) fn new(id: String, span: Span) -> Self {
        Self {
            id,
            span,
            use_backend: None,
            timeout_hello: None,
            timeout_idle: None,
            timeout_processing: None,
            timeout_processing_at: None,
            var_prefix: None,
            set_on_error: None,
            set_process_time: None,
            set_total_time: None,
            continue_on_error: false,
            force_set_var: false,
            pipelining: true,
            max_frame_size: MaxFrameSize::default(),
            max_waiting_frames: 20,
            maxconnrate: None,
            maxerrrate: None,
            register_var_names: Vec::new(),
            dontlog_normal: false,
            log: Vec::new(),
            messages: Vec::new(),
            groups: Vec::new(),
        }
    }
}

pub(super) fn agent_directive(agent: &mut AgentBuilder, d: &Directive, diags: &mut Diagnostics) {
    if d.modifier == Modifier::Default {
        // HAProxy shifts the words without clearing the last one, which then appears twice:
        // every `default option|log` line of an agent is rejected.
        diags.error(d.span().clone(), ConfigErrorKind::DefaultModifier);
        return;
    }
    match d.keyword() {
        "use-backend" => {
            let Some(name) = d.arg(1) else {
                return missing(d, "use-backend", "a backend name", diags);
            };
            if too_many(d, 1, "use-backend", diags) {
                return;
            }
            agent.use_backend = Some(name.spanned());
        }
        "messages" | "groups" => {
            let (section, list) = if d.keyword() == "messages" {
                (SectionKind::Message, &mut agent.messages)
            } else {
                (SectionKind::Group, &mut agent.groups)
            };
            for name in &d.words[1..] {
                if list.iter().any(|w| w.as_str() == name.as_str()) {
                    diags.error(
                        name.span().clone(),
                        ConfigErrorKind::AlreadyUsed {
                            section,
                            name: name.as_str().to_owned(),
                        },
                    );
                    continue;
                }
                list.push(name.clone());
            }
        }
        "timeout" => timeout(agent, d, diags),
        "option" => option(agent, d, diags),
        "maxconnrate" | "maxerrrate" => {
            let keyword = d.keyword();
            let Some(value) = d.arg(1) else {
                return missing(d, keyword, "an integer argument", diags);
            };
            if too_many(d, 1, keyword, diags) {
                return;
            }
            let v = lenient_integer(value, keyword, diags);
            let limit = u32::try_from(v).ok().filter(|&v| v > 0);
            if keyword == "maxconnrate" {
                agent.maxconnrate = limit;
            } else {
                agent.maxerrrate = limit;
            }
        }
        "max-frame-size" => {
            let Some(value) = d.arg(1) else {
                return missing(d, "max-frame-size", "an integer argument", diags);
            };
            if too_many(d, 1, "max-frame-size", diags) {
                return;
            }
            let v = lenient_integer(value, "max-frame-size", diags);
            match u64::try_from(v).map(MaxFrameSize::try_from) {
                Ok(Ok(size)) => agent.max_frame_size = size,
                _ => diags.error(
                    value.span().clone(),
                    ConfigErrorKind::OutOfRange {
                        directive: "max-frame-size".to_owned(),
                        got: value.as_str().to_owned(),
                        min: u64::from(MaxFrameSize::MIN),
                        max: u64::from(MaxFrameSize::MAX),
                    },
                ),
            }
        }
        "max-waiting-frames" => {
            let Some(value) = d.arg(1) else {
                return missing(d, "max-waiting-frames", "an integer argument", diags);
            };
            if too_many(d, 1, "max-waiting-frames", diags) {
                return;
            }
            let v = lenient_integer(value, "max-waiting-frames", diags);
            // HAProxy stores it unsigned: only 0 is rejected, negative values wrap.
            let v = v as u32;
            if v == 0 {
                diags.error(
                    value.span().clone(),
                    ConfigErrorKind::NotPositive {
                        directive: "max-waiting-frames".to_owned(),
                        got: value.as_str().to_owned(),
                    },
                );
                return;
            }
            agent.max_waiting_frames = v;
        }
        "register-var-names" => {
            if d.arg(1).is_none() {
                return missing(d, "register-var-names", "one or more variable names", diags);
            }
            agent
                .register_var_names
                .extend(d.words[1..].iter().cloned());
        }
        "log" => {
            let args: Vec<&str> = d.words[1..].iter().map(Word::as_str).collect();
            match parse_log(&args, d.modifier == Modifier::No, d.span()) {
                Ok(LogDirective::Clear) => agent.log.clear(),
                Ok(LogDirective::Add(target)) => agent.log.push(target),
                Err(message) => diags.error(d.span().clone(), ConfigErrorKind::Log(message)),
            }
        }
        other => diags.error(
            d.span().clone(),
            ConfigErrorKind::UnknownKeyword {
                keyword: other.to_owned(),
                section: SectionKind::Agent,
            },
        ),
    }
}

fn timeout(agent: &mut AgentBuilder, d: &Directive, diags: &mut Diagnostics) {
    let Some(which) = d.arg(1) else {
        return missing(d, "timeout", "'hello', 'idle' or 'processing'", diags);
    };
    if too_many(d, 2, "timeout", diags) {
        return;
    }
    if which.as_str() == "processing" {
        agent.timeout_processing_at = Some(d.span().clone());
    }
    let slot = match which.as_str() {
        "hello" => &mut agent.timeout_hello,
        "idle" => &mut agent.timeout_idle,
        "processing" => &mut agent.timeout_processing,
        other => {
            diags.error(
                which.span().clone(),
                ConfigErrorKind::UnknownTimeout {
                    got: other.to_owned(),
                },
            );
            return;
        }
    };
    let directive = format!("timeout {}", which.as_str());
    let Some(value) = d.arg(2) else {
        diags.error(
            which.span_at(which.as_str().len()),
            ConfigErrorKind::MissingArg {
                directive,
                expected: "a duration such as 500ms",
            },
        );
        return;
    };
    match parse_timer(value.as_str()) {
        Ok(v) => {
            if let Some(ch) = v.trailing {
                diags.warn(
                    value.span().clone(),
                    ConfigWarningKind::TimerTrailing {
                        ch,
                        got: value.as_str().to_owned(),
                    },
                );
            }
            *slot = Some((v.millis > 0).then(|| v.duration()));
        }
        Err(TimerError::Invalid(_)) => diags.error(
            value.span().clone(),
            ConfigErrorKind::BadDuration {
                directive,
                got: value.as_str().to_owned(),
            },
        ),
        Err(TimerError::Overflow) => diags.error(
            value.span().clone(),
            ConfigErrorKind::TimerOverflow {
                directive,
                got: value.as_str().to_owned(),
            },
        ),
    }
}

fn option(agent: &mut AgentBuilder, d: &Directive, diags: &mut Diagnostics) {
    let Some(name_word) = d.arg(1) else {
        return missing(d, "option", "an option name", diags);
    };
    let name = name_word.as_str();
    let directive = format!("option {name}");
    let negated = d.modifier == Modifier::No;
    match name {
        "pipelining" | "async" | "send-frag-payload" | "dontlog-normal" => {
            if too_many(d, 1, &directive, diags) {
                return;
            }
            match name {
                "pipelining" => agent.pipelining = !negated,
                "dontlog-normal" => agent.dontlog_normal = !negated,
                // Turning them off matches what this engine does anyway.
                _ if negated => {}
                "async" => diags.warn(
                    d.span().clone(),
                    ConfigWarningKind::Ignored {
                        directive,
                        reason: ASYNC_IGNORED,
                    },
                ),
                _ => diags.warn(
                    d.span().clone(),
                    ConfigWarningKind::Ignored {
                        directive,
                        reason: FRAG_IGNORED,
                    },
                ),
            }
            return;
        }
        _ => {}
    }
    if negated {
        diags.error(
            name_word.span().clone(),
            ConfigErrorKind::NegationNotSupported {
                name: name.to_owned(),
            },
        );
        return;
    }
    match name {
        "var-prefix" | "set-on-error" | "set-process-time" | "set-total-time" => {
            let Some(value) = d.arg(2) else {
                return missing(d, &directive, "a value", diags);
            };
            if too_many(d, 2, &directive, diags) {
                return;
            }
            let Ok(var) = value.as_str().parse::<VarName>() else {
                let at = value
                    .as_str()
                    .char_indices()
                    .find(|&(_, c)| !is_var_char(c))
                    .map_or(0, |(i, _)| i);
                diags.error(
                    value.span_at(at),
                    ConfigErrorKind::VarNameChars {
                        directive,
                        got: value.as_str().to_owned(),
                    },
                );
                return;
            };
            let slot = match name {
                "var-prefix" => &mut agent.var_prefix,
                "set-on-error" => &mut agent.set_on_error,
                "set-process-time" => &mut agent.set_process_time,
                _ => &mut agent.set_total_time,
            };
            *slot = Some(var);
        }
        "force-set-var" | "continue-on-error" => {
            if too_many(d, 1, &directive, diags) {
                return;
            }
            if name == "force-set-var" {
                agent.force_set_var = true;
            } else {
                agent.continue_on_error = true;
            }
        }
        _ => diags.error(
            name_word.span().clone(),
            ConfigErrorKind::UnknownOption {
                name: name.to_owned(),
            },
        ),
    }
}

fn expr_error(context: String, e: ExprError, diags: &mut Diagnostics) {
    diags.error(
        e.span,
        ConfigErrorKind::Expr {
            context,
            error: e.kind,
        },
    );
}

pub(super) fn message_directive(
    msg: &mut MessageBuilder,
    d: &Directive,
    cx: &AclContext<'_>,
    diags: &mut Diagnostics,
) {
    // `default` can only precede `option` or `log`, unknown here.
    match d.keyword() {
        "args" => {
            for word in &d.words[1..] {
                let text = word.as_str();
                let (name, start) = match text.find('=') {
                    Some(i) => (&text[..i], i + 1),
                    None => ("", 0),
                };
                match SampleExpr::parse_from(word, start) {
                    Ok(expr) => msg.args.push(MessageArg {
                        name: name.to_owned(),
                        expr,
                    }),
                    Err(e) => expr_error("'args'".to_owned(), e, diags),
                }
            }
        }
        "acl" => {
            let Some(name) = d.arg(1) else {
                return missing(d, "acl", "an ACL name followed by a criterion", diags);
            };
            if let Some((at, ch)) = name
                .as_str()
                .char_indices()
                .find(|&(_, c)| !is_name_char(c))
            {
                diags.error(
                    name.span_at(at),
                    ConfigErrorKind::NameChar {
                        what: "acl".to_owned(),
                        name: name.as_str().to_owned(),
                        ch,
                    },
                );
                return;
            }
            if name.as_str().eq_ignore_ascii_case("or") {
                diags.error(
                    name.span().clone(),
                    ConfigErrorKind::AclNamedOr {
                        name: name.as_str().to_owned(),
                    },
                );
                return;
            }
            match msg.acls.parse_acl(&d.words[1..], cx) {
                Ok((_, warnings)) => {
                    for w in warnings {
                        diags.warn(w.span, ConfigWarningKind::Expr(w.kind));
                    }
                }
                Err(e) => expr_error(format!("ACL '{}'", name.as_str()), e, diags),
            }
        }
        "event" => {
            let Some(name) = d.arg(1) else {
                return missing(d, "event", "an event name", diags);
            };
            let Ok(event) = name.as_str().parse::<Event>() else {
                diags.error(
                    name.span().clone(),
                    ConfigErrorKind::UnknownEvent {
                        got: name.as_str().to_owned(),
                    },
                );
                msg.misspelt = true;
                return;
            };
            match d.arg(2).map(Word::as_str) {
                Some("if" | "unless") => match Condition::parse(&d.words[2..], &mut msg.acls, cx) {
                    Ok((cond, warnings)) => {
                        for w in warnings {
                            diags.warn(w.span, ConfigWarningKind::Expr(w.kind));
                        }
                        msg.cond = Some(cond);
                    }
                    Err(e) => {
                        return expr_error(
                            format!("'event {}' condition", name.as_str()),
                            e,
                            diags,
                        );
                    }
                },
                Some(other) => {
                    diags.error(
                        d.words[2].span().clone(),
                        ConfigErrorKind::EventTrailer {
                            event: name.as_str().to_owned(),
                            got: other.to_owned(),
                        },
                    );
                    return;
                }
                // Without a condition HAProxy keeps the previous one, if any.
                None => {}
            }
            if let Some((_, previous)) = &msg.event {
                diags.warn(
                    d.span().clone(),
                    ConfigWarningKind::EventOverridden {
                        previous: previous.clone(),
                    },
                );
            }
            msg.event = Some((event, d.span().clone()));
        }
        other => msg.misspelt |= unknown_message_keyword(other, d.span(), diags),
    }
}

/// A keyword `spoe-message` does not know. HAProxy 2.6 ignores it silently; a near miss of
/// `args`, `acl` or `event` (`evnet`) is an error here, since the message it was meant for
/// would be sent without it (or, without its `event`, never); anything else is a warning.
/// Whether it was an error.
pub(super) fn unknown_message_keyword(keyword: &str, span: &Span, diags: &mut Diagnostics) -> bool {
    let misspelt = super::did_you_mean(keyword, MESSAGE_KEYWORDS.iter().copied()).is_some();
    if misspelt {
        diags.error(
            span.clone(),
            ConfigErrorKind::UnknownKeyword {
                keyword: keyword.to_owned(),
                section: SectionKind::Message,
            },
        );
    } else {
        diags.warn(
            span.clone(),
            ConfigWarningKind::UnknownMessageKeyword {
                keyword: keyword.to_owned(),
            },
        );
    }
    misspelt
}

pub(super) fn group_directive(group: &mut GroupBuilder, d: &Directive, diags: &mut Diagnostics) {
    match d.keyword() {
        "messages" => {
            for name in &d.words[1..] {
                if group.messages.iter().any(|w| w.as_str() == name.as_str()) {
                    diags.error(
                        name.span().clone(),
                        ConfigErrorKind::AlreadyUsed {
                            section: SectionKind::Message,
                            name: name.as_str().to_owned(),
                        },
                    );
                    continue;
                }
                group.messages.push(name.clone());
            }
        }
        other => diags.error(
            d.span().clone(),
            ConfigErrorKind::UnknownKeyword {
                keyword: other.to_owned(),
                section: SectionKind::Group,
            },
        ),
    }
}
