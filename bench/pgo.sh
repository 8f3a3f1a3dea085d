#!/usr/bin/env bash
# An optional profile-guided build of `spoe` (PGO): the release build (fat LTO, codegen-units 1,
# panics unwinding: Cargo.toml's [profile.release]) compiled a second time with the branch and
# call counts of a training load, so that LLVM lays the code the load runs together, inlines and
# unrolls where it runs, and moves the rest out of the way (fewer instruction-cache misses per
# request: bench/README.md, "Session 9: the build and code size"). The default build stays
# `cargo build --release`: nothing in the repository needs this script.
# Session 9 wrote it and ran it only into step 1 (the machine's load stopped the builds): its
# steps 2 to 4 are untested (bench/README.md, "Session 9: the build and code size").
#
#   1. instrumented build: `RUSTFLAGS=-Cprofile-generate=DIR cargo build --release --target HOST
#      -p spoe-cli` (an explicit --target keeps RUSTFLAGS off build scripts and proc macros; its
#      output is target/HOST/release, apart from target/release);
#   2. training: that binary as the gateway and as the agent under bench/gateway.sh (c50-spoe,
#      c50-spoe-log, c50-nospoe, c50-backend-nospoe: HTTP/1 with and without SPOE, the access
#      log, a backend) and bench/tls.sh (HTTP/2 and HTTP/1 over TLS with SPOE), DURATION each;
#      every process writes its counts when it exits (SIGTERM: a graceful stop, then exit);
#   3. `llvm-profdata merge` of the counts (the llvm-profdata of rustc's LLVM major version,
#      installed from Debian as llvm-N when missing: a raw profile of one LLVM version is not
#      read by another);
#   4. the build again with `-Cprofile-use=merged.profdata`, copied to OUT.
#
# Usage: bench/pgo.sh
# Environment: OUT (target/pgo/spoe), PGO_DIR (the profiles; target/pgo/profiles, emptied first),
# DURATION (5s: each training scenario), TRAIN_ONLY=1 (stop after step 3), SKIP_INSTRUMENTED=1
# (reuse the instrumented binary of an earlier run), USE_ONLY=1 (only step 4, from the merged
# profile in PGO_DIR).
# Each step takes what a release build takes (6-15 min on 2 CPUs); the training about 2 min.
# Measure the result against the default build with `VARIANT_BIN=target/pgo/spoe` in
# bench/gateway.sh and bench/tls.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-$root/target/pgo/spoe}
pgo_dir=${PGO_DIR:-$root/target/pgo/profiles}
duration=${DURATION:-5s}
host=$(rustc -vV | awk '/^host:/ { print $2 }')
llvm_major=$(rustc -vV | awk '/^LLVM version:/ { split($3, v, "."); print v[1] }')
built=$root/target/$host/release/spoe

work=$(mktemp -d "${TMPDIR:-/tmp}/spoe-pgo.XXXXXX")
. "$root/bench/lib.sh"

profdata=$(command -v "llvm-profdata-$llvm_major" || true)
if [ -z "$profdata" ]; then
    apt_install "llvm-$llvm_major"
    profdata=$(command -v "llvm-profdata-$llvm_major")
fi

if [ "${USE_ONLY:-0}" != 1 ]; then
    if [ "${SKIP_INSTRUMENTED:-0}" != 1 ]; then
        echo "pgo.sh: instrumented build (profiles into $pgo_dir)" >&2
        RUSTFLAGS="-Cprofile-generate=$pgo_dir" cargo build --release --locked --target "$host" -p spoe-cli
        cp "$built" "$work/spoe-instrumented"
    else
        cp "$built" "$work/spoe-instrumented"
    fi
    rm -rf "$pgo_dir"
    mkdir -p "$pgo_dir"
    echo "pgo.sh: training ($duration a scenario)" >&2
    SKIP_BUILD=1 SPOE_BIN="$work/spoe-instrumented" PROXIES=gateway DURATION="$duration" \
        SCENARIOS="c50-spoe c50-spoe-log c50-nospoe c50-backend-nospoe" bench/gateway.sh 1 >"$work/train-gateway.txt"
    SKIP_BUILD=1 SPOE_BIN="$work/spoe-instrumented" DURATION="$duration" SCENARIOS="h2 h1" \
        bench/tls.sh >"$work/train-tls.txt"
    n=$(find "$pgo_dir" -name '*.profraw' | wc -l)
    if [ "$n" = 0 ]; then echo "pgo.sh: the training wrote no profile into $pgo_dir" >&2; exit 1; fi
    "$profdata" merge -o "$pgo_dir/merged.profdata" "$pgo_dir"/*.profraw
    echo "pgo.sh: $n profiles merged into $pgo_dir/merged.profdata" >&2
    if [ "${TRAIN_ONLY:-0}" = 1 ]; then exit 0; fi
fi

echo "pgo.sh: the build with the profile" >&2
RUSTFLAGS="-Cprofile-use=$pgo_dir/merged.profdata" cargo build --release --locked --target "$host" -p spoe-cli
mkdir -p "$(dirname "$out")"
cp "$built" "$out"
echo "pgo.sh: $out" >&2
