#!/usr/bin/env python3
"""Runs `spoe check` over a directory of real haproxy.cfg files and counts what it refuses.

    bench/corpus.py [--spoe PATH] [--markdown] [--haproxy] DIR

A corpus entry is either `DIR/NAME/haproxy.cfg` (with, optionally, beside it: `env`, lines
`NAME=value` the file expects in its environment, and `root/`, a tree of the files it references
at absolute paths - spoe.conf, certificates, maps - overlaid on `/` for the check, which needs
root and `unshare`) or a file `DIR/NAME.cfg`. Each file is checked from its own directory, as
HAProxy resolves relative paths from the working directory.

Prints, per file: accepted or not, its lines with an error or an "ignored" warning, the refused
keywords; then the totals the project measures (issue 23): files accepted with no error, and the
share of configuration lines without an error or an "ignored" warning, Lua lines aside (another
part of the work covers Lua). `--markdown` prints the keyword statistics as tables (by the number
of files using a keyword, and by family) for `bench/corpus-stats.md`. `--haproxy` also runs
`haproxy -c` 2.6 on each file, to show which ones HAProxy itself accepts.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field

DIAG = re.compile(
    r"^\[(ALERT|WARNING|NOTICE)\]\s+config : (?:parsing \[(?P<file>[^\]]*?):(?P<line>\d+)(?::\d+)?\] : )?(?P<msg>.*)$"
)
# Directives whose second word says what they are (`stats uri`, `option httpchk`, ...).
TWO_WORDS = {
    "stats", "option", "no", "timeout", "http-request", "http-response", "http-after-response",
    "tcp-request", "tcp-response", "http-check", "tcp-check", "capture", "log", "compression",
    "balance", "redirect", "errorfile", "mode", "default-server", "hash-type", "stick",
}
# Family of a keyword (by prefix, first match wins) and the part of issue 23 that owns it.
FAMILIES = [
    ("lua", "Lua (separate issue)", ("lua-", "http-request lua.", "http-response lua.",
                                      "tcp-request lua.", "use-service lua.", "fetch lua.", "converter lua.")),
    ("tls", "TLS (issue 18)", ("tune.ssl.", "bind ... ssl", "bind ... crt", "bind ... alpn", "bind ... verify",
                               "bind ... ca-file", "bind ... ciphers", "bind ... ssl-min-ver",
                               "bind ... no-sslv3", "bind ... no-tls", "bind ... strict-sni",
                               "bind ... crt-list", "server ... ssl", "server ... verify",
                               "server ... sni", "server ... ca-file", "ssl-", "tune.ssl", "ca-base",
                               "crt-base", "http-request redirect scheme")),
    ("stats", "stats page and runtime API", ("stats", "listen stats")),
    ("sticktables", "stick tables", ("stick", "stick-table", "http-request track-sc", "tcp-request connection track-sc",
                                     "tcp-request content track-sc", "http-request sc-", "fetch sc_",
                                     "fetch src_", "peers", "table")),
    ("logging", "logs", ("log", "option dontlognull", "option httplog", "option tcplog", "log-format",
                         "option logasap", "no log", "capture", "http-request capture",
                         "http-response capture", "option log-", "option dontlog")),
    ("servers", "servers, checks, persistence", ("option httpchk", "http-check", "tcp-check",
                                                 "option tcp-check", "option mysql-check",
                                                 "option pgsql-check", "option redis-check",
                                                 "option ssl-hello-chk", "option ldap-check",
                                                 "option smtpchk", "server ...", "default-server",
                                                 "cookie", "retries", "option redispatch",
                                                 "option allbackups", "option forwardfor",
                                                 "option http-server-close", "option httpclose",
                                                 "option http-keep-alive", "option forceclose",
                                                 "timeout tunnel", "timeout check", "resolvers",
                                                 "option abortonclose", "balance", "hash-type",
                                                 "option persist", "fullconn", "timeout queue")),
    ("actions", "http-request/http-response actions, auth, compression",
     ("http-request", "http-response", "http-after-response", "userlist", "compression", "redirect",
      "acl ... http_auth", "cache", "filter cache", "filter compression")),
]


@dataclass
class Entry:
    name: str
    cfg: str
    cwd: str
    env: dict[str, str]
    root: str | None


@dataclass
class Result:
    entry: Entry
    exit_code: int
    lines: int
    lua_lines: int
    flagged: dict[int, set[str]] = field(default_factory=dict)  # line -> keywords
    messages: list[str] = field(default_factory=list)
    file_level: list[str] = field(default_factory=list)
    lua_flagged: set[int] = field(default_factory=set)
    errors: int = 0
    lua_errors: int = 0
    haproxy_ok: bool | None = None

    @property
    def accepted(self) -> bool:
        return self.errors == 0 and self.exit_code in (0, 2)

    @property
    def accepted_lua_aside(self) -> bool:
        return self.errors == self.lua_errors and self.exit_code in (0, 1, 2)


def entries(root: str) -> list[Entry]:
    out = []
    for name in sorted(os.listdir(root)):
        p = os.path.join(root, name)
        if os.path.isdir(p) and os.path.isfile(os.path.join(p, "haproxy.cfg")):
            env = {}
            envf = os.path.join(p, "env")
            if os.path.isfile(envf):
                for line in open(envf, encoding="utf-8"):
                    if "=" in line:
                        k, v = line.rstrip("\n").split("=", 1)
                        env[k] = v
            r = os.path.join(p, "root")
            out.append(Entry(name, os.path.join(p, "haproxy.cfg"), p, env, r if os.path.isdir(r) else None))
        elif name.endswith(".cfg") and os.path.isfile(p):
            out.append(Entry(name[:-4], p, root, {}, None))
    return out


def run_in(entry: Entry, argv: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, **entry.env)
    if entry.root is None:
        return subprocess.run(argv, cwd=entry.cwd, env=env, capture_output=True, text=True, timeout=120)
    # The referenced files live at their absolute paths in `root/`: overlay it on `/` in a
    # private mount namespace (nothing outside the command sees it).
    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp:
        os.makedirs(f"{tmp}/work")
        os.makedirs(f"{tmp}/merged")
        m = f"{tmp}/merged"
        # What the chroot must still see: devices, /proc, /tmp, the corpus and the binary.
        tops = {"/dev", "/proc", "/tmp"}
        tops |= {"/" + os.path.abspath(p).split("/")[1] for p in (entry.cwd, argv[0]) if os.path.isabs(p)}
        binds = " && ".join(f"mount --rbind {d} {m}{d}" for d in sorted(tops) if os.path.isdir(d))
        script = (
            f"mount -t overlay overlay -o lowerdir=/,upperdir={shlex.quote(entry.root)},workdir={tmp}/work {m}"
            f" && {binds} && exec chroot {m} sh -c {shlex.quote('cd ' + shlex.quote(entry.cwd) + ' && exec ' + shlex.join(argv))}"
        )
        return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                              env=env, capture_output=True, text=True, timeout=120)


def config_lines(path: str) -> dict[int, str]:
    out = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, raw in enumerate(f, 1):
            s = raw.strip()
            if s and not s.startswith("#"):
                out[n] = s
    return out


def keyword_of(line: str, msg: str) -> str:
    """The keyword a diagnostic is about, as the statistics count it."""
    words = line.split()
    head = words[0] if words else ""
    if "must be in 'mode http'" in msg or "incompatible tcp backend" in msg:
        return "frontend without 'mode'" if "no 'mode' line" in msg else "mode tcp"
    if msg.startswith("'filter spoe' : error(s) found"):
        return "spoe.conf"
    m = re.search(r"(?:fetch method|fetch|sample fetch) '([^']+)'", msg)
    if m:
        return f"fetch {m.group(1)}"
    m = re.search(r"converter '([^']+)'", msg)
    if m:
        return f"converter {m.group(1)}"
    if head in ("server", "default-server"):
        if "missing port" in msg:
            return "server <address without port>"
        if "unix@" in msg or "UNIX socket" in msg:
            return "server <unix socket>"
        if "does not resolve" in msg:
            return "server <name that does not resolve>"
    if head in ("bind", "server", "default-server"):
        m = re.search(r"option '([^']+)'|: '([^']+)' is not supported", msg)
        if m:
            opt = m.group(1) or m.group(2)
            return f"{'server' if head != 'bind' else 'bind'} ... {opt}"
    if head in TWO_WORDS and len(words) > 1:
        second = words[1]
        if head == "log" and second != "global":
            return "log <target>"
        if head in ("http-request", "http-response", "tcp-request", "http-after-response"):
            second = re.sub(r"\(.*", "", second)
            if head == "tcp-request" and len(words) > 2:
                second = f"{second} {re.sub(r'[(].*', '', words[2])}"
            if second.startswith("lua."):
                second = "lua.*"
        if head == "no" and len(words) > 2:
            return f"no {words[1]} {words[2]}"
        if head == "errorfile":
            return "errorfile"
        return f"{head} {second}"
    m = re.match(r"'([^']+)' (?:sections|is not supported in)", msg)
    if m and " " not in m.group(1):
        return m.group(1)
    if head.startswith("[") or head in ("frontend", "backend", "listen", "defaults", "global"):
        return f"{head} section" if not head.startswith("[") else "spoe.conf"
    return head or "(file)"


def family_of(keyword: str) -> tuple[str, str]:
    for key, title, prefixes in FAMILIES:
        if any(keyword == p or keyword.startswith(p + " ") or keyword.startswith(p) and p.endswith((".", "-", "_")) for p in prefixes):
            return key, title
    return "corpus", "other keywords (global/proxy, fetches, bind, errorfiles...)"


def is_flag(level: str, msg: str) -> bool:
    if level == "ALERT":
        return not msg.startswith("Fatal errors found")
    return level == "WARNING" and "is accepted and ignored" in msg


def check(entry: Entry, spoe: str, with_haproxy: bool) -> Result:
    lines = config_lines(entry.cfg)
    cfg_name = os.path.basename(entry.cfg)
    proc = run_in(entry, [spoe, "check", "-f", cfg_name])
    # `filter spoe ... config FILE` lines: a diagnostic in that file counts against the line.
    filters = {}
    for n, s in lines.items():
        m = re.match(r"filter\s+spoe\b.*\bconfig\s+(\S+)", s)
        if m:
            filters[os.path.basename(m.group(1))] = n
    is_lua = {n for n, s in lines.items() if keyword_of(s, "").startswith(("lua-", "http-request lua", "http-response lua", "tcp-request content lua", "http-request use-service lua"))}
    res = Result(entry, proc.returncode, len(lines), len(is_lua))
    for raw in proc.stderr.splitlines() + proc.stdout.splitlines():
        m = DIAG.match(raw)
        if not m or not is_flag(m.group(1), m.group("msg")):
            continue
        msg, f, ln = m.group("msg"), m.group("file"), m.group("line")
        line_no = None
        if f is not None and ln is not None:
            if os.path.basename(f) == cfg_name or f == entry.cfg:
                line_no = int(ln)
            else:
                line_no = filters.get(os.path.basename(f))
        text = lines.get(line_no, "") if line_no else ""
        if f is not None and os.path.basename(f) != cfg_name and f != entry.cfg:
            kw = keyword_of("", msg)  # a spoe.conf's own diagnostic: what the message names
            kw = "spoe.conf" if kw == "(file)" else kw
        else:
            kw = keyword_of(text, msg) if line_no else "(file)"
        lua = family_of(kw)[0] == "lua"
        res.messages.append(f"{kw}\t{line_no or '-'}\t{msg}")
        if m.group(1) == "ALERT":
            res.errors += 1
            res.lua_errors += lua
        if line_no:
            res.flagged.setdefault(line_no, set()).add(kw)
            if lua:
                res.lua_flagged.add(line_no)
        else:
            res.file_level.append(kw)
    if with_haproxy:
        h = run_in(entry, ["haproxy", "-c", "-f", cfg_name])
        res.haproxy_ok = h.returncode == 0
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--spoe", default=os.environ.get("SPOE", "target/release/spoe"))
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--haproxy", action="store_true")
    ap.add_argument("--messages", action="store_true", help="print each flagged message with its keyword")
    a = ap.parse_args()
    spoe = os.path.abspath(a.spoe)
    results = [check(e, spoe, a.haproxy) for e in entries(a.dir)]
    checked = len(results)
    if a.haproxy:
        # The measure is taken on files HAProxy itself accepts; the others are listed only.
        for r in results:
            if not r.haproxy_ok and not a.markdown:
                print(f"{r.entry.name}: not counted (haproxy -c refuses it)")
        results = [r for r in results if r.haproxy_ok]
    kw_files: Counter[str] = Counter()
    fam_files: dict[str, set[str]] = defaultdict(set)
    fam_title = {}
    total_lines = flagged_lines = 0
    for r in results:
        kws = set(k for s in r.flagged.values() for k in s) | set(r.file_level)
        for k in kws:
            kw_files[k] += 1
            key, title = family_of(k)
            fam_files[key].add(r.entry.name)
            fam_title[key] = title
        denom = r.lines - r.lua_lines
        bad = len([n for n in r.flagged if n not in r.lua_flagged])
        total_lines += denom
        flagged_lines += bad
        if not a.markdown:
            state = "accepted" if r.accepted else ("accepted (Lua aside)" if r.accepted_lua_aside else "REFUSED")
            print(f"{r.entry.name}: {state}  {bad}/{denom} lines flagged")
            if kws:
                print("    " + ", ".join(sorted(kws)))
            if a.messages:
                for msg in r.messages:
                    print("      " + msg)
    n = len(results)
    acc = sum(r.accepted for r in results)
    acc_lua = sum(r.accepted_lua_aside for r in results)
    pct = 100.0 * (total_lines - flagged_lines) / total_lines if total_lines else 100.0
    summary = (
        f"files: {n}; accepted with no error: {acc} ({acc_lua} with Lua aside); "
        f"lines without an error or an 'ignored' warning (Lua aside): "
        f"{total_lines - flagged_lines}/{total_lines} = {pct:.1f}%"
    )
    if a.haproxy:
        summary += f" (the {n} of {checked} files that haproxy -c accepts)"
    if a.markdown:
        print(f"**{summary}**\n")
        print("| family | files | part |\n| --- | ---: | --- |")
        for key, names in sorted(fam_files.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            print(f"| {fam_title[key]} | {len(names)} | {key} |")
        print("\n| keyword refused or ignored | files | family |\n| --- | ---: | --- |")
        for k, c in sorted(kw_files.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"| `{k}` | {c} | {family_of(k)[0]} |")
    else:
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
