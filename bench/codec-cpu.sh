#!/usr/bin/env bash
# The codec's per-message work in CPU time, this tree's `spop` against an earlier commit's, in one
# run: for a change measured on a machine other jobs load (criterion's wall-clock figures then
# move by 2x from round to round, see "One header parser" in bench/README.md).
#
# bench/codec-cpu/main.rs times the operations of spop/benches/codec.rs on the same frames
# (spop/benches/fixture) in thread CPU time: `agent_loop_steady_state` (append a NOTIFY to the
# read buffer, decode it, encode the ACK), `encode_ack_3_setvars`, `view_decode_notify_encode_ack`
# (the in-place path), and, for a tree that has `spop::agent`, `agent_connection_steady_state`
# (the same message through the agent's state machine, as `spoa` runs it). It is built twice
# (release, fat LTO as the workspace's), against `spop` of BASE (git archive) and of this working
# tree, and the two binaries run alternately RUNS times. Each figure is a run's best round (ns of
# CPU per operation); the table gives the best and the median over the runs.
#
# Usage: bench/codec-cpu.sh BASE [RUNS]     (BASE: a commit, e.g. the one before a change;
#                                           RUNS default 6)
# Environment: ITERS (operations per round, default 200000), ROUNDS (rounds per run, 9),
# KEEP_WORK=1 to keep the temporary directory.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
base=${1:?usage: bench/codec-cpu.sh BASE [RUNS]}
runs=${2:-6}
work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-codec-cpu.XXXXXX")
[ "${KEEP_WORK:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

mkdir -p "$work/base" "$work/this"
git archive "$base" spop | tar -x -C "$work/base"
git ls-files -z spop | tar --null -T - -c | tar -x -C "$work/this"

for v in base this; do
    features='[]'
    [ -f "$work/$v/spop/src/agent/mod.rs" ] && features='["machine"]'
    mkdir -p "$work/$v/cpubench/src"
    cp "$root/bench/codec-cpu/main.rs" "$work/$v/cpubench/src/main.rs"
    cat >"$work/$v/cpubench/Cargo.toml" <<EOF
[package]
name = "cpubench"
version = "0.1.0"
edition = "2024"
publish = false

[features]
machine = []
default = $features

[dependencies]
spop = { path = "../spop" }
bytes = "1"
libc = "0.2"
EOF
    # spop inherits these from the workspace it was written in.
    cat >"$work/$v/Cargo.toml" <<'EOF'
[workspace]
members = ["spop", "cpubench"]
resolver = "3"

[workspace.package]
version = "0.1.0"
edition = "2024"
rust-version = "1.95"
license = "Apache-2.0"
repository = "https://example.invalid/spoe"

[workspace.dependencies]
bytes = "1"
thiserror = "2"
proptest = "1"
hex = "0.4"
criterion = { version = "0.8", default-features = false, features = ["cargo_bench_support"] }

[workspace.lints.rust]

[profile.release]
lto = "fat"
codegen-units = 1
EOF
    # The workspace's versions of bytes, thiserror and libc.
    cp "$root/Cargo.lock" "$work/$v/Cargo.lock"
    echo "codec-cpu.sh: building against $v's spop" >&2
    cargo build --release --quiet --manifest-path "$work/$v/Cargo.toml" -p cpubench
done

: >"$work/results.tsv"
for run in $(seq 1 "$runs"); do
    echo "codec-cpu.sh: run $run of $runs" >&2
    for v in base this; do
        "$work/$v/target/release/cpubench" | sed "s/^/$v\t/" >>"$work/results.tsv"
    done
done

python3 - "$work/results.tsv" "$base" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    tree, op, ns = line.rstrip("\n").split("\t")
    rows.setdefault(op, {}).setdefault(tree, []).append(float(ns))
print(f"ns of CPU per operation, base = {sys.argv[2]}, this = the working tree")
print()
print("| operation | base, best | this, best | this / base | base, median | this, median | this / base |")
print("|---|---|---|---|---|---|---|")
for op, t in rows.items():
    b, a = t.get("base"), t["this"]
    if b:
        print(f"| `{op}` | {min(b):.0f} | {min(a):.0f} | {min(a) / min(b):.2f} "
              f"| {statistics.median(b):.0f} | {statistics.median(a):.0f} "
              f"| {statistics.median(a) / statistics.median(b):.2f} |")
    else:
        print(f"| `{op}` | - | {min(a):.0f} | | - | {statistics.median(a):.0f} | |")
EOF
