//! Errors in sample expressions, ACLs and conditions, worded as HAProxy words them.

use crate::config::Span;

use super::sample::SampleType;

/// A sample expression, ACL or condition that does not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ExprError {
    /// Where the problem is (the fetch, converter or argument at fault).
    pub span: Span,
    /// The problem.
    pub kind: ExprErrorKind,
}

impl ExprError {
    pub(crate) fn new(span: Span, kind: ExprErrorKind) -> Self {
        Self { span, kind }
    }
}

/// What is wrong in an expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprErrorKind {
    /// Nothing where a fetch name should be.
    #[error("missing fetch method")]
    MissingFetch,
    /// A fetch HAProxy does not have.
    #[error("unknown fetch method '{name}'")]
    UnknownFetch {
        /// The name.
        name: String,
    },
    /// A fetch HAProxy has but this implementation does not evaluate.
    #[error("fetch method '{name}' is not supported by this engine (HAProxy has it)")]
    UnsupportedFetch {
        /// The name.
        name: String,
    },
    /// A fetch's argument list does not parse.
    #[error("fetch method '{name}' : {error}")]
    FetchArgs {
        /// The fetch.
        name: String,
        /// The problem.
        error: ArgError,
    },
    /// A fetch's argument has a bad value.
    #[error("invalid args in fetch method '{name}' : {reason}")]
    FetchArgValue {
        /// The fetch.
        name: String,
        /// The problem.
        reason: String,
    },
    /// Text after a fetch that is not a `,converter`.
    #[error("missing comma after fetch keyword '{name}'")]
    MissingCommaAfterFetch {
        /// The fetch.
        name: String,
    },
    /// Text after a converter that is not a `,converter`.
    #[error("missing comma after converter '{name}'")]
    MissingCommaAfterConverter {
        /// The converter.
        name: String,
    },
    /// A converter HAProxy does not have.
    #[error("unknown converter '{name}'")]
    UnknownConverter {
        /// The name.
        name: String,
    },
    /// A converter HAProxy has but this implementation does not evaluate.
    #[error("converter '{name}' is not supported by this engine (HAProxy has it)")]
    UnsupportedConverter {
        /// The name.
        name: String,
    },
    /// A converter whose input type cannot come from the previous output.
    #[error(
        "converter '{name}' cannot be applied (it takes {input}, the expression gives {given})"
    )]
    ConverterCannotApply {
        /// The converter.
        name: String,
        /// What it takes.
        input: SampleType,
        /// What it would get.
        given: SampleType,
    },
    /// A converter's argument list does not parse.
    #[error("invalid arg {position} in converter '{name}' : {error}")]
    ConverterArgs {
        /// The converter.
        name: String,
        /// 1-based argument position.
        position: usize,
        /// The problem.
        error: ArgError,
    },
    /// Arguments given to a converter that takes none.
    #[error("converter '{name}' does not support any args")]
    ConverterTakesNoArgs {
        /// The converter.
        name: String,
    },
    /// A converter's argument has a bad value.
    #[error("invalid args in converter '{name}' : {reason}")]
    ConverterArgValue {
        /// The converter.
        name: String,
        /// The problem.
        reason: String,
    },
    /// An ACL name with a character outside `[A-Za-z0-9.:_-]`.
    #[error("invalid character in ACL name : '{ch}'")]
    AclNameChar {
        /// The character.
        ch: char,
    },
    /// A condition naming an ACL that is neither declared before nor predefined.
    #[error("no such ACL : '{name}'")]
    NoSuchAcl {
        /// The name.
        name: String,
    },
    /// A predefined ACL whose fetch this implementation does not evaluate.
    #[error("predefined ACL '{name}' uses '{fetch}', which is not supported by this engine")]
    UnsupportedPredefinedAcl {
        /// The ACL.
        name: String,
        /// Its fetch.
        fetch: String,
    },
    /// `{` without `}`.
    #[error("missing closing '}}' in condition")]
    MissingClosingBrace,
    /// A condition not starting with `if` or `unless`.
    #[error("conditions must start with either 'if' or 'unless'")]
    ConditionStart,
    /// An unknown `-x` flag.
    #[error(
        "'{flag}' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'"
    )]
    BadAclFlag {
        /// The flag.
        flag: String,
    },
    /// A flag without its value (`-m`, `-f`, `-u`).
    #[error("missing argument after '{flag}'")]
    MissingFlagValue {
        /// The flag.
        flag: String,
    },
    /// `-u` with a non-integer.
    #[error("the argument of -u must be an integer")]
    BadUniqueId,
    /// `-u` reusing an id.
    #[error("the id is already used")]
    UniqueIdUsed,
    /// `-m` after `-f`.
    #[error("'-m' must only be specified before patterns and files in parsing ACL expression")]
    MatchAfterFile,
    /// `-m` with an unknown method.
    #[error("unknown matching method '{name}' when parsing ACL expression")]
    UnknownMatch {
        /// The method.
        name: String,
    },
    /// `-m` with a method the criterion's type cannot feed.
    #[error("matching method '{method}' cannot be used with fetch keyword '{fetch}'")]
    MatchIncompatible {
        /// The method.
        method: String,
        /// The criterion.
        fetch: String,
    },
    /// A criterion whose type has no default method, without `-m`.
    #[error(
        "matching method must be specified first (using '-m') when using a sample fetch of this type ('{fetch}')"
    )]
    MatchRequired {
        /// The criterion.
        fetch: String,
    },
    /// A pattern that does not parse for its method.
    #[error("{reason}")]
    BadPattern {
        /// HAProxy's wording (`'x' is not a valid IPv4 or IPv6 address`).
        reason: String,
    },
    /// A `-f` file that cannot be read.
    #[error("failed to open pattern file <{path}> ({error})")]
    PatternFile {
        /// The file as named.
        path: String,
        /// The system's message.
        error: String,
    },
}

/// A problem in a parenthesized argument list (`make_arg_list()` in `src/arg.c`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// Fewer arguments than required.
    #[error("missing arguments (got {got}/{min}), type '{expected}' expected")]
    Missing {
        /// How many were given.
        got: usize,
        /// How many are required.
        min: usize,
        /// The type of the first missing one.
        expected: &'static str,
    },
    /// No closing parenthesis where one should be.
    #[error("expected ')'{}", before_suffix(.before))]
    ExpectedParen {
        /// The text found instead.
        before: String,
    },
    /// An empty required argument.
    #[error("expected type '{expected}' at position {position}, but got nothing")]
    Empty {
        /// The type.
        expected: &'static str,
        /// 1-based position.
        position: usize,
    },
    /// An argument of the wrong form.
    #[error("failed to parse '{text}' as type '{expected}' at position {position}")]
    Parse {
        /// The argument.
        text: String,
        /// The type.
        expected: &'static str,
        /// 1-based position.
        position: usize,
    },
}

fn before_suffix(before: &str) -> String {
    if before.is_empty() {
        String::new()
    } else {
        format!(" before '{before}'")
    }
}

/// What an [`ExprWarning`](super::ExprWarning) is about; messages follow HAProxy's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprWarningKind {
    /// An ACL with no pattern, which never matches.
    #[error(
        "acl '{acl}' : no pattern to match against were provided, so this ACL will never match. If this is what you intended, please add '--' to get rid of this warning. If you intended to match only for existence, please use '-m found'. If you wanted to force an int to match as a bool, please use '-m bool'"
    )]
    NoPattern {
        /// The criterion.
        acl: String,
    },
    /// `acl x hdr (host)`: a blank before a parenthesis.
    #[error(
        "acl '{acl}' : matching '{criterion}' for pattern '{pattern}' is likely a mistake and probably not what you want. Maybe you need to remove the extraneous space before '('"
    )]
    Parenthesis {
        /// The ACL's name.
        acl: String,
        /// The criterion.
        criterion: String,
        /// The pattern.
        pattern: String,
    },
    /// The `ne` operator, which HAProxy accepts but applies as `eq`.
    #[error("the 'ne' operator is accepted but HAProxy matches the following values with 'eq'")]
    NeOperator,
}
