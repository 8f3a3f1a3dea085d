//! The HTML page, laid out as HAProxy 2.6's (`stats_dump_html_*()` in `src/stats.c`): the
//! process's figures and the legend of the colours, then one table per proxy with HAProxy's
//! column groups (Queue, Session rate, Sessions, Bytes, Denied, Errors, Warnings, Server) and
//! a line per frontend, server and backend, coloured by state with HAProxy's colours; then
//! the SPOE agents' figures. With `stats admin`, a backend's servers get check boxes and the
//! actions HAProxy offers for them (ready, drain, maint).

use std::fmt::Write as _;

use super::PageRequest;
use crate::metrics::snapshot::Snapshot;
use crate::model::StatsPage;
use crate::stats::{Field, ObjType, Row, Value};

/// The style sheet: HAProxy's classes and colours.
const STYLE: &str = "\
body { font-family: arial, helvetica, sans-serif; font-size: 12px; font-weight: normal; color: black; background: white;}
th,td { font-size: 10px;}
h1 { font-size: x-large; margin-bottom: 0.5em;}
h2 { font-family: helvetica, arial; font-size: x-large; font-weight: bold; font-style: italic; color: #6020a0; margin-top: 0em; margin-bottom: 0em;}
h3 { font-family: helvetica, arial; font-size: 16px; font-weight: bold; color: #b00040; background: #e8e8d0; margin-top: 0em; margin-bottom: 0em;}
li { margin-top: 0.25em; margin-right: 2em;}
.hr {margin-top: 0.25em; border-color: black; border-bottom-style: solid;}
.titre {background: #20D0D0;color: #000000; font-weight: bold; text-align: center;}
.total {background: #20D0D0;color: #ffff80;}
.frontend {background: #e8e8d0;}
.backend {background: #e8e8d0;}
.active_down {background: #ff9090;}
.active_going_up {background: #ffd020;}
.active_going_down {background: #ffffa0;}
.active_up {background: #c0ffc0;}
.active_draining {background: #20a0FF;}
.active_no_check {background: #e0e0e0;}
.maintain {background: #c07820;}
.rls {letter-spacing: 0.2em; margin-right: 1px;}
a.px:link {color: #ffff40; text-decoration: none;} a.px:visited {color: #ffff40; text-decoration: none;} a.px:hover {color: #ffffff; text-decoration: none;}
a.lfsb:link {color: #000000; text-decoration: none;} a.lfsb:visited {color: #000000; text-decoration: none;} a.lfsb:hover {color: #505050; text-decoration: none;}
table.tbl { border-collapse: collapse; border-style: none;}
table.tbl td { text-align: right; border-width: 1px 1px 1px 1px; border-style: solid solid solid solid; padding: 2px 3px; border-color: gray; white-space: nowrap;}
table.tbl td.ac { text-align: center;}
table.tbl th { border-width: 1px; border-style: solid solid solid solid; border-color: gray;}
table.tbl th.pxname { background: #b00040; color: #ffff40; font-weight: bold; border-style: solid solid none solid; padding: 2px 3px; white-space: nowrap;}
table.tbl th.empty { border-style: none; empty-cells: hide; background: white;}
table.tbl th.desc { background: white; border-style: solid solid none solid; text-align: left; padding: 2px 3px;}
table.lgd { border-collapse: collapse; border-width: 1px; border-style: none none none solid; border-color: black;}
table.lgd td { border-width: 1px; border-style: solid solid solid solid; border-color: gray; padding: 2px;}
table.lgd td.noborder { border-style: none; padding: 2px; white-space: nowrap;}
table.det { border-collapse: collapse; border-style: none;}
table.det th { text-align: left; border-width: 0px; padding: 0px 1px 0px 0px; font-style:normal;font-size:11px;font-weight:bold;font-family: sans-serif;}
table.det td { text-align: right; border-width: 0px; padding: 0px 0px 0px 4px; white-space: nowrap; font-style:normal;font-size:11px;font-weight:normal;}
u {text-decoration:none; border-bottom: 1px dotted black;}
div.tips { display:block; visibility:hidden; z-index:2147483647; position:absolute; padding:2px 4px 3px; background:#f0f060; color:#000000; border:1px solid #7040c0; white-space:nowrap; font-style:normal;font-size:11px;font-weight:normal; -moz-border-radius:3px;-webkit-border-radius:3px;border-radius:3px; -moz-box-shadow:gray 2px 2px 3px;-webkit-box-shadow:gray 2px 2px 3px;box-shadow:gray 2px 2px 3px;}
u:hover div.tips {visibility:visible;}
div.spoe { margin-top: 1em;}
";

/// The message of an admin action's result (`;st=`).
fn status_message(code: &str) -> (&'static str, &'static str) {
    match code {
        "DONE" => ("active_up", "Action processed successfully."),
        "NONE" => ("active_going_down", "Nothing has changed."),
        "PART" => ("active_going_down", "Action partially processed."),
        "ERRP" => (
            "active_down",
            "Action not processed because of invalid parameters.",
        ),
        "EXCD" => (
            "active_down",
            "Action not processed : the buffer couldn't store all the data.",
        ),
        "DENY" => ("active_down", "Action denied."),
        "IVAL" => ("active_down", "Invalid requests (unsupported method)."),
        _ => ("active_down", "Unexpected result."),
    }
}

/// HTML text, escaped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as HAProxy writes big ones: the thousands apart (`<span class="rls">9</span>985`).
fn num(v: &Value) -> String {
    match v {
        Value::U64(n) => grouped(*n),
        other => esc(&other.to_string()),
    }
}

fn grouped(n: u64) -> String {
    let digits = n.to_string();
    if digits.len() <= 3 {
        return digits;
    }
    let head = digits.len() % 3;
    let mut out = String::new();
    let mut rest = digits.as_str();
    if head > 0 {
        let _ = write!(out, "<span class=\"rls\">{}</span>", &rest[..head]);
        rest = &rest[head..];
    }
    while rest.len() > 3 {
        let _ = write!(out, "<span class=\"rls\">{}</span>", &rest[..3]);
        rest = &rest[3..];
    }
    out.push_str(rest);
    out
}

/// A duration in seconds as HAProxy's `human_time()`: `4s`, `2m3s`, `1h0m`, `3d4h`.
fn human(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{}m", s / 3600, (s / 60) % 60),
        s => format!("{}d{}h", s / 86400, (s / 3600) % 24),
    }
}

/// The page being written.
pub(super) struct View<'a> {
    pub(super) page: &'a StatsPage,
    pub(super) req: &'a PageRequest,
    pub(super) admin: bool,
    pub(super) snapshot: &'a Snapshot,
    pub(super) rows: &'a [Row],
}

impl View<'_> {
    pub(super) fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        out.push_str(
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\"\n\
             \"http://www.w3.org/TR/html4/loose.dtd\">\n\
             <html><head><title>Statistics Report for spoe-gateway</title>\n\
             <link rel=\"icon\" href=\"data:,\">\n\
             <meta http-equiv=\"content-type\" content=\"text/html; charset=utf-8\">\n\
             <style type=\"text/css\"><!--\n",
        );
        out.push_str(STYLE);
        out.push_str("--></style></head>\n<body>");
        self.head(&mut out);
        for proxy in proxies(self.rows) {
            self.proxy(&mut out, &proxy);
        }
        self.agents(&mut out);
        out.push_str("</body></html>\n");
        out
    }

    fn head(&self, out: &mut String) {
        let info = &self.snapshot.info;
        if self.page.hide_version {
            out.push_str("<h1>spoe-gateway</h1>\n");
        } else {
            let _ = writeln!(
                out,
                "<h1>spoe-gateway version {}</h1>",
                env!("CARGO_PKG_VERSION")
            );
        }
        let node = match self.page.show_node.as_deref() {
            Some("") => format!(" on {}", esc(&hostname())),
            Some(n) => format!(" on {}", esc(n)),
            None => String::new(),
        };
        let _ = writeln!(out, "<h2>Statistics Report for pid {}{node}</h2>", info.pid);
        if let Some(desc) = &self.page.show_desc {
            let _ = writeln!(out, "<h2>{}</h2>", esc(desc));
        }
        out.push_str(
            "<hr width=\"100%\" class=\"hr\">\n<h3>&gt; General process information</h3>\n",
        );
        let up = info.uptime.as_secs();
        let _ = write!(
            out,
            "<table border=0><tr><td align=\"left\" nowrap width=\"1%\">\n\
             <p><b>pid = </b> {} (process #1, nbproc = 1, nbthread = {})<br>\n\
             <b>uptime = </b> {}d {}h{:02}m{:02}s<br>\n\
             <b>maxconn = </b> {}<br>\n\
             current conns = {}; conn rate = {}/sec<br>\n\
             </td><td align=\"center\" nowrap>\n",
            info.pid,
            info.threads,
            up / 86400,
            (up / 3600) % 24,
            (up / 60) % 60,
            up % 60,
            info.maxconn,
            info.current_conns,
            info.conn_rate,
        );
        out.push_str(
            "<table class=\"lgd\"><tr>\n\
             <td class=\"active_up\">&nbsp;</td><td class=\"noborder\">active UP </td></tr><tr>\n\
             <td class=\"active_down\"></td><td class=\"noborder\">active DOWN </td></tr><tr>\n\
             <td class=\"active_no_check\"></td><td class=\"noborder\">not checked </td></tr><tr>\n\
             <td class=\"maintain\"></td><td class=\"noborder\">DOWN for maintenance (MAINT) &nbsp;</td></tr><tr>\n\
             <td class=\"active_draining\"></td><td class=\"noborder\">SOFT STOPPED for maintenance (DRAIN) &nbsp;</td></tr></table>\n\
             Note: \"DRAIN\" = UP with load-balancing disabled.</td>",
        );
        let uri = esc(&self.page.uri);
        let up_opt = if self.req.up { ";up" } else { "" };
        let norefresh = if self.req.norefresh { ";norefresh" } else { "" };
        let _ = writeln!(
            out,
            "<td align=\"left\" valign=\"top\" nowrap width=\"1%\"><b>Display option:</b><ul style=\"margin-top: 0.25em;\">\
             <li><form method=\"GET\">Scope : <input value=\"{}\" name=\"scope\" size=\"8\" maxlength=\"20\" tabindex=\"1\"/></form>",
            esc(self.req.scope.as_deref().unwrap_or_default())
        );
        if self.req.up {
            let _ = writeln!(
                out,
                "<li><a href=\"{uri}{norefresh}\">Show all servers</a><br>"
            );
        } else {
            let _ = writeln!(
                out,
                "<li><a href=\"{uri};up{norefresh}\">Hide 'DOWN' servers</a><br>"
            );
        }
        if self.page.refresh.is_some() {
            if self.req.norefresh {
                let _ = writeln!(out, "<li><a href=\"{uri}{up_opt}\">Enable refresh</a><br>");
            } else {
                let _ = writeln!(
                    out,
                    "<li><a href=\"{uri}{up_opt};norefresh\">Disable refresh</a><br>"
                );
            }
        }
        let _ = writeln!(
            out,
            "<li><a href=\"{uri}{up_opt}{norefresh}\">Refresh now</a><br>"
        );
        let _ = writeln!(
            out,
            "<li><a href=\"{uri};csv{norefresh}\">CSV export</a><br>"
        );
        out.push_str("</ul></td></tr></table>\n");
        if let Some(code) = &self.req.status {
            let (class, text) = status_message(code);
            let _ = writeln!(
                out,
                "<p><div class={class}><a class=lfsb href=\"{uri}{up_opt}{norefresh}\" title=\"Remove this message\">[X]</a> {text}</div>"
            );
        }
        if self.page.show_legends {
            out.push_str("<p>Hover a figure for its details; each server's address is in its name's tooltip.</p>\n");
        }
    }

    fn proxy(&self, out: &mut String, rows: &[&Row]) {
        let name = esc(rows[0].proxy());
        let admin = self.admin && rows.iter().any(|r| r.obj == ObjType::Server);
        if admin {
            let _ = writeln!(out, "<form method=\"post\">");
        }
        let _ = write!(
            out,
            "<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\"><th class=\"pxname\" width=\"10%\">\
             <a name=\"{name}\"></a><a class=px href=\"#{name}\">{name}</a></th><th class=\"empty\" width=\"90%\"></th></tr>\n</table>\n\
             <table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\">"
        );
        if admin {
            out.push_str("<th rowspan=2 width=1></th>");
        }
        out.push_str(
            "<th rowspan=2></th><th colspan=3>Queue</th><th colspan=3>Session rate</th>\
             <th colspan=6>Sessions</th><th colspan=2>Bytes</th><th colspan=2>Denied</th>\
             <th colspan=3>Errors</th><th colspan=2>Warnings</th><th colspan=9>Server</th></tr>\n\
             <tr class=\"titre\"><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th>\
             <th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th>\
             <th>Last</th><th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th>\
             <th>Resp</th><th>Retr</th><th>Redis</th><th>Status</th><th>LastChk</th><th>Wght</th>\
             <th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Thrtle</th>\n</tr>",
        );
        for row in rows {
            self.row(out, row, admin);
        }
        out.push_str("</table>");
        if admin {
            let _ = write!(
                out,
                "Choose the action to perform on the checked servers : <select name=action>\
                 <option value=\"\"></option><option value=\"ready\">Set state to READY</option>\
                 <option value=\"drain\">Set state to DRAIN</option>\
                 <option value=\"maint\">Set state to MAINT</option></select>\
                 <input type=\"hidden\" name=\"b\" value=\"{name}\">&nbsp;<input type=\"submit\" value=\"Apply\"></form>"
            );
        }
        out.push_str("<p>\n");
    }

    fn row(&self, out: &mut String, r: &Row, admin: bool) {
        let g = |f: Field| num(r.get(f));
        let px = esc(r.proxy());
        let sv = esc(r.svname());
        let (class, label) = match r.obj {
            ObjType::Frontend => ("frontend".to_owned(), "Frontend".to_owned()),
            ObjType::Backend => ("backend".to_owned(), "Backend".to_owned()),
            ObjType::Server => (server_class(r).to_owned(), sv.clone()),
        };
        let _ = write!(out, "<tr class=\"{class}\">");
        if admin {
            if r.obj == ObjType::Server {
                let _ = write!(
                    out,
                    "<td><input type=\"checkbox\" name=\"s\" value=\"{sv}\"></td>"
                );
            } else {
                out.push_str("<td></td>");
            }
        }
        let anchor = format!("{px}/{label}");
        let title = match r.get(Field::Addr) {
            Value::Str(a) if !a.is_empty() => format!(" title=\"IP: {}\"", esc(a)),
            _ => String::new(),
        };
        let _ = write!(
            out,
            "<td class=ac><a name=\"{anchor}\"></a><a class=lfsb href=\"#{anchor}\"{title}>{label}</a></td>"
        );
        let dash = |v: &Value| match v {
            Value::Empty => "-".to_owned(),
            v => num(v),
        };
        match r.obj {
            ObjType::Frontend => {
                let _ = writeln!(
                    out,
                    "<td colspan=3></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                     <td>{}</td><td></td><td></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                     <td></td><td></td><td></td><td></td><td class=ac>{}</td><td class=ac colspan=8></td></tr>",
                    g(Field::Rate),
                    g(Field::RateMax),
                    match r.get(Field::RateLim) {
                        Value::U64(0) | Value::Empty => "-".to_owned(),
                        v => num(v),
                    },
                    g(Field::Scur),
                    g(Field::Smax),
                    g(Field::Slim),
                    g(Field::Stot),
                    g(Field::Bin),
                    g(Field::Bout),
                    g(Field::Dreq),
                    g(Field::Dresp),
                    g(Field::Ereq),
                    g(Field::Status),
                );
            }
            ObjType::Server | ObjType::Backend => {
                let server = r.obj == ObjType::Server;
                let last = match r.get(Field::Lastsess) {
                    Value::S64(s) if *s >= 0 => human(s.unsigned_abs()),
                    _ => "?".to_owned(),
                };
                let lastchg = match r.get(Field::Lastchg) {
                    Value::U64(s) => human(*s),
                    _ => String::new(),
                };
                let status = match r.get(Field::Status) {
                    Value::Str(s) if s == "no check" => "<i>no check</i>".to_owned(),
                    Value::Str(s) if s == "UP" || s == "DOWN" => format!("{lastchg} {s}"),
                    v => num(v),
                };
                let lastchk = match (r.get(Field::CheckStatus), r.get(Field::CheckDuration)) {
                    (Value::Str(s), Value::U64(ms)) => format!("{} in {ms}ms", esc(s)),
                    (Value::Str(s), _) => esc(s),
                    _ if server => String::new(),
                    _ => "&nbsp;".to_owned(),
                };
                let weight = format!("{}/{}", g(Field::Weight), g(Field::Uweight));
                let (act, bck) = if server {
                    (
                        if matches!(r.get(Field::Bck), Value::U64(1)) {
                            "-"
                        } else {
                            "Y"
                        }
                        .to_owned(),
                        if matches!(r.get(Field::Bck), Value::U64(1)) {
                            "Y"
                        } else {
                            "-"
                        }
                        .to_owned(),
                    )
                } else {
                    (g(Field::Act), g(Field::Bck))
                };
                let dwntme = match r.get(Field::Downtime) {
                    Value::U64(s) => human(*s),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td></td><td>{}</td><td>{}</td>\
                     <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                     <td></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=ac>{status}</td>\
                     <td class=ac>{lastchk}</td><td class=ac>{weight}</td><td class=ac>{act}</td>\
                     <td class=ac>{bck}</td><td>{}</td><td>{}</td><td>{dwntme}</td><td class=ac>{}</td></tr>",
                    g(Field::Qcur),
                    g(Field::Qmax),
                    if server {
                        dash(r.get(Field::Qlimit))
                    } else {
                        String::new()
                    },
                    g(Field::Rate),
                    g(Field::RateMax),
                    g(Field::Scur),
                    g(Field::Smax),
                    if server {
                        dash(r.get(Field::Slim))
                    } else {
                        g(Field::Slim)
                    },
                    g(Field::Stot),
                    g(Field::Lbtot),
                    last,
                    g(Field::Bin),
                    g(Field::Bout),
                    if server {
                        String::new()
                    } else {
                        g(Field::Dreq)
                    },
                    g(Field::Dresp),
                    g(Field::Econ),
                    g(Field::Eresp),
                    g(Field::Wretr),
                    g(Field::Wredis),
                    g(Field::Chkfail),
                    g(Field::Chkdown),
                    if server { "-" } else { "" },
                );
            }
        }
    }

    /// The SPOE agents' figures, which HAProxy's page does not have.
    fn agents(&self, out: &mut String) {
        if self.snapshot.agents.is_empty() {
            return;
        }
        out.push_str(
            "<div class=\"spoe\"><table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\"><th class=\"pxname\" width=\"10%\">\
             <a name=\"spoe\"></a><a class=px href=\"#spoe\">SPOE agents</a></th><th class=\"empty\" width=\"90%\"></th></tr>\n</table>\n\
             <table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\"><th>Agent</th><th>Processed</th><th>Errors</th>\
             <th>Error rate</th><th>Mean processing time</th></tr>\n",
        );
        for (agent, a) in &self.snapshot.agents {
            let class = if a.errors == 0 {
                "active_up"
            } else {
                "active_going_down"
            };
            let rate = if a.processed == 0 {
                0.0
            } else {
                a.errors as f64 * 100.0 / a.processed as f64
            };
            let _ = writeln!(
                out,
                "<tr class=\"{class}\"><td class=ac>{}</td><td>{}</td><td>{}</td><td>{rate:.1}%</td><td>{:.3} ms</td></tr>",
                esc(agent),
                grouped(a.processed),
                grouped(a.errors),
                a.mean_ms()
            );
        }
        out.push_str("</table></div>\n");
    }
}

/// A server line's colour: HAProxy's class for its state.
fn server_class(r: &Row) -> &'static str {
    match r.get(Field::Status) {
        Value::Str(s) if s == "MAINT" => "maintain",
        Value::Str(s) if s == "DRAIN" => "active_draining",
        Value::Str(s) if s == "no check" => "active_no_check",
        Value::Str(s) if s.starts_with("DOWN") => "active_down",
        _ => "active_up",
    }
}

/// The rows grouped by proxy, in the order the proxies first appear.
fn proxies(rows: &[Row]) -> Vec<Vec<&Row>> {
    let mut groups: Vec<Vec<&Row>> = Vec::new();
    for row in rows {
        match groups.iter_mut().find(|g| g[0].proxy() == row.proxy()) {
            Some(g) => g.push(row),
            None => groups.push(vec![row]),
        }
    }
    groups
}

/// The host's name (`stats show-node` without a name).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times_read_as_haproxys() {
        assert_eq!(grouped(985), "985");
        assert_eq!(grouped(9985), "<span class=\"rls\">9</span>985");
        assert_eq!(
            grouped(1_234_567),
            "<span class=\"rls\">1</span><span class=\"rls\">234</span>567"
        );
        assert_eq!(human(4), "4s");
        assert_eq!(human(125), "2m5s");
        assert_eq!(human(3700), "1h1m");
        assert_eq!(esc("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
