//! Sample expressions, `FETCH[(args)][,CONVERTER[(args)]]...` (`sample_parse_expr()` and
//! `sample_process()` in `src/sample.c`).

use std::fmt;

use crate::config::Span;
use crate::config::reader::lexer::Word;

use super::args::{ArgFailure, parse_arg_list};
use super::converter::{Converter, build_converter, converter_def};
use super::error::{ExprError, ExprErrorKind};
use super::fetch::{DataSource, Fetch, FetchKind, VarRef, build_fetch, fetch_def};
use super::haproxy_names::{HAPROXY_CONVERTERS, HAPROXY_FETCHES};
use super::sample::{Sample, SampleType};

/// One converter of an expression, with the types HAProxy checks between steps.
#[derive(Debug, Clone)]
pub struct ConverterStep {
    /// The converter's name as written.
    pub name: String,
    /// The converter.
    pub converter: Converter,
    /// The type it takes.
    pub input: SampleType,
    /// The type it gives.
    pub output: SampleType,
}

/// A parsed sample expression: a fetch and its converters.
#[derive(Debug, Clone)]
pub struct SampleExpr {
    text: String,
    span: Span,
    fetch_name: String,
    fetch: FetchKind,
    fetch_type: SampleType,
    source: DataSource,
    converters: Vec<ConverterStep>,
}

/// HAProxy's `is_idchar()`: the characters of fetch and converter names.
pub(crate) fn is_idchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+' | b':')
}

fn id_end(text: &str, start: usize) -> usize {
    text.as_bytes()[start..]
        .iter()
        .position(|&c| !is_idchar(c))
        .map_or(text.len(), |p| start + p)
}

impl SampleExpr {
    /// Parses a whole word as a sample expression (what `args` does after `name=`).
    pub fn parse(word: &Word) -> Result<Self, ExprError> {
        Self::parse_from(word, 0)
    }

    /// Parses the expression that starts at byte `start` of `word` and runs to its end.
    pub fn parse_from(word: &Word, start: usize) -> Result<Self, ExprError> {
        Self::parse_impl(word, start, None)
    }

    /// Parses `word` whose leading name is an ACL keyword standing for the fetch `fetch`
    /// (`path_beg` for `path`, `hdr` for `req.hdr`).
    pub(crate) fn parse_as(word: &Word, fetch: &str) -> Result<Self, ExprError> {
        Self::parse_impl(word, 0, Some(fetch))
    }

    fn parse_impl(word: &Word, start: usize, fetch_as: Option<&str>) -> Result<Self, ExprError> {
        let text = word.as_str();
        let err = |offset: usize, kind| ExprError::new(word.span_at(offset), kind);
        let name_end = id_end(text, start);
        if name_end == start {
            return Err(err(start, ExprErrorKind::MissingFetch));
        }
        let fetch_name = fetch_as.unwrap_or(&text[start..name_end]);
        let Some(def) = fetch_def(fetch_name) else {
            let kind = if HAPROXY_FETCHES.contains(&fetch_name) {
                ExprErrorKind::UnsupportedFetch {
                    name: fetch_name.to_owned(),
                }
            } else {
                ExprErrorKind::UnknownFetch {
                    name: fetch_name.to_owned(),
                }
            };
            return Err(err(start, kind));
        };
        let parsed = parse_arg_list(text, name_end, def.args, def.min).map_err(
            |ArgFailure { error, offset, .. }| {
                err(
                    offset,
                    ExprErrorKind::FetchArgs {
                        name: fetch_name.to_owned(),
                        error,
                    },
                )
            },
        )?;
        let args: Vec<_> = parsed.values.iter().map(|(v, _)| v.clone()).collect();
        let fetch = build_fetch(fetch_name, &args).map_err(|reason| {
            err(
                name_end,
                ExprErrorKind::FetchArgValue {
                    name: fetch_name.to_owned(),
                    reason,
                },
            )
        })?;

        let mut converters = Vec::new();
        let mut prev_type = def.out;
        let mut at = parsed.end;
        let bytes = text.as_bytes();
        loop {
            match bytes.get(at) {
                None => break,
                Some(b',') => {}
                Some(_) => {
                    let kind = match converters.last() {
                        Some(ConverterStep { name, .. }) => {
                            ExprErrorKind::MissingCommaAfterConverter { name: name.clone() }
                        }
                        None => ExprErrorKind::MissingCommaAfterFetch {
                            name: fetch_name.to_owned(),
                        },
                    };
                    return Err(err(at, kind));
                }
            }
            while bytes.get(at) == Some(&b',') {
                at += 1;
            }
            if at >= bytes.len() {
                break;
            }
            let conv_start = at;
            let conv_end = id_end(text, conv_start);
            let name = &text[conv_start..conv_end];
            let Some(cdef) = converter_def(name) else {
                let kind = if HAPROXY_CONVERTERS.contains(&name) {
                    ExprErrorKind::UnsupportedConverter {
                        name: name.to_owned(),
                    }
                } else {
                    ExprErrorKind::UnknownConverter {
                        name: name.to_owned(),
                    }
                };
                return Err(err(conv_start, kind));
            };
            if !prev_type.can_cast(cdef.input) {
                return Err(err(
                    conv_start,
                    ExprErrorKind::ConverterCannotApply {
                        name: name.to_owned(),
                        input: cdef.input,
                        given: prev_type,
                    },
                ));
            }
            let parsed = parse_arg_list(text, conv_end, cdef.args, cdef.min).map_err(
                |ArgFailure {
                     error,
                     position,
                     offset,
                 }| {
                    err(
                        offset,
                        ExprErrorKind::ConverterArgs {
                            name: name.to_owned(),
                            position: position + 1,
                            error,
                        },
                    )
                },
            )?;
            let args: Vec<_> = parsed.values.iter().map(|(v, _)| v.clone()).collect();
            let converter = build_converter(name, &args).map_err(|reason| {
                err(
                    conv_end,
                    ExprErrorKind::ConverterArgValue {
                        name: name.to_owned(),
                        reason,
                    },
                )
            })?;
            converters.push(ConverterStep {
                name: name.to_owned(),
                converter,
                input: cdef.input,
                output: cdef.output,
            });
            prev_type = cdef.output;
            at = parsed.end;
        }
        Ok(Self {
            text: text[start..].to_owned(),
            span: word.span_at(start),
            fetch_name: fetch_name.to_owned(),
            fetch,
            fetch_type: def.out,
            source: def.source,
            converters,
        })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Where it was written.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The fetch's name as written (`req.hdr`, `hdr`, `src`).
    pub fn fetch_name(&self) -> &str {
        &self.fetch_name
    }

    /// The fetch.
    pub fn fetch(&self) -> &FetchKind {
        &self.fetch
    }

    /// The converters, in order.
    pub fn converters(&self) -> &[ConverterStep] {
        &self.converters
    }

    /// Adds the full names of the variables the expression reads (see
    /// [`SampleExpr::for_each_var`]) to `names`. HAProxy registers them when it reads the
    /// configuration, so that agents may set them without `option force-set-var`.
    pub fn var_names(&self, names: &mut std::collections::BTreeSet<String>) {
        self.for_each_var(|var| {
            names.insert(var.to_string());
        });
    }

    /// Calls `f` with each variable the expression reads: `var(NAME)`, and the variables
    /// converters take as operands (`add(txn.x)`, `concat(,txn.x,)`).
    pub fn for_each_var(&self, mut f: impl FnMut(&VarRef)) {
        if let FetchKind::Var { var, .. } = &self.fetch {
            f(var);
        }
        for step in &self.converters {
            match &step.converter {
                Converter::Add(op)
                | Converter::Sub(op)
                | Converter::Mul(op)
                | Converter::Div(op)
                | Converter::Mod(op)
                | Converter::And(op)
                | Converter::Or(op)
                | Converter::Xor(op) => {
                    if let super::Operand::Var(var) = op {
                        f(var);
                    }
                }
                Converter::Concat { var: Some(var), .. } => f(var),
                _ => {}
            }
        }
    }

    /// What the fetch reads (decides at which events it has a value).
    pub fn source(&self) -> DataSource {
        self.source
    }

    /// The type HAProxy declares for the expression's result.
    pub fn output_type(&self) -> SampleType {
        self.converters.last().map_or(self.fetch_type, |c| c.output)
    }

    /// Evaluates the expression: fetch (constants directly, the rest through `host`), then
    /// each converter. `None` when the fetch has no value or a converter fails; HAProxy then
    /// sends NULL.
    pub fn eval<H: Fetch + ?Sized>(&self, host: &H) -> Option<Sample> {
        let sample = fetch_one(&self.fetch, host)?;
        self.convert(sample, host)
    }

    /// Every value the fetch gives (as ACLs see them), each through the converters; values a
    /// converter rejects are dropped.
    pub fn eval_all<H: Fetch + ?Sized>(&self, host: &H) -> Vec<Sample> {
        let values = if self.fetch.multi_valued() {
            host.fetch_all(&self.fetch)
        } else {
            fetch_one(&self.fetch, host).into_iter().collect()
        };
        values
            .into_iter()
            .filter_map(|s| self.convert(s, host))
            .collect()
    }

    fn convert<H: Fetch + ?Sized>(&self, mut sample: Sample, host: &H) -> Option<Sample> {
        for step in &self.converters {
            sample = step.converter.apply(sample, step.input, host)?;
        }
        Some(sample)
    }
}

fn fetch_one<H: Fetch + ?Sized>(fetch: &FetchKind, host: &H) -> Option<Sample> {
    match fetch {
        FetchKind::Const(s) => Some(s.clone()),
        FetchKind::Uuid => Some(Sample::str(super::fetch::uuid_v4())),
        FetchKind::Env { name } => host.env(name),
        FetchKind::Var { default, .. } => host
            .fetch(fetch)
            .or_else(|| default.as_ref().map(|d| Sample::str(d.clone()))),
        _ => host.fetch(fetch),
    }
}

impl fmt::Display for SampleExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::expr::fetch::VarScope;

    pub(crate) fn word(text: &str) -> Word {
        Word::synthetic(text, Span::new(Arc::from(Path::new("t.conf")), 1, 1))
    }

    /// Columns follow the text, one per byte, starting at 1.
    fn word_with_cols(text: &str) -> Word {
        let file: Arc<Path> = Arc::from(Path::new("t.conf"));
        let cx = crate::config::reader::lexer::LexContext {
            file: &file,
            env: &|_| None,
            section: None,
        };
        let mut diags = crate::config::Diagnostics::default();
        match crate::config::reader::lexer::lex_line(text, 1, &cx, &mut diags) {
            crate::config::reader::lexer::LexedLine::Words(mut w) => w.remove(0),
            other => panic!("{other:?}"),
        }
    }

    struct Host;

    impl Fetch for Host {
        fn fetch(&self, kind: &FetchKind) -> Option<Sample> {
            match kind {
                FetchKind::Src => Some(Sample::Ipv4(Ipv4Addr::new(192, 0, 2, 7))),
                FetchKind::SrcPort => Some(Sample::Int(51000)),
                FetchKind::Dst => Some(Sample::Ipv4(Ipv4Addr::new(192, 0, 2, 1))),
                FetchKind::DstPort => Some(Sample::Int(80)),
                FetchKind::Method => Some(Sample::str("POST")),
                FetchKind::Path => Some(Sample::str("/Admin/Index.html")),
                FetchKind::Query => Some(Sample::str("a=1&b=2")),
                FetchKind::Url => Some(Sample::str("/Admin/Index.html?a=1&b=2")),
                FetchKind::ReqVer => Some(Sample::str("1.1")),
                FetchKind::ReqHdrs => Some(Sample::str("host: x\r\n\r\n")),
                FetchKind::ReqHdrsBin => Some(Sample::bin(&b"\x04host\x01x\x00\x00"[..])),
                FetchKind::ReqBody => Some(Sample::bin(&b"{\"k\":1}"[..])),
                FetchKind::ReqHdr {
                    name: Some(n),
                    occ: None,
                } if n.eq_ignore_ascii_case("host") => Some(Sample::str("Example.COM")),
                FetchKind::ReqHdrCnt { name: Some(n) } if n == "x-multi" => Some(Sample::Int(2)),
                FetchKind::Status => Some(Sample::Int(404)),
                FetchKind::ResHdrs => Some(Sample::str("server: y\r\n\r\n")),
                FetchKind::ResHdr { name: Some(n), .. } if n == "server" => Some(Sample::str("y")),
                FetchKind::UniqueId => Some(Sample::str("id-1")),
                FetchKind::Var { var, .. }
                    if var.scope == VarScope::Txn && var.name() == "crowdsec.remediation" =>
                {
                    Some(Sample::str("ban"))
                }
                _ => None,
            }
        }
    }

    fn eval(text: &str) -> Option<Sample> {
        SampleExpr::parse(&word(text)).unwrap().eval(&Host)
    }

    fn error(text: &str) -> String {
        let e = SampleExpr::parse(&word_with_cols(text)).unwrap_err();
        format!("{}: {}", e.span.col, e.kind)
    }

    #[test]
    fn every_fetch_reaches_the_host_or_is_constant() {
        let s = Sample::str;
        assert_eq!(eval("src"), Some(Sample::Ipv4(Ipv4Addr::new(192, 0, 2, 7))));
        assert_eq!(eval("src_port"), Some(Sample::Int(51000)));
        assert_eq!(eval("dst"), Some(Sample::Ipv4(Ipv4Addr::new(192, 0, 2, 1))));
        assert_eq!(eval("dst_port"), Some(Sample::Int(80)));
        assert_eq!(eval("method"), Some(s("POST")));
        assert_eq!(eval("path"), Some(s("/Admin/Index.html")));
        assert_eq!(eval("query"), Some(s("a=1&b=2")));
        assert_eq!(eval("url"), Some(s("/Admin/Index.html?a=1&b=2")));
        assert_eq!(eval("req.ver"), Some(s("1.1")));
        assert_eq!(eval("req.hdrs"), Some(s("host: x\r\n\r\n")));
        assert_eq!(
            eval("req.hdrs_bin"),
            Some(Sample::bin(&b"\x04host\x01x\x00\x00"[..]))
        );
        assert_eq!(eval("req.body"), Some(Sample::bin(&b"{\"k\":1}"[..])));
        assert_eq!(eval("req.hdr(host)"), Some(s("Example.COM")));
        assert_eq!(eval("req.hdr(absent)"), None);
        assert_eq!(eval("req.hdr_cnt(x-multi)"), Some(Sample::Int(2)));
        assert_eq!(eval("status"), Some(Sample::Int(404)));
        assert_eq!(eval("res.hdrs"), Some(s("server: y\r\n\r\n")));
        assert_eq!(eval("res.hdr(server)"), Some(s("y")));
        assert_eq!(eval("unique-id"), Some(s("id-1")));
        assert_eq!(eval("var(txn.crowdsec.remediation)"), Some(s("ban")));
        assert_eq!(eval("var(txn.unset)"), None);
        assert_eq!(eval("var(txn.unset,dflt)"), Some(s("dflt")));
        assert_eq!(eval("str(sample_app)"), Some(s("sample_app")));
        assert_eq!(eval("str"), Some(s("")));
        assert_eq!(eval(r#"str("a b")"#), Some(s("a b")));
        assert_eq!(eval("int(-12)"), Some(Sample::Int(-12)));
        assert_eq!(eval("bool(true)"), Some(Sample::Bool(true)));
        assert_eq!(
            eval("ipv4(10.0.0.1)"),
            Some(Sample::Ipv4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(
            eval("ipv6(::1)"),
            Some(Sample::Ipv6(std::net::Ipv6Addr::LOCALHOST))
        );
        assert_eq!(eval("bin(00ff)"), Some(Sample::bin(&[0u8, 0xff][..])));
        assert_eq!(eval("meth(PURGE)"), Some(s("PURGE")));
        assert_eq!(eval("always_true"), Some(Sample::Bool(true)));
        assert_eq!(eval("always_false"), Some(Sample::Bool(false)));
    }

    #[test]
    fn converters_chain() {
        let s = Sample::str;
        assert_eq!(eval("req.hdr(host),lower"), Some(s("example.com")));
        assert_eq!(eval("path,upper"), Some(s("/ADMIN/INDEX.HTML")));
        assert_eq!(eval("str(abc),hex"), Some(s("616263")));
        assert_eq!(eval("str(abc),base64"), Some(s("YWJj")));
        assert_eq!(eval("path,length"), Some(Sample::Int(17)));
        assert_eq!(
            eval("src,ipmask(24)"),
            Some(Sample::Ipv4(Ipv4Addr::new(192, 0, 2, 0)))
        );
        assert_eq!(eval("path,field(2,/),lower"), Some(s("admin")));
        assert_eq!(eval("str(abc),,upper"), Some(s("ABC")));
        assert_eq!(eval("req.hdr(absent),lower"), None);
        assert_eq!(eval("str(x),b64dec"), None);
        let e = SampleExpr::parse(&word("req.body,hex,length")).unwrap();
        assert_eq!(e.output_type(), SampleType::Int);
        assert_eq!(e.fetch_name(), "req.body");
        assert_eq!(e.converters().len(), 2);
        assert_eq!(e.to_string(), "req.body,hex,length");
    }

    #[test]
    fn parse_errors() {
        assert_eq!(error("bar"), "1: unknown fetch method 'bar'");
        assert_eq!(error("(x)"), "1: missing fetch method");
        assert_eq!(
            error("ssl_c_notafter"),
            "1: fetch method 'ssl_c_notafter' is not supported by this engine (HAProxy has it)"
        );
        assert_eq!(error("src,foo"), "5: unknown converter 'foo'");
        assert_eq!(
            error("src,sha1"),
            "5: converter 'sha1' is not supported by this engine (HAProxy has it)"
        );
        assert_eq!(
            error("int(x)"),
            "5: fetch method 'int' : failed to parse 'x' as type 'sint' at position 1"
        );
        assert_eq!(
            error("int"),
            "4: fetch method 'int' : expected type 'sint' at position 1, but got nothing"
        );
        assert_eq!(
            error("req.hdr(a,1,2)"),
            "12: fetch method 'req.hdr' : expected ')' before ',2)'"
        );
        assert_eq!(
            error("var(foo)"),
            "4: invalid args in fetch method 'var' : invalid variable name 'foo'. A variable \
             name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', \
             'res' or 'check'"
        );
        assert_eq!(
            error("bool(maybe)"),
            "5: invalid args in fetch method 'bool' : Expects 'true', 'false', '0' or '1'"
        );
        assert_eq!(error("src:x"), "1: unknown fetch method 'src:x'");
        assert_eq!(
            error("path;lower"),
            "5: missing comma after fetch keyword 'path'"
        );
        assert_eq!(
            error("path,lower;x"),
            "11: missing comma after converter 'lower'"
        );
        assert_eq!(
            error("bool(1),ipmask(8)"),
            "9: converter 'ipmask' cannot be applied (it takes addr, the expression gives bool)"
        );
        assert_eq!(
            error("path,lower(1)"),
            "12: invalid arg 1 in converter 'lower' : expected ')' before '1)'"
        );
        assert_eq!(
            error("path,field(x,:)"),
            "12: invalid arg 1 in converter 'field' : failed to parse 'x' as type 'sint' at position 1"
        );
        assert_eq!(
            error("path,field(0,:)"),
            "11: invalid args in converter 'field' : Unexpected value 0 for index"
        );
        assert_eq!(
            error("path,bytes"),
            "11: invalid arg 1 in converter 'bytes' : expected type 'sint' at position 1, but got nothing"
        );
    }
}
