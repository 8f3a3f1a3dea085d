//! The arguments of an http reply (`http_parse_http_reply()` in HAProxy 2.6's
//! `src/http_htx.c`), shared by `deny`, `tarpit`, `return` and `http-error`: `status`,
//! `content-type`, `hdr NAME FMT`, and one of `default-errorfiles`, `errorfile FILE`,
//! `errorfiles NAME`, `file FILE`, `lf-file FILE`, `string S`, `lf-string FMT`; with HAProxy's
//! checks and messages.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use spoe::config::Span;
use spoe::config::reader::Word;

use super::actions::ActionParser;
use crate::errorfile::{ErrorFile, STATUSES};
use crate::model::{LogFormat, Reply, ReturnBody};

/// An http reply's arguments as read.
#[derive(Debug)]
pub(super) struct ParsedReply {
    pub(super) status: u16,
    pub(super) reply: Reply,
    /// `errorfiles NAME`: the section's name, where it is written (the page is its file for
    /// the status, found once every section is read; `reply` is an empty one until then).
    pub(super) section: Option<(String, Span)>,
    /// The words it used.
    pub(super) used: usize,
}

/// The payload argument.
enum Payload {
    Empty,
    /// `default-errorfiles`.
    ProxyPage,
    /// `errorfile FILE`.
    Message(Arc<ErrorFile>),
    /// `errorfiles NAME`.
    Section(String, Span),
    /// `file FILE`, `string S`.
    Raw(Bytes),
    /// `lf-file FILE`, `lf-string FMT`.
    LogFormat(LogFormat),
}

/// Reads an error message file as HAProxy does (`http_load_errorfile()`): truncated to
/// `tune.bufsize` (with the warning returned), then parsed as a whole HTTP response.
pub(super) fn load_message(
    path: &Path,
    name: &str,
    bufsize: usize,
) -> Result<(ErrorFile, Option<String>), String> {
    let mut raw = std::fs::read(path).map_err(|_| format!("error opening file '{name}'."))?;
    let mut warning = None;
    if raw.len() > bufsize {
        warning = Some(format!(
            "custom error message file '{name}' larger than {bufsize} bytes. Truncating."
        ));
        raw.truncate(bufsize);
    }
    let page = ErrorFile::parse(&raw).map_err(|e| format!("'{name}': {e}"))?;
    Ok((page, warning))
}

/// Reads a reply's payload file (`file`, `lf-file`): at most `tune.bufsize` bytes.
fn read_payload(path: &Path, name: &str, bufsize: usize) -> Result<Vec<u8>, String> {
    let raw = std::fs::read(path).map_err(|_| format!("error opening file '{name}'"))?;
    if raw.len() > bufsize {
        return Err(format!(
            "file '{name}' exceeds the buffer size ({} > {bufsize})",
            raw.len()
        ));
    }
    Ok(raw)
}

impl ActionParser<'_, '_> {
    /// An http reply's arguments from the first word (`deny_status` there too for `deny`).
    pub(super) fn http_reply(&mut self, default_status: u16, deny: bool) -> Option<ParsedReply> {
        let mut status = default_status;
        let mut content_type: Option<(String, Span)> = None;
        let mut headers: Vec<(String, LogFormat, Span)> = Vec::new();
        let mut payload = Payload::Empty;
        let mut payload_kw: &'static str = "";
        let mut i = 0;
        let mut ok = true;
        while let Some(word) = self.args.get(i) {
            let kw = word.as_str();
            match kw {
                "status" => {
                    let value = self.value(i + 1, "status", "<status_code>")?;
                    status = self.status(value, 200, 599)?;
                    i += 2;
                }
                "deny_status" if deny && i == 0 => {
                    let value = self.value(i + 1, "deny_status", "<status_code>")?;
                    status = self.status(value, 200, 599)?;
                    i += 2;
                }
                "content-type" => {
                    let value = self.value(i + 1, "content-type", "<ctype>")?;
                    content_type = Some((value.as_str().to_owned(), value.span().clone()));
                    i += 2;
                }
                "hdr" => {
                    let (Some(name), Some(value)) = (self.args.get(i + 1), self.args.get(i + 2))
                    else {
                        self.fail(word.span(), "'hdr' expects <name> and <value> as arguments");
                        return None;
                    };
                    let lower = name.as_str().to_ascii_lowercase();
                    if ["content-length", "transfer-encoding", "content-type"]
                        .contains(&lower.as_str())
                    {
                        self.diag.ignored(
                            name.span().clone(),
                            format!("hdr {}", name.as_str()),
                            "the http reply always sets this header itself (HAProxy ignores it too)",
                        );
                    } else {
                        match self.log_format(value) {
                            Some(f) => {
                                headers.push((name.as_str().to_owned(), f, word.span().clone()));
                            }
                            None => ok = false,
                        }
                    }
                    i += 3;
                }
                "default-errorfiles" | "errorfile" | "errorfiles" | "file" | "lf-file"
                | "string" | "lf-string" => {
                    let kw: &'static str = match kw {
                        "default-errorfiles" => "default-errorfiles",
                        "errorfile" => "errorfile",
                        "errorfiles" => "errorfiles",
                        "file" => "file",
                        "lf-file" => "lf-file",
                        "string" => "string",
                        _ => "lf-string",
                    };
                    if !payload_kw.is_empty() {
                        let msg =
                            format!("unexpected '{kw}' argument, '{payload_kw}' already defined");
                        self.fail(word.span(), msg);
                        return None;
                    }
                    payload_kw = kw;
                    if kw == "default-errorfiles" {
                        payload = Payload::ProxyPage;
                        i += 1;
                        continue;
                    }
                    let expects = match kw {
                        "errorfile" | "lf-string" => "<fmt>",
                        "errorfiles" => "<name>",
                        "string" => "<str>",
                        _ => "<file>",
                    };
                    let value = self.value(i + 1, kw, expects)?;
                    match self.payload(kw, value) {
                        Some(p) => payload = p,
                        None => ok = false,
                    }
                    i += 2;
                }
                _ => break,
            }
        }
        if !ok {
            return None;
        }
        let at = self.at.span().clone();
        let mut section = None;
        let reply = match payload {
            Payload::Empty => {
                if let Some((ctype, span)) = content_type.take() {
                    self.diag.ignored(
                        span,
                        format!("content-type {ctype}"),
                        "the http reply has no payload (HAProxy ignores it too)",
                    );
                }
                built(None, headers, None)
            }
            Payload::ProxyPage | Payload::Section(..) | Payload::Message(_) => {
                if !matches!(payload, Payload::Message(_)) && !STATUSES.contains(&status) {
                    self.fail(
                        &at,
                        format!(
                            "status code '{status}' not handled by default with '{payload_kw}' argument"
                        ),
                    );
                    return None;
                }
                if let Some((ctype, span)) = content_type {
                    self.diag.ignored(
                        span,
                        format!("content-type {ctype}"),
                        "the http reply is an errorfile (HAProxy ignores it too)",
                    );
                }
                if let Some((_, _, span)) = headers.first() {
                    self.diag.ignored(
                        span.clone(),
                        "hdr",
                        "the http reply is an errorfile (HAProxy ignores its hdr parameters too)",
                    );
                }
                match payload {
                    Payload::Message(m) => Reply::Message(m),
                    Payload::Section(name, span) => {
                        section = Some((name, span));
                        built(None, Vec::new(), None)
                    }
                    _ => Reply::ProxyPage,
                }
            }
            Payload::Raw(bytes) => {
                if matches!(status, 204 | 304) && !bytes.is_empty() {
                    self.fail(&at, format!("No body expected for {status} responses"));
                    return None;
                }
                if content_type.is_none() && !bytes.is_empty() {
                    self.fail(
                        &at,
                        "a content type must be defined when non-empty payload is configured",
                    );
                    return None;
                }
                if bytes.is_empty()
                    && let Some((ctype, span)) = content_type.take()
                {
                    self.diag.ignored(
                        span,
                        format!("content-type {ctype}"),
                        "the http reply's payload is empty (HAProxy ignores it too)",
                    );
                }
                let body = (!bytes.is_empty()).then_some(ReturnBody::Raw(bytes));
                built(content_type.map(|(c, _)| c), headers, body)
            }
            Payload::LogFormat(fmt) => {
                if matches!(status, 204 | 304) {
                    self.fail(&at, format!("No body expected for {status} responses"));
                    return None;
                }
                if content_type.is_none() {
                    self.fail(
                        &at,
                        "a content type must be defined with a log-format payload",
                    );
                    return None;
                }
                built(
                    content_type.map(|(c, _)| c),
                    headers,
                    Some(ReturnBody::LogFormat(fmt)),
                )
            }
        };
        Some(ParsedReply {
            status,
            reply,
            section,
            used: i,
        })
    }

    /// The payload of `kw VALUE`.
    fn payload(&mut self, kw: &str, value: &Word) -> Option<Payload> {
        let name = value.as_str();
        let path = self.files.base_dir.join(name);
        let bufsize = self.files.bufsize;
        match kw {
            "string" => Some(Payload::Raw(Bytes::copy_from_slice(name.as_bytes()))),
            "lf-string" => self.log_format(value).map(Payload::LogFormat),
            "errorfiles" => Some(Payload::Section(name.to_owned(), value.span().clone())),
            "errorfile" => match load_message(&path, name, bufsize) {
                Ok((page, warning)) => {
                    if let Some(w) = warning {
                        self.diag.warn_msg(value.span().clone(), w);
                    }
                    Some(Payload::Message(Arc::new(page)))
                }
                Err(e) => {
                    self.fail(value.span(), e);
                    None
                }
            },
            _ => {
                let raw = match read_payload(&path, name, bufsize) {
                    Ok(raw) => raw,
                    Err(e) => {
                        self.fail(value.span(), e);
                        return None;
                    }
                };
                if kw == "file" {
                    return Some(Payload::Raw(Bytes::from(raw)));
                }
                let text = String::from_utf8_lossy(&raw);
                let word = Word::synthetic(text, value.span().clone());
                self.log_format(&word).map(Payload::LogFormat)
            }
        }
    }
}

fn built(
    content_type: Option<String>,
    headers: Vec<(String, LogFormat, Span)>,
    body: Option<ReturnBody>,
) -> Reply {
    Reply::Built {
        content_type,
        headers: headers.into_iter().map(|(n, f, _)| (n, f)).collect(),
        body,
    }
}
