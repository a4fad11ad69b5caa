//! The `nas` command: run seeded multi-strategy NAS comparisons and report on them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use experiments::commands::{
    correlate, eval, import_table, merge, report, run, slurm, space, tabulate, verify,
};
use experiments::error::is_bad_input;

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
    Run(run::RunArgs),
    /// Train every architecture of a config's space with K seeds and write a table
    /// (table.csv + table.json) that `evaluator = { kind = "tabular", table = DIR }` uses.
    Tabulate(tabulate::TabulateArgs),
    /// Turn recorded values of any space (CSV or JSON: architecture -> metrics) into a
    /// table that `evaluator = { kind = "tabular", table = DIR }` uses.
    ImportTable(import_table::ImportTableArgs),
    /// Combine the shard journals under DIR/shards/ and write every output into DIR.
    Merge(merge::MergeArgs),
    /// Write (and with --submit, submit) a Slurm job array, one task per shard, and a
    /// merge job that runs once every task succeeded.
    Slurm(slurm::SlurmArgs),
    /// Regenerate every table, report and plot of an output directory from its journal.
    Report(report::ReportArgs),
    /// Train and score one architecture; prints its metrics as JSON (or a table).
    Eval(eval::EvalArgs),
    /// Describe a config's search space: its size, encoding and a few samples.
    Space(space::SpaceArgs),
    /// Kendall's tau between two tables' scores over the architectures both hold (how far
    /// a ranking transfers between data sets or budgets).
    Correlate(correlate::CorrelateArgs),
    /// Retrain a sample of a directory's trained evaluations on this machine and check
    /// that every recorded number matches bit for bit (the engine's numeric contract).
    Verify(verify::VerifyArgs),
}

fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run::exec(&args),
        Command::Tabulate(args) => tabulate::exec(&args),
        Command::ImportTable(args) => import_table::exec(&args),
        Command::Merge(args) => merge::exec(&args),
        Command::Slurm(args) => slurm::exec(&args),
        Command::Report(args) => report::exec(&args),
        Command::Eval(args) => eval::exec(&args),
        Command::Space(args) => space::exec(&args),
        Command::Verify(args) => verify::exec(&args),
        Command::Correlate(args) => correlate::exec(&args),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            if is_bad_input(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
