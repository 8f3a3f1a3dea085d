//! The `spoe` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod addr;
#[cfg(feature = "bench-alloc")]
mod alloc_count;

/// The allocator (see the `jemalloc` feature in Cargo.toml; `bench-alloc`
/// wraps it in a counter, in `alloc_count`).
#[cfg(all(feature = "jemalloc", not(feature = "bench-alloc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod cmd;
mod daemon;
mod demo;
mod error_var;
mod json;
mod logs;
mod pacing;
mod quickstart;
mod sd_notify;
mod signals;
mod typed_arg;

/// HAProxy's Stream Processing Offload Engine, in Rust.
#[derive(Debug, Parser)]
#[command(name = "spoe", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve an example SPOE agent (SPOA) to HAProxy.
    Agent(cmd::agent::AgentArgs),
    /// Send one NOTIFY to an agent, as HAProxy would, and print its ACK.
    Notify(cmd::notify::NotifyArgs),
    /// Load an agent over SPOP and report messages/s and latency percentiles.
    Bench(cmd::bench::BenchArgs),
    /// Decode SPOP frames given as hex into JSON lines, one per frame.
    Decode(cmd::decode::DecodeArgs),
    /// Run the HTTP gateway on a haproxy.cfg (or the bundled quickstart).
    Gateway(cmd::gateway::GatewayArgs),
    /// Check a haproxy.cfg and its spoe.conf files, as `haproxy -c` does.
    Check(cmd::check::CheckArgs),
    /// Judge an agent against SPOP: play HAProxy's engine, one case at a time.
    Conformance(cmd::conformance::ConformanceArgs),
}

fn main() -> ExitCode {
    // HAProxy's `-db` (stay in the foreground), which clap cannot spell as a short option.
    let cli = Cli::parse_from(
        std::env::args_os().map(|a| if a == "-db" { "--foreground".into() } else { a }),
    );
    // `notify` says everything on stdout (the JSON) and in its exit line:
    // the engine's own warnings about the same failure would only repeat it.
    let default_level = match cli.command {
        Command::Notify(_) => "error",
        _ => "info",
    };
    #[cfg(feature = "bench-alloc")]
    alloc_count::start();
    let _flush_on_exit = logs::init(default_level);
    let result = match cli.command {
        Command::Agent(args) => cmd::agent::run(args),
        Command::Notify(args) => cmd::notify::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Gateway(args) => cmd::gateway::run(args),
        Command::Check(args) => return cmd::check::run(args),
        Command::Decode(args) => cmd::decode::run(args),
        Command::Conformance(args) => match cmd::conformance::run(args) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Through the sink: a stderr nobody reads must not keep the process from exiting.
            logs::stderr_line(&format!("spoe: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
