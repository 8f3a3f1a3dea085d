#!/usr/bin/env bash
# The copies and the allocations of a callgrind count, per request, by call site.
#
# Usage: bench/mem_sites.sh CALLGRIND_OUT BINARY [REQUESTS] [ROWS]
#
# CALLGRIND_OUT is a profile kept by `KEEP_WORK=1 ... MEASURE=instructions bench/gateway.sh` or
# `bench/tls.sh`, counted with call sites and names written out in full:
#   VALGRIND_OPTS="--dump-instr=yes --compress-strings=no --compress-pos=no" KEEP_WORK=1 \
#     SKIP_BUILD=1 PROFILE=measure PROXIES=gateway SCENARIOS=c50-spoe MEASURE=instructions \
#     bench/gateway.sh 1
# (valgrind reads VALGRIND_OPTS; the options change what the profile says, not what it counts).
# BINARY is the program that was counted (for the size each copy is given, read from its code).
# REQUESTS (10000) is what the counted window served; ROWS (30) the call sites printed.
#
# Prints, largest first, each memcpy/memmove/memset call site: instructions per request, calls
# per request, the size in bytes (a hint: the last constant the code puts in the size register
# before the call; "-" when none), the source line of the call (the innermost inlined one) and
# the function it was compiled into; then the calls into jemalloc's allocation entry points per
# request. Reads files only; starts nothing.
set -euo pipefail

out=$1 bin=$2 requests=${3:-10000} rows=${4:-30}
if ! grep -q '^positions: instr' "$out"; then
    echo "${0##*/}: $out has no instruction positions (count it with VALGRIND_OPTS as above)" >&2
    exit 2
fi

# One row per call into mem*: address, line, calls, inclusive cost, caller, file of the line.
sites=$(awk '
    /^fl=/ { fl = substr($0, 4); fi = fl }
    /^f[ie]=/ { fi = substr($0, 4) }
    /^fn=/ { fn = substr($0, 4); fi = fl }
    /^cfn=/ { mem = (substr($0, 5) ~ /^__mem(cpy|move|set)_/); next }
    /^calls=/ {
        if (mem) {
            split($0, a, "[= ]"); calls = a[2]
            getline; split($0, b, " ")
            n = split(fi, path, "/")
            printf "%s\t%s:%s\t%d\t%d\t%s\n", b[1], path[n], b[2], calls, b[3], fn
        }
        mem = 0
    }' "$out" | sort -t $'\t' -k4,4nr)

echo "memcpy/memmove/memset per request, by call site ($requests requests):"
printf '%8s %7s %6s  %s\n' instr calls bytes "line, function"
total=0
while IFS=$'\t' read -r addr line calls cost fn; do
    total=$((total + cost))
done <<<"$sites"
head -n "$rows" <<<"$sites" | while IFS=$'\t' read -r addr line calls cost fn; do
    a=$((addr))
    # The size argument, when the call is given a constant one (`mov $N,%edx` just before).
    size=$(objdump -d --no-show-raw-insn --start-address=$((a - 48)) --stop-address=$((a + 1)) \
        "$bin" | grep -E 'mov +\$0x[0-9a-f]+,%edx' | tail -n 1 |
        sed -E 's/.*\$(0x[0-9a-f]+),%edx.*/\1/') || true
    awk -v c="$cost" -v k="$calls" -v r="$requests" -v s="${size:-}" -v l="$line" -v f="${fn:0:90}" \
        'BEGIN { printf "%8.1f %7.2f %6s  %s %s\n", c / r, k / r, s == "" ? "-" : s + 0, l, f }'
done
awk -v t="$total" -v r="$requests" 'BEGIN { printf "%8.1f in all\n\n", t / r }'

echo "allocations per request (calls into jemalloc):"
awk -v r="$requests" '
    /^cfn=/ { name = substr($0, 5); want = (name ~ /^_rjem_(malloc|mallocx|calloc|realloc|rallocx)$/); next }
    /^calls=/ { if (want) { split($0, a, "[= ]"); n[name] += a[2] } want = 0 }
    END { for (k in n) if (n[k] >= r / 100) printf "%8.2f %s\n", n[k] / r, k }' "$out" | sort -nr
