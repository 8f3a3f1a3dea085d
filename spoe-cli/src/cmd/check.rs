//! `spoe check -f haproxy.cfg`: validate a configuration as `haproxy -c` does.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use spoe_gateway::model::GatewayConfig;

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The haproxy.cfg to check (its `filter spoe` files are checked too).
    #[arg(short = 'f', long = "config")]
    config: PathBuf,
}

/// `haproxy -c`'s exit code for a valid configuration that cannot start.
const EXIT_NO_LISTENER: u8 = 2;

/// Prints every warning and error; the exit code is `haproxy -c`'s: 0 valid,
/// 1 errors, 2 valid but will not start (no listener: the gateway would
/// refuse to start or reload into it).
pub(crate) fn run(args: CheckArgs) -> ExitCode {
    match GatewayConfig::from_file(&args.config) {
        Ok((config, warnings)) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            if config.has_listener() {
                println!("Configuration file is valid");
                ExitCode::SUCCESS
            } else {
                println!(
                    "{} => exit({EXIT_NO_LISTENER}).",
                    spoe_gateway::server::NO_LISTENER
                );
                ExitCode::from(EXIT_NO_LISTENER)
            }
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}
