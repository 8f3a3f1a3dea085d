"""Atomic read-modify-write instructions per request, from a callgrind profile.

  atomics.py PROFILE REQUESTS [TOP]
      PROFILE: a callgrind output written with `--dump-instr=yes` (e.g. `bench/tls.sh` or
      `bench/gateway.sh` with `MEASURE=instructions CALLGRIND_ARGS=--dump-instr=yes
      KEEP_WORK=1`: the kept `callgrind-NAME.out.1`); REQUESTS: the requests it counted.
      Prints, per object (the proxy's binary, libc...), the executions per request of its
      `lock`-prefixed instructions, `xchg` with a memory operand (locked implicitly) and
      `mfence`, then the TOP (40) functions that executed most of them.

Why: callgrind counts an atomic read-modify-write as one instruction, but on this machine one
costs 9 to 16 ns uncontended (it drains the store buffer), against well under 1 ns for most
instructions; a proxy's reference counts, locks and wakers show in its CPU time and not in its
instruction count (`bench/README.md`, "Session 8: HTTP/2 CPU (h2cpu8)"). The count is exact and
holds under load, as the instruction count does.

How: callgrind writes, with `--dump-instr=yes`, the cost of each instruction at its address in
its object file; `objdump -d` of each object over the addresses seen gives the instructions at
those addresses.
"""
import collections
import re
import subprocess
import sys


def read_profile(path):
    """Self executions per (object, address), and the function of each address."""
    names = {}

    def name(kind, value):
        m = re.match(r'\((\d+)\)\s*(.*)', value)
        if not m:
            return value
        key, rest = (kind, m.group(1)), m.group(2)
        if rest:
            names[key] = rest
        return names.get(key, '')

    cost = collections.defaultdict(collections.Counter)
    function_at = {}
    obj = fn = None
    addr = 0
    call_line = False
    with open(path) as f:
        for line in f:
            if line.startswith('ob='):
                obj = name('o', line[3:].strip())
            elif line.startswith('cob='):
                name('o', line[4:].strip())
            elif line.startswith('fn='):
                fn = name('n', line[3:].strip())
            elif line.startswith('cfn='):
                name('n', line[4:].strip())
            elif line.startswith(('fl=', 'fi=', 'fe=')):
                name('f', line[3:].strip())
            elif line.startswith(('cfi=', 'cfl=')):
                name('f', line[4:].strip())
            elif line.startswith('calls='):
                # The next cost line is the call's inclusive cost: its address
                # counts for the position, its cost is the callee's.
                call_line = True
            elif line[:1] in '0123456789+-*':
                parts = line.split()
                pos = parts[0]
                if pos.startswith('0x'):
                    addr = int(pos, 16)
                elif pos.startswith('+'):
                    addr += int(pos[1:], 0)
                elif pos.startswith('-'):
                    addr -= int(pos[1:], 0)
                if call_line:
                    call_line = False
                    continue
                cost[obj][addr] += int(parts[2]) if len(parts) > 2 else 0
                function_at[obj, addr] = fn
    return cost, function_at


def atomic_addresses(obj, lo, hi):
    out = subprocess.run(
        ['objdump', '-d', '--no-show-raw-insn', f'--start-address={lo}',
         f'--stop-address={hi + 16}', obj],
        capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        m = re.match(r'\s*([0-9a-f]+):\s+(.*)', line)
        if not m:
            continue
        ins = m.group(2)
        if re.match(r'lock\b', ins) or (re.match(r'xchg\b', ins) and '(' in ins) \
                or re.match(r'mfence\b', ins):
            yield int(m.group(1), 16)


def main():
    path, requests = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    cost, function_at = read_profile(path)
    total = 0
    by_function = collections.Counter()
    for obj, addrs in sorted(cost.items(), key=lambda kv: -sum(kv[1].values())):
        if not obj or not obj.startswith('/'):
            continue
        n = 0
        for a in atomic_addresses(obj, min(addrs), max(addrs)):
            k = addrs.get(a, 0)
            if k:
                n += k
                by_function[function_at[obj, a]] += k
        if n:
            print(f'{n / requests:8.1f}  {obj}')
        total += n
    print(f'{total / requests:8.1f}  atomic read-modify-writes per request, in all')
    print()
    for fn, k in by_function.most_common(top):
        print(f'{k / requests:8.2f}  {fn[:160]}')


if __name__ == '__main__':
    main()
