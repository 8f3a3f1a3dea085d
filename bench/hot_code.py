#!/usr/bin/env python3
"""The code a callgrind window ran, per request: how many distinct 64-byte lines of code (the
unit the instruction cache holds; the L1 instruction cache here holds 512 of them), by crate, and the functions that were run in more than one
monomorphised copy (the same generic function compiled once per type: a TLS and a plain stream,
two body types...), largest first.

Usage: bench/hot_code.py CALLGRIND_OUT REQUESTS [TOP]
       bench/hot_code.py --binary SPOE_BINARY [TOP]   (the whole binary's code by crate, from
       its symbol table (`nm -S`), and the functions compiled in the most copies)

The profile must keep instruction addresses, absolute, and the mangled names (which tell
monomorphised copies apart): run the proxy with
`CALLGRIND_ARGS="--cache-sim=yes --dump-instr=yes --compress-pos=no --demangle=no" KEEP_WORK=1`
in bench/gateway.sh or bench/tls.sh (`--cache-sim=yes` adds the simulated L1 instruction misses
per line of code; without it the miss columns are 0). Names are legacy Rust symbols (`_ZN...E`,
what stable rustc emits), demangled here with their hash removed; C symbols are kept as they are.
"""

import re
import signal
import sys
from collections import defaultdict

LINE = 64

ESCAPES = {
    "$SP$": "@", "$BP$": "*", "$RF$": "&", "$LT$": "<", "$GT$": ">", "$LP$": "(",
    "$RP$": ")", "$C$": ",", "$u7e$": "~", "$u20$": " ", "$u27$": "'", "$u5b$": "[",
    "$u5d$": "]", "$u7b$": "{", "$u7d$": "}", "$u3b$": ";", "$u2b$": "+", "$u22$": '"',
}


def demangle(sym):
    """A legacy Rust symbol as `path::to::name` without its hash; anything else as it is."""
    m = re.match(r"_ZN(.*)E(\.llvm\.\d+)?$", sym)
    if not m:
        return sym
    rest, parts = m.group(1), []
    while rest:
        n = re.match(r"(\d+)", rest)
        if not n:
            return sym
        length = int(n.group(1))
        start = len(n.group(1))
        parts.append(rest[start:start + length])
        rest = rest[start + length:]
    if parts and re.fullmatch(r"h[0-9a-f]{16}", parts[-1]):
        parts.pop()
    out = []
    for p in parts:
        if p.startswith("_$"):
            p = p[1:]
        p = p.replace("..", "::")
        for k, v in ESCAPES.items():
            p = p.replace(k, v)
        out.append(p)
    return "::".join(out)


def crate_of(name, obj):
    """The crate a demangled name comes from (the first path segment, or the one inside `<X as`)."""
    if not name.startswith("_ZN") and "::" not in name:
        if name.startswith(("_rjem_", "je_", "tikv_jemalloc")):
            return "jemalloc"
        if name.startswith(("ring_core_", "GFp_")):
            return "ring (C, asm)"
        o = obj.rsplit("/", 1)[-1]
        return o if "spoe" not in o else "(C or asm in the binary)"
    if name.startswith("core::ptr::drop_in_place"):
        return "drop glue (core::ptr::drop_in_place)"
    head = name.lstrip("<").split("::", 1)[0]
    head = head.split(" as ", 1)[0].lstrip("<&*").replace("mut ", "").replace("const ", "")
    return head or "?"


def binary(path, top):
    """The code of a whole binary by crate and by name, from its symbol table."""
    import subprocess

    out = subprocess.run(["nm", "-S", "--size-sort", path], capture_output=True, text=True,
                         check=True).stdout
    by_crate = defaultdict(lambda: [0, 0])
    copies = defaultdict(lambda: [0, 0])
    total = 0
    for line in out.splitlines():
        f = line.split()
        if len(f) != 4 or f[2] not in "tTwW":
            continue
        size = int(f[1], 16)
        d = demangle(f[3])
        cr = crate_of(d if f[3].startswith("_ZN") else f[3], "spoe")
        by_crate[cr][0] += size
        by_crate[cr][1] += 1
        copies[d][0] += size
        copies[d][1] += 1
        total += size
    print(f"{path}: {total / 1024:.0f} KiB of code in {sum(c[1] for c in by_crate.values())} functions")
    print()
    print("| crate (or object) | KiB of code | functions |")
    print("|---|---|---|")
    for cr, (size, n) in sorted(by_crate.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"| {cr} | {size / 1024:.1f} | {n} |")
    dup = [(d, c) for d, c in copies.items() if c[1] > 1]
    print()
    print(f"Names compiled in more than one copy: {len(dup)}, {sum(c[1] for _, c in dup)} copies, "
          f"{sum(c[0] for _, c in dup) / 1024:.0f} KiB; the largest in all:")
    print()
    print("| function | copies | KiB |")
    print("|---|---|---|")
    for d, (size, n) in sorted(dup, key=lambda kv: -kv[1][0])[:top]:
        print(f"| `{d[:110]}` | {n} | {size / 1024:.1f} |")


def main():
    if sys.argv[1] == "--binary":
        binary(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 25)
        return
    path, requests = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    names = {"ob": {}, "fn": {}}
    events = []
    positions = []
    obj = fn = ""
    skip = False
    i1_col = None
    lines_of = defaultdict(set)  # function -> code lines run
    line_ir = defaultdict(int)  # code line -> instructions run in it
    ir_of = defaultdict(int)
    i1_of = defaultdict(int)
    obj_of = {}

    def name(kind, value):
        m = re.match(r"\((\d+)\)\s?(.*)", value)
        if m:
            if m.group(2):
                names[kind][m.group(1)] = m.group(2)
                return m.group(2)
            return names[kind].get(m.group(1), value)
        return value

    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                if skip:
                    skip = False
                    continue
                fields = line.split()
                if fields[0].startswith(("+", "-", "*")):
                    sys.exit("hot_code.py: relative positions: run callgrind with --compress-pos=no")
                addr = int(fields[0], 16) if fields[0].startswith("0x") else int(fields[0])
                costs = fields[len(positions):]
                ir = int(costs[0]) if costs else 0
                i1 = int(costs[i1_col]) if i1_col is not None and len(costs) > i1_col else 0
                if ir:
                    lines_of[fn].add(addr // LINE)
                    line_ir[addr // LINE] += ir
                ir_of[fn] += ir
                i1_of[fn] += i1
                obj_of.setdefault(fn, obj)
                continue
            if line.startswith("positions:"):
                positions = line.split()[1:]
                if "instr" not in positions:
                    sys.exit("hot_code.py: no instruction addresses: run callgrind with --dump-instr=yes")
            elif line.startswith("events:"):
                events = line.split()[1:]
                i1_col = events.index("I1mr") if "I1mr" in events else None
            elif line.startswith("ob="):
                obj = name("ob", line[3:])
            elif line.startswith("fn="):
                fn = name("fn", line[3:])
            elif line.startswith("cob="):
                name("ob", line[4:])
            elif line.startswith("cfn="):
                name("fn", line[4:])
            elif line.startswith("calls="):
                skip = True

    by_crate = defaultdict(lambda: [0, 0, 0])
    copies = defaultdict(list)
    all_lines = set()
    for fn, ls in lines_of.items():
        d = demangle(fn)
        cr = crate_of(d if fn.startswith("_ZN") else fn, obj_of.get(fn, ""))
        by_crate[cr][0] += len(ls)
        by_crate[cr][1] += ir_of[fn]
        by_crate[cr][2] += i1_of[fn]
        copies[d].append(fn)
        all_lines |= ls
    total_ir = sum(ir_of.values())
    total_i1 = sum(i1_of.values())
    print(f"{path}: {requests} requests, {total_ir / requests:.0f} instructions, "
          f"{total_i1 / requests:.0f} L1i misses a request; {len(all_lines)} distinct 64-byte "
          f"lines of code run in the window ({len(all_lines) * LINE / 1024:.0f} KiB), "
          f"in {sum(1 for f in lines_of if lines_of[f])} functions")
    hot = [ln for ln, ir in line_ir.items() if ir * 2 >= requests]
    print(f"Of those, {len(hot)} lines ({len(hot) * LINE / 1024:.0f} KiB) run at least half an "
          f"instruction a request on average: the code most requests run")
    print()
    print("| crate (or object) | lines of code run | instructions/req | L1i misses/req |")
    print("|---|---|---|---|")
    for cr, (nl, ir, i1) in sorted(by_crate.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"| {cr} | {nl} | {ir / requests:.0f} | {i1 / requests:.1f} |")
    print()
    groups = [(d, fns) for d, fns in copies.items() if len(fns) > 1]
    dup_lines = sum(sum(len(lines_of[f]) for f in fns) for _, fns in groups)
    print(f"Functions run in more than one copy: {len(groups)} names, {sum(len(f) for _, f in groups)} "
          f"copies, {dup_lines} lines of code ({dup_lines * 100 / max(len(all_lines), 1):.1f}% of "
          f"those run); largest first:")
    print()
    print("| function | copies | lines of code run | instructions/req | L1i misses/req |")
    print("|---|---|---|---|---|")
    groups.sort(key=lambda g: -sum(len(lines_of[f]) for f in g[1]))
    for d, fns in groups[:top]:
        nl = sum(len(lines_of[f]) for f in fns)
        ir = sum(ir_of[f] for f in fns)
        i1 = sum(i1_of[f] for f in fns)
        print(f"| `{d[:110]}` | {len(fns)} | {nl} | {ir / requests:.0f} | {i1 / requests:.1f} |")
    print()
    print("The functions with the most lines of code run:")
    print()
    print("| function | crate | lines of code run | instructions/req | L1i misses/req |")
    print("|---|---|---|---|---|")
    for fn in sorted(lines_of, key=lambda f: -len(lines_of[f]))[:top]:
        d = demangle(fn)
        cr = crate_of(d if fn.startswith("_ZN") else fn, obj_of.get(fn, ""))
        print(f"| `{d[:110]}` | {cr} | {len(lines_of[fn])} | {ir_of[fn] / requests:.0f} | "
              f"{i1_of[fn] / requests:.1f} |")


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the output quietly
    main()
