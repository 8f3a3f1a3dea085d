#!/usr/bin/env bash
# Codec against a peer codec, in one script: bench/codec-peers (a standalone crate, excluded from
# the workspace) times our `spop` (the in-place `spop::view` path and the owned `FrameDecoder`
# path) and crates.io's `spop` on the same bytes: decoding the 9-argument NOTIFY of
# spop/benches/codec.rs, encoding an ACK with 3 SET-VARs, and both. The bench first checks that
# every codec decodes the nine arguments to the same values and that both encode the same ACK.
#
# The bench runs RUNS times; each figure is criterion's median point estimate
# (target/criterion/peers/<operation>/<codec>/new/estimates.json in the crate's own target
# directory), and the table gives the median over the runs, then the per-run figures.
#
# Usage: bench/codec.sh [RUNS]          (default 3)
# Environment: CRITERION_ARGS (default: criterion's own times, 3 s warm-up and 5 s measurement),
# e.g. CRITERION_ARGS='--warm-up-time 1 --measurement-time 3' for a quicker run.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-${RUNS:-3}}
read -r -a criterion_args <<<"${CRITERION_ARGS:-}"
manifest=$root/bench/codec-peers/Cargo.toml
estimates=$root/bench/codec-peers/target/criterion/peers

work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-codec-bench.XXXXXX")
. "$root/bench/lib.sh"

operations="decode_notify_9_args encode_ack_3_setvars decode_notify_encode_ack"
codecs="ours_view ours_owned ours peer"

cargo bench --manifest-path "$manifest" --bench peers --no-run --quiet
# Figures from earlier invocations must not leak in.
rm -rf "$estimates"
: >"$work/results.tsv"
for run in $(seq 1 "$runs"); do
    echo "codec.sh: run $run of $runs" >&2
    cargo bench --manifest-path "$manifest" --bench peers --quiet -- "${criterion_args[@]}" >"$work/run-$run.txt" 2>&1 ||
        { cat "$work/run-$run.txt" >&2; exit 1; }
    for op in $operations; do
        for codec in $codecs; do
            f=$estimates/$op/$codec/new/estimates.json
            [ -f "$f" ] || continue
            python3 -c 'import json, sys; print(sys.argv[2], sys.argv[3], sys.argv[4],
                json.load(open(sys.argv[1]))["median"]["point_estimate"], sep="\t")' \
                "$f" "$op" "$codec" "$run" >>"$work/results.tsv"
        done
    done
done

echo
echo "Machine: $(nproc) CPUs, $(lscpu | awk -F': *' '/^Model name/ { print $2; exit }')," \
    "$(uname -sr), $(rustc --version | awk '{ print $1, $2 }'), load average $(cut -d' ' -f1-3 /proc/loadavg);" \
    "peer: crates.io spop $(awk '/^name = "spop"/ { getline; if ($3 != "\"0.1.0\"") print $3 }' \
        "$root/bench/codec-peers/Cargo.lock" | tr -d '"')"
echo "Command: bench/codec.sh $runs${CRITERION_ARGS:+ (CRITERION_ARGS='$CRITERION_ARGS')}"
echo
python3 - "$work/results.tsv" "$runs" <<'PY'
import collections, statistics, sys

rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    op, codec, run, ns = line.rstrip("\n").split("\t")
    rows.setdefault((op, codec), []).append(float(ns))
runs = int(sys.argv[2])
ops = list(dict.fromkeys(op for op, _ in rows))
names = {"ours_view": "ours, in place (`spop::view`)", "ours_owned": "ours, owned (`FrameDecoder`)",
         "ours": "ours (`FrameEncoder`)", "peer": "peer (crates.io `spop`)"}
med = {k: statistics.median(v) for k, v in rows.items()}

print(f"Median over {runs} run(s) of criterion's median, ns per operation:")
print()
print("| operation | codec | ns/op | peer / this |")
print("|---|---|---|---|")
for op in ops:
    peer = med.get((op, "peer"))
    for (o, codec), v in med.items():
        if o != op:
            continue
        ratio = f"{peer / v:.2f}" if peer and codec != "peer" else "-"
        print(f"| `{op}` | {names.get(codec, codec)} | {v:.1f} | {ratio} |")
print()
print("Per run (ns):")
print()
print("| operation | codec | " + " | ".join(f"run {i + 1}" for i in range(runs)) + " |")
print("|---|---|" + "---|" * runs)
for (op, codec), v in rows.items():
    print(f"| `{op}` | {codec} | " + " | ".join(f"{x:.1f}" for x in v) + " |")
PY
