//! The `ffikit` command.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ffikit",
    version,
    about = "Call C the way ctypes and CFFI do, and compare the ways"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Time the fixture workloads through each binding style, side by side.
    Compare {
        /// Timed batches per workload and style (the median is reported).
        #[arg(long, default_value_t = 11, value_parser = clap::value_parser!(u16).range(1..))]
        samples: u16,
        /// The least time one batch takes, in milliseconds.
        #[arg(long, default_value_t = 20)]
        sample_ms: u64,
        /// Only workloads whose name contains this (gcd, get_pi, utf8-100B, utf8-10MiB).
        #[arg(long)]
        filter: Option<String>,
    },
}

fn main() -> ExitCode {
    match try_main(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = error.source();
            if source.is_some() {
                eprintln!("\nCaused by:");
            }
            while let Some(cause) = source {
                eprintln!("    {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn try_main(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Commands::Compare {
            samples,
            sample_ms,
            filter,
        } => {
            let options = ffikit::compare::Options {
                samples: samples.into(),
                sample_time: Duration::from_millis(sample_ms),
                filter,
            };
            println!("{}", ffikit::compare::describe_fixtures());
            let report = ffikit::compare::run(&options)?;
            print!("{}", ffikit::compare::render_table(&report));
        }
    }
    Ok(())
}
