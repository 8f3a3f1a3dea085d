#!/usr/bin/env bash
# Builds and runs send_writev.c (see its header): bench/syscalls/run.sh [CALLS] [ROUNDS].
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d "${TMPDIR:-/tmp}/send-writev.XXXXXX")
trap 'rm -rf "$out"' EXIT
cc -O2 -pthread "$dir/send_writev.c" -o "$out/send_writev"
"$out/send_writev" "$@"
