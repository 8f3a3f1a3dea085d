//! `spoe check -f haproxy.cfg`: validate a configuration as `haproxy -c` does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use spoe::config::{ConfigError, ConfigWarning};
use spoe_gateway::config::GatewayConfig;

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The haproxy.cfg to check (its `filter spoe` files are checked too).
    #[arg(short = 'f', long = "config")]
    config: PathBuf,
    /// Warnings fail the check too (exit 1), as HAProxy's `zero-warning`: for CI pipelines.
    /// Notices (`.notice`, `.diag`) do not.
    #[arg(long)]
    strict: bool,
}

/// `haproxy -c`'s exit code for a valid configuration that cannot start.
const EXIT_NO_LISTENER: u8 = 2;

/// Prints every warning and error; the exit code is `haproxy -c`'s: 0 valid,
/// 1 errors (or warnings, with `--strict`), 2 valid but will not start (no
/// listener: the gateway would refuse to start or reload into it).
pub(crate) fn run(args: CheckArgs) -> ExitCode {
    if let Some(mistake) = spoe_conf_instead(&args.config) {
        eprintln!("[ALERT]    config : {mistake}");
        return ExitCode::FAILURE;
    }
    match GatewayConfig::from_file(&args.config) {
        Ok((config, warnings)) => {
            print_diagnostics(&[], &warnings);
            if args.strict && warnings.iter().any(|w| !w.is_notice()) {
                eprintln!(
                    "[ALERT]    config : Some warnings were found and --strict is set. Please check them."
                );
                return ExitCode::FAILURE;
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
            print_diagnostics(&errors.errors, &errors.warnings);
            ExitCode::FAILURE
        }
    }
}

/// Errors, then warnings, each marked as HAProxy marks them (`[ALERT]`,
/// `[WARNING]`), and a count when there are errors: warnings are not hidden
/// by errors, nor mistaken for them.
fn print_diagnostics(errors: &[ConfigError], warnings: &[ConfigWarning]) {
    for e in errors {
        eprintln!("{}", alert(e));
    }
    for w in warnings {
        eprintln!("{}", warning(w));
    }
    let warning_count = warnings.iter().filter(|w| !w.is_notice()).count();
    if !errors.is_empty() {
        eprintln!(
            "[ALERT]    config : Fatal errors found in configuration: {} error{}, {} warning{}.",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            warning_count,
            if warning_count == 1 { "" } else { "s" },
        );
    }
}

fn alert(e: &ConfigError) -> String {
    format!("[ALERT]    config : {e}")
}

/// `.notice` and `.diag` lines are notices, as in HAProxy; everything else a warning.
fn warning(w: &ConfigWarning) -> String {
    if w.is_notice() {
        format!("[NOTICE]   config : {w}")
    } else {
        format!("[WARNING]  config : {w}")
    }
}

/// The error for a `spoe.conf` given where a `haproxy.cfg` is expected (its
/// `spoe-agent` and `spoe-message` sections would each be an "out of
/// section" error): which file to pass instead. `None` for any other file.
pub(crate) fn spoe_conf_instead(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let first_word = |l: &str| l.split_whitespace().next().map(str::to_owned);
    let words: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| first_word(l).map(|w| (i + 1, w)))
        .collect();
    let haproxy_sections = ["global", "defaults", "frontend", "backend", "listen"];
    if words
        .iter()
        .any(|(_, w)| haproxy_sections.contains(&w.as_str()))
    {
        return None;
    }
    let (line, keyword) = words
        .iter()
        .find(|(_, w)| matches!(w.as_str(), "spoe-agent" | "spoe-message" | "spoe-group"))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Some(format!(
        "parsing [{}:{line}:1] : '{keyword}' : this is an SPOE configuration (a spoe.conf), not \
         a haproxy.cfg: pass the haproxy.cfg whose 'filter spoe [engine NAME] config {name}' reads \
         it (spoe check -f haproxy.cfg checks both files)",
        path.display()
    ))
}
