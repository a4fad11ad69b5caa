//! The `nas` command: run seeded multi-strategy NAS comparisons and report on them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use experiments::error::is_bad_input;
use experiments::{commands, experiment};

/// Neural architecture search experiments: compare search strategies, reproducibly.
#[derive(Debug, Parser)]
#[command(name = "nas", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every (strategy x repetition) of a config and write tables, report and plots.
    Run {
        /// The experiment config (TOML).
        config: PathBuf,
        /// Output directory [default: out/<experiment name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Runs executed in parallel (never changes results) [default: the config's].
        #[arg(long)]
        workers: Option<usize>,
        /// Threads per trial (never changes results) [default: the config's].
        #[arg(long)]
        threads: Option<usize>,
        /// Continue the interrupted experiment in --out: finished trials are kept,
        /// killed ones are run again.
        #[arg(long)]
        resume: bool,
        /// Folder of the data set's files (overrides `data.dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Only these strategies (comma-separated names), e.g. to rerun a subset.
        #[arg(long, value_delimiter = ',')]
        strategies: Option<Vec<String>>,
        /// Only these repetition seeds (comma-separated), e.g. `--seeds 3,7`.
        #[arg(long, value_delimiter = ',')]
        seeds: Option<Vec<u32>>,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Regenerate every table, report and plot of an output directory from its journal.
    Report {
        /// An output directory of `nas run`.
        dir: PathBuf,
    },
    /// Train and score one architecture; prints its metrics as JSON (or a table).
    Eval(commands::EvalArgs),
    /// Describe a config's search space: its size, encoding and a few samples.
    Space {
        /// The experiment config (TOML).
        config: PathBuf,
        /// How many sample architectures to print.
        #[arg(long, default_value_t = 5)]
        samples: usize,
    },
}

fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Run {
            config,
            out,
            workers,
            threads,
            resume,
            data_dir,
            strategies,
            seeds,
            quiet,
        } => {
            let summary = experiment::run(&experiment::RunOptions {
                config,
                out,
                workers,
                threads,
                resume,
                data_dir,
                strategies,
                seeds,
                quiet,
            })?;
            println!("{}", summary.table);
            println!(
                "report: {}",
                summary.out.join(experiments::report::REPORT).display()
            );
        }
        Command::Report { dir } => {
            let table = experiment::report(&dir)?;
            println!("{table}");
            println!(
                "report: {}",
                dir.join(experiments::report::REPORT).display()
            );
        }
        Command::Eval(args) => commands::eval(&args)?,
        Command::Space { config, samples } => commands::space(&config, samples)?,
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if is_bad_input(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
