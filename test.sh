#!/usr/bin/env bash
# The one command that runs every test of this repository (README, .ci/run).
# It installs what the tests need, then runs the lint gates and the whole
# suite, interop tests against Debian's HAProxy included.
set -euo pipefail
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Interop tests drive the real HAProxy; they fail (never skip) without it.
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
    echo "test.sh: installing haproxy from Debian" >&2
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy
fi

# The stats page is checked in a real browser (headless Chromium loads it, a screenshot is
# kept, its DOM is read); the test fails, never skips, without it.
if ! command -v chromium >/dev/null 2>&1; then
    echo "test.sh: installing chromium from Debian" >&2
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi

# The rate_limit example's interop test runs a real redis-server (on a Unix
# socket in a temporary directory); it fails, never skips, without it.
if ! command -v redis-server >/dev/null 2>&1; then
    echo "test.sh: installing redis-server from Debian" >&2
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
fi

# TLS and HTTP/2 tests drive real clients (gateway_tls): curl, openssl s_client, h2load and
# nghttp, headless Chromium; gateway_sockopts reads listen queues with ss (iproute2). They
# fail, never skip, without them.
need=()
for tool in curl:curl openssl:openssl h2load:nghttp2-client nghttp:nghttp2-client chromium:chromium ss:iproute2; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "test.sh: installing ${need[*]} from Debian" >&2
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y $(printf '%s\n' "${need[@]}" | sort -u)
fi

# The Pingora example (examples/pingora, a crate of its own) builds zlib-ng with cmake.
if ! command -v cmake >/dev/null 2>&1; then
    echo "test.sh: installing cmake from Debian" >&2
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y cmake
fi

# The systemd units in contrib/ are checked with systemd-analyze (verify, security).
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "test.sh: installing systemd (systemd-analyze) from Debian" >&2
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y systemd
fi

# The `spoe` binary's allocator (tikv-jemalloc-sys) builds jemalloc from its C sources.
if ! command -v make >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
    echo "test.sh: installing make and a C compiler from Debian" >&2
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y make gcc
fi

# Third-party references, in a venv of their own: agents (haproxyspoa), a reader of
# HAProxy's access lines (haproxy-log-analysis, for gateway_httplog), and Google's gRPC
# client and server (grpcio, for gateway_tls_servers).
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import haproxyspoa, haproxy.line, grpc' 2>/dev/null; then
    echo "test.sh: installing PyPI references into .venv" >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check haproxyspoa haproxy-log-analysis==6.0 grpcio
fi
# (spoe-forge, the other SPOP agent on PyPI, needs Python >= 3.12; see docs/conformance.md.)
export SPOE_TEST_PYTHON="$PWD/.venv/bin/python"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked
cargo check --manifest-path fuzz/Cargo.toml --locked
cargo test --workspace --locked
# Pingora's build is heavy: its example is a crate of its own, built and tested here, after the
# workspace's tests built the agents it runs against.
cargo test --manifest-path examples/pingora/Cargo.toml --locked
