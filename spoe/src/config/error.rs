//! Configuration errors and warnings, printed the way HAProxy prints them, plus a column:
//! `parsing [spoe.conf:12:23] : 'timeout processing' expects a duration such as 500ms, got '5x'`.

use std::fmt;
use std::path::PathBuf;

use super::span::Span;
use crate::expr::{ExprErrorKind, ExprWarningKind};

/// One configuration error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing [{span}] : {kind}")]
pub struct ConfigError {
    /// Where the offending text was written.
    pub span: Span,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// Every error found in a configuration, in file order (never empty when a parser returns
/// it), with the warnings found along the way. [`Display`](fmt::Display) prints the errors, one
/// per line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors {
    /// The errors, in file order.
    pub errors: Vec<ConfigError>,
    /// The warnings, in file order.
    pub warnings: Vec<ConfigWarning>,
}

impl ConfigErrors {
    /// The errors, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    /// How many errors there are.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

/// A configuration warning: accepted, but worth the operator's attention.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing [{span}] : {kind}")]
pub struct ConfigWarning {
    /// Where the text was written.
    pub span: Span,
    /// What deserves attention.
    pub kind: ConfigWarningKind,
}

impl ConfigWarning {
    /// Whether this is a notice (`.notice`, `.diag`) rather than a warning: shown, but not
    /// counted as a warning (`spoe check --strict` lets it pass).
    pub fn is_notice(&self) -> bool {
        matches!(self.kind, ConfigWarningKind::Notice(_))
    }
}

/// Which section a directive belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// `spoe-agent`.
    Agent,
    /// `spoe-message`.
    Message,
    /// `spoe-group`.
    Group,
}

impl SectionKind {
    /// The section keywords.
    pub const KEYWORDS: &'static [&'static str] = &["spoe-agent", "spoe-message", "spoe-group"];

    /// The keywords a section of this kind takes.
    pub fn directives(self) -> &'static [&'static str] {
        match self {
            Self::Agent => super::keywords::AGENT_KEYWORDS,
            Self::Message => super::keywords::MESSAGE_KEYWORDS,
            Self::Group => &["messages"],
        }
    }

    /// The section keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Agent => "spoe-agent",
            Self::Message => "spoe-message",
            Self::Group => "spoe-group",
        }
    }

    pub(crate) fn from_keyword(word: &str) -> Option<Self> {
        match word {
            "spoe-agent" => Some(Self::Agent),
            "spoe-message" => Some(Self::Message),
            "spoe-group" => Some(Self::Group),
            _ => None,
        }
    }
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// What is wrong. Messages follow HAProxy's wording where HAProxy has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    // ----- the file and its lines -----
    /// The file could not be read.
    #[error("cannot read '{path}': {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's message.
        error: String,
    },
    /// The last line has no LF (HAProxy 2.6 takes the file as truncated).
    #[error("missing LF on last line, file might have been truncated")]
    MissingFinalNewline,
    /// A NUL byte.
    #[error("stray NUL character")]
    StrayNul,
    /// A quote without its closing twin.
    #[error("unmatched quote")]
    UnmatchedQuote,
    /// `${NAME` without `}`.
    #[error("unmatched brace in environment variable name")]
    UnmatchedBrace,
    /// `$` followed by something that cannot start a variable name.
    #[error("forbidden first char in environment variable name")]
    BadVariableName,
    /// `\x` not followed by two hexadecimal digits.
    #[error("truncated or invalid hexadecimal sequence")]
    BadHexEscape,
    /// `${NAME[` not followed by `*]`.
    #[error("truncated or invalid word expansion sequence")]
    BadWordExpansion,
    /// More words than HAProxy reads on one line.
    #[error("too many words, truncating after word {max}")]
    TooManyWords {
        /// HAProxy's limit.
        max: usize,
    },
    /// `[]` or `[` without `]`.
    #[error("empty scope name is forbidden")]
    EmptyScopeName,
    /// A scope name with a character outside `[A-Za-z0-9.:_-]`.
    #[error("character '{ch}' is not permitted in a scope name")]
    ScopeNameChar {
        /// The character.
        ch: char,
    },
    /// Text after `[name]` on its line.
    #[error("character '{ch}' is not permitted after scope declaration")]
    AfterScope {
        /// The first character found.
        ch: char,
    },
    /// A keyword before any section.
    #[error(
        "unknown keyword '{keyword}' out of section{}",
        did_you_mean.map(|s| format!("; did you mean '{s}' maybe ?")).unwrap_or_default()
    )]
    OutOfSection {
        /// The keyword.
        keyword: String,
        /// The section keyword it is a near miss of.
        did_you_mean: Option<&'static str>,
    },
    /// `.if`, `.elif`, `.else`, `.endif` misuse or an unsupported condition.
    #[error("{0}")]
    ConditionalBlock(String),
    /// A problem a host found in its own configuration (such as the
    /// gateway's `haproxy.cfg`), printed verbatim. See [`super::reader`].
    #[error("{0}")]
    Host(String),
    /// `.alert "message"`.
    #[error("'{0}'")]
    Alert(String),
    /// An unknown `.keyword`.
    #[error("unknown directive '{0}'")]
    UnknownDotDirective(String),

    // ----- sections and directives -----
    /// `no` or `default` before a keyword that does not take it.
    #[error(
        "negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping"
    )]
    ModifierNotSupported,
    /// A line of the selected scope whose section started in another scope.
    #[error("'{keyword}' belongs to no {section} section of the selected scope")]
    NoCurrentSection {
        /// The keyword.
        keyword: String,
        /// The kind of section the line continues.
        section: SectionKind,
    },
    /// `default` before a keyword.
    #[error(
        "'default' cannot be used in a spoe-agent section (HAProxy repeats the line's last word and rejects it)"
    )]
    DefaultModifier,
    /// A section keyword without its name.
    #[error("missing name for {section} section")]
    MissingSectionName {
        /// The section.
        section: SectionKind,
    },
    /// A name with a character outside `[A-Za-z0-9.:_-]`.
    #[error("character '{ch}' is not permitted in '{what}' name '{name}'")]
    NameChar {
        /// What is being named (`spoe-agent`, `spoe-message`, `acl`...).
        what: String,
        /// The name.
        name: String,
        /// The offending character.
        ch: char,
    },
    /// A second `spoe-agent` in the same scope.
    #[error("another spoe-agent section previously defined at {first}")]
    DuplicateAgent {
        /// Where the first one is.
        first: Span,
    },
    /// Two messages or two groups with the same name.
    #[error("{section} section '{name}' has the same name as another one declared at {first}")]
    DuplicateSection {
        /// `spoe-message` or `spoe-group`.
        section: SectionKind,
        /// The name.
        name: String,
        /// Where the first one is.
        first: Span,
    },
    /// A keyword the section does not know.
    #[error(
        "unknown keyword '{keyword}' in {section} section{}",
        super::suggest::suffix(keyword, section.directives().iter().chain(SectionKind::KEYWORDS).copied())
    )]
    UnknownKeyword {
        /// The keyword.
        keyword: String,
        /// The section.
        section: SectionKind,
    },
    /// More arguments than the directive takes.
    #[error("'{directive}' cannot handle unexpected argument '{arg}'")]
    TooManyArgs {
        /// The directive (`option pipelining`).
        directive: String,
        /// The first extra argument.
        arg: String,
    },
    /// A directive without its argument.
    #[error("'{directive}' expects {expected}")]
    MissingArg {
        /// The directive.
        directive: String,
        /// What it expects (`a backend name`).
        expected: &'static str,
    },
    /// `timeout` with an unknown name.
    #[error(
        "'timeout' supports 'hello', 'idle' or 'processing' (got {got}){}",
        super::suggest::suffix(got, ["hello", "idle", "processing"])
    )]
    UnknownTimeout {
        /// What was given.
        got: String,
    },
    /// A malformed duration.
    #[error("'{directive}' expects a duration such as 500ms, got '{got}'")]
    BadDuration {
        /// `timeout processing`.
        directive: String,
        /// The text.
        got: String,
    },
    /// A duration of 2^31 ms or more.
    #[error(
        "timer overflow in argument '{got}' to '{directive}', maximum value is 2147483647 ms (~24.8 days)"
    )]
    TimerOverflow {
        /// `timeout processing`.
        directive: String,
        /// The text.
        got: String,
    },
    /// `option` with an unknown name.
    #[error(
        "option '{name}' is not supported{}",
        super::suggest::suffix(name, super::keywords::AGENT_OPTIONS.iter().copied())
    )]
    UnknownOption {
        /// The option.
        name: String,
    },
    /// `no option X` for an option that cannot be negated.
    #[error("negation is not supported for option '{name}'")]
    NegationNotSupported {
        /// The option.
        name: String,
    },
    /// A variable name or prefix with a character outside `[a-zA-Z0-9_.]`.
    #[error("'{directive}' only supports [a-zA-Z0-9_.] chars, got '{got}'")]
    VarNameChars {
        /// `option var-prefix`.
        directive: String,
        /// The text.
        got: String,
    },
    /// A number outside its range.
    #[error(
        "'{directive}' expects a positive integer argument in the range [{min}, {max}], got '{got}'"
    )]
    OutOfRange {
        /// `max-frame-size`.
        directive: String,
        /// The text.
        got: String,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// A number that must be positive.
    #[error("'{directive}' expects a positive integer argument, got '{got}'")]
    NotPositive {
        /// `max-waiting-frames`.
        directive: String,
        /// The text.
        got: String,
    },
    /// The same message or group listed twice.
    #[error("{section} '{name}' already used")]
    AlreadyUsed {
        /// `spoe-message` or `spoe-group`.
        section: SectionKind,
        /// The name.
        name: String,
    },
    /// A bad `log` line.
    #[error("log : {0}")]
    Log(String),
    /// `event` with an unknown name.
    #[error(
        "unknown event '{got}'{}",
        super::suggest::suffix(got, super::keywords::EVENTS.iter().copied())
    )]
    UnknownEvent {
        /// What was given.
        got: String,
    },
    /// `event NAME` followed by something other than `if`/`unless`.
    #[error(
        "'event {event}' expects either 'if' or 'unless' followed by a condition but found '{got}'"
    )]
    EventTrailer {
        /// The event.
        event: String,
        /// The word found.
        got: String,
    },
    /// `acl or ...`.
    #[error(
        "acl name '{name}' will never match. 'or' is used to express a logical disjunction within a condition"
    )]
    AclNamedOr {
        /// The name as written.
        name: String,
    },
    /// A sample expression, ACL or condition that does not parse.
    #[error("{context} : {error}")]
    Expr {
        /// What was being parsed: `'args'`, `ACL 'name'`, `'event on-client-session' condition`.
        context: String,
        /// The problem.
        error: ExprErrorKind,
    },

    // ----- checks across sections -----
    /// No `spoe-agent` in the selected scope.
    #[error("no spoe-agent section found{}", scope_suffix(.engine))]
    NoAgent {
        /// The selected scope, if any.
        engine: Option<String>,
    },
    /// `use-backend` names no backend of `haproxy.cfg` (see [`SpoeConfig::check_backend`]).
    ///
    /// [`SpoeConfig::check_backend`]: super::SpoeConfig::check_backend
    #[error("unknown backend '{backend}' used by SPOE agent '{agent}'")]
    UnknownBackend {
        /// The backend.
        backend: String,
        /// The agent.
        agent: String,
    },
    /// `use-backend` names a backend that is not in `mode tcp`.
    #[error("backend '{backend}' used by SPOE agent '{agent}' does not support HTTP mode")]
    BackendNotTcp {
        /// The backend.
        backend: String,
        /// The agent.
        agent: String,
    },
    /// The agent has no `use-backend`.
    #[error("no backend declared for SPOE agent '{agent}' (missing 'use-backend')")]
    NoBackend {
        /// The agent.
        agent: String,
    },
    /// No `option var-prefix` and the agent's name is not a valid prefix.
    #[error(
        "invalid variable prefix '{agent}' for SPOE agent '{agent}'. Use 'option var-prefix' to set it. Only [a-zA-Z0-9_.] chars are supported"
    )]
    DefaultVarPrefix {
        /// The agent.
        agent: String,
    },
    /// `register-var-names` with a bad name.
    #[error(
        "SPOE agent '{agent}': failed to register variable {prefix}.{name} (only [a-zA-Z0-9_.] chars are supported)"
    )]
    RegisterVarName {
        /// The agent.
        agent: String,
        /// Its variable prefix.
        prefix: String,
        /// The name.
        name: String,
    },
    /// `messages` naming no `spoe-message`.
    #[error("SPOE agent '{agent}' try to use undefined SPOE message '{name}'")]
    UndefinedMessage {
        /// The agent.
        agent: String,
        /// The name.
        name: String,
    },
    /// `groups` naming no `spoe-group`.
    #[error("SPOE agent '{agent}' try to use undefined SPOE group '{name}'")]
    UndefinedGroup {
        /// The agent.
        agent: String,
        /// The name.
        name: String,
    },
    /// A group's `messages` naming no `spoe-message`.
    #[error("SPOE group '{group}' try to use undefined SPOE message '{name}'")]
    UndefinedGroupMessage {
        /// The group.
        group: String,
        /// The name.
        name: String,
    },
    /// A message in two groups of the agent.
    #[error(
        "SPOE message '{message}' already belongs to the SPOE group '{group}' declared at {at}"
    )]
    MessageInTwoGroups {
        /// The message.
        message: String,
        /// The first group.
        group: String,
        /// Where that group is.
        at: Span,
    },
    /// An argument whose fetch has no data at the message's event.
    #[error(
        "SPOE message '{message}': argument '{arg}' uses '{fetch}', which needs {needs}, not available at event '{event}'"
    )]
    FetchNotAvailable {
        /// The message.
        message: String,
        /// The argument as written.
        arg: String,
        /// The fetch.
        fetch: String,
        /// What the fetch reads.
        needs: &'static str,
        /// The event.
        event: String,
    },
}

fn scope_suffix(engine: &Option<String>) -> String {
    match engine {
        Some(name) => format!(" in scope [{name}]"),
        None => " outside of any [scope]".to_owned(),
    }
}

/// What deserves attention in an accepted configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigWarningKind {
    /// A directive HAProxy accepts that this engine ignores.
    #[error("'{directive}' is accepted and ignored: {reason}")]
    Ignored {
        /// The directive.
        directive: String,
        /// Why it has no effect.
        reason: &'static str,
    },
    /// `timeout hello`, `idle` or `processing` not set (HAProxy 2.6's warning).
    #[error("missing timeouts for SPOE agent '{agent}': {}. While not properly invalid, you will certainly encounter various problems with such a configuration; set them to a non-zero value", quoted_list(.missing))]
    MissingTimeouts {
        /// The agent.
        agent: String,
        /// The missing ones.
        missing: Vec<&'static str>,
    },
    /// The agent names no message and no group.
    #[error("no message/group used by SPOE agent '{agent}'")]
    NoMessages {
        /// The agent.
        agent: String,
    },
    /// A message listed in `messages` has no `event`.
    #[error("ignore SPOE message '{message}' without event")]
    MessageWithoutEvent {
        /// The message.
        message: String,
    },
    /// A message or group used by nothing.
    #[error("{section} '{name}' is not used by SPOE agent '{agent}'")]
    Unused {
        /// `spoe-message` or `spoe-group`.
        section: SectionKind,
        /// The name.
        name: String,
        /// The agent.
        agent: String,
    },
    /// Words after an empty word (`""`, unset `"${VAR}"`), which HAProxy never reads.
    #[error(
        "'{first_ignored}' and the words after it are ignored: they follow an empty word, where HAProxy stops reading arguments"
    )]
    AfterEmptyWord {
        /// The first ignored word.
        first_ignored: String,
    },
    /// A number with trailing garbage or a sign, read the way HAProxy's `atol()` reads it.
    #[error("'{directive}' expects an integer, got '{got}'; it is read as {used}, as HAProxy does")]
    LenientInteger {
        /// The directive.
        directive: String,
        /// The text.
        got: String,
        /// The value used.
        used: i64,
    },
    /// A duration with characters after its unit (HAProxy warns and ignores them).
    #[error(
        "unexpected character '{ch}' after the timer value '{got}', only (us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are supported"
    )]
    TimerTrailing {
        /// The first extra character.
        ch: char,
        /// The text.
        got: String,
    },
    /// An unknown keyword in a `spoe-message` section, which HAProxy silently ignores.
    #[error(
        "unknown keyword '{keyword}' in spoe-message section is ignored (HAProxy ignores it too)"
    )]
    UnknownMessageKeyword {
        /// The keyword.
        keyword: String,
    },
    /// An `event` replacing an earlier one of the same message.
    #[error("'event' overrides the event set at {previous}")]
    EventOverridden {
        /// The earlier line.
        previous: Span,
    },
    /// Something in an ACL or condition that is probably a mistake.
    #[error("{0}")]
    Expr(ExprWarningKind),
    /// An escape produced bytes that are not UTF-8; they were replaced.
    #[error("a word is not valid UTF-8 after escapes; invalid bytes were replaced by U+FFFD")]
    InvalidUtf8,
    /// `.warning "message"`.
    #[error("'{0}'")]
    Message(String),
    /// `.notice "message"` or `.diag "message"`: information, not a warning (HAProxy prints
    /// the first as a NOTICE and the second only in diagnostic mode). See
    /// [`ConfigWarning::is_notice`].
    #[error("'{0}'")]
    Notice(String),
    /// A host's own warning (such as the gateway's about its
    /// `haproxy.cfg`), printed verbatim. See [`super::reader`].
    #[error("{0}")]
    Host(String),

    // ----- traffic that never reaches an agent (issue 19 §5) -----
    /// A `spoe-group` the agent uses that no `send-spoe-group` rule sends.
    #[error(
        "SPOE group '{group}' is never sent: no 'send-spoe-group {engine} {group}' rule names it, so its messages never reach SPOE agent '{agent}'"
    )]
    GroupNeverSent {
        /// The group.
        group: String,
        /// The engine a rule would name.
        engine: String,
        /// The agent.
        agent: String,
    },
    /// A message nothing can send.
    #[error("SPOE message '{message}' is never sent: {why}")]
    MessageNeverSent {
        /// The message.
        message: String,
        /// Why.
        why: String,
    },
    /// An agent to which nothing is ever sent.
    #[error("SPOE agent '{agent}' receives nothing: {why}")]
    AgentReceivesNothing {
        /// The agent.
        agent: String,
        /// Why.
        why: String,
    },
    /// `timeout processing` longer than a timeout of the stream the filter runs on.
    #[error(
        "'timeout processing' ({}) of SPOE agent '{agent}' is longer than '{timeout}' ({}) of {proxy}: a request can wait on the agent longer than the stream's own timeouts allow; keep the agent's budget below them",
        duration(*processing),
        duration(*limit)
    )]
    ProcessingBeyondStream {
        /// The agent.
        agent: String,
        /// Its `timeout processing`.
        processing: std::time::Duration,
        /// `timeout client` or `timeout server`.
        timeout: &'static str,
        /// Its value.
        limit: std::time::Duration,
        /// `frontend 'web'`.
        proxy: String,
    },
    /// `timeout processing` long enough that a slow agent holds requests for seconds.
    #[error(
        "'timeout processing' ({}) of SPOE agent '{agent}': when the agent is slow or gone, a request waits that long on each of the {events} event(s) that send to it, up to {} in all",
        duration(*processing),
        duration(processing.saturating_mul(u32::try_from(*events).unwrap_or(u32::MAX)))
    )]
    LongProcessing {
        /// The agent.
        agent: String,
        /// Its `timeout processing`.
        processing: std::time::Duration,
        /// How many events (and `send-spoe-group` rules) send to it per request, at most.
        events: usize,
    },
    /// A variable read under a prefix no agent has and no rule sets, close to an agent's
    /// prefix: a typo in the rule or in `option var-prefix`.
    #[error(
        "variable '{var}' is read here but nothing sets it: no 'set-var' names it and no SPOE agent uses the prefix '{prefix}'; did you mean '{agent_prefix}', the 'option var-prefix' of SPOE agent '{agent}' ?"
    )]
    UnsetVariable {
        /// The variable as read.
        var: String,
        /// Its prefix.
        prefix: String,
        /// The close agent prefix.
        agent_prefix: String,
        /// The agent.
        agent: String,
    },
}

/// `500ms`, `2s`, `1m30s` as HAProxy's configuration writes durations.
fn duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 || !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if !ms.is_multiple_of(60_000) || ms < 60_000 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}m", ms / 60_000)
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Errors and warnings gathered while reading a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// Errors, in the order found.
    pub errors: Vec<ConfigError>,
    /// Warnings, in the order found.
    pub warnings: Vec<ConfigWarning>,
}

impl Diagnostics {
    /// Records an error.
    pub fn error(&mut self, span: Span, kind: ConfigErrorKind) {
        self.errors.push(ConfigError { span, kind });
    }

    /// Records a warning.
    pub fn warn(&mut self, span: Span, kind: ConfigWarningKind) {
        self.warnings.push(ConfigWarning { span, kind });
    }
}
