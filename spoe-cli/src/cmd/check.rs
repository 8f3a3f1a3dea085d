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

/// Prints every warning and error; the exit code says whether it is valid.
pub(crate) fn run(args: CheckArgs) -> ExitCode {
    match GatewayConfig::from_file(&args.config) {
        Ok((_, warnings)) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            println!("Configuration file is valid");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}
