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
        /// Only these strategies (comma-separated names), e.g. to rerun a subset.
        #[arg(long, value_delimiter = ',')]
        strategies: Option<Vec<String>>,
        /// Only these repetition seeds (comma-separated), e.g. `--seeds 3,7`.
        #[arg(long, value_delimiter = ',')]
        seeds: Option<Vec<u32>>,
        #[command(flatten)]
        exec: experiment::ExecOptions,
    },
    /// Train every architecture of a config's space with K seeds and write a table
    /// (table.csv + table.json) that `evaluator = { kind = "tabular", table = DIR }` uses.
    Tabulate {
        /// The config: its [space], [data], [budget], [training] and [tabulate] sections.
        config: PathBuf,
        /// The table directory.
        #[arg(long)]
        out: PathBuf,
        /// Refuse spaces with more architectures than this [default: tabulate.max_architectures].
        #[arg(long)]
        max_architectures: Option<u64>,
        #[command(flatten)]
        exec: experiment::ExecOptions,
    },
    /// Combine the shard journals under DIR/shards/ and write every output into DIR.
    Merge {
        /// The output directory the shards ran into.
        dir: PathBuf,
        /// Write the tables even if some runs are missing (marked partial).
        #[arg(long)]
        allow_partial: bool,
    },
    /// Write (and with --submit, submit) a Slurm job array, one task per shard, and a
    /// merge job that runs once every task succeeded.
    Slurm {
        /// The experiment config (TOML).
        config: PathBuf,
        /// Output directory shared by every task (on a shared file system).
        #[arg(long)]
        out: PathBuf,
        /// Number of shards (array tasks).
        #[arg(long)]
        shards: u32,
        /// Slurm partition.
        #[arg(long)]
        partition: Option<String>,
        /// Time limit per task, e.g. 02:00:00.
        #[arg(long)]
        time: Option<String>,
        /// CPUs per task: each task runs that many runs in parallel, one thread each.
        #[arg(long, default_value_t = 2)]
        cpus_per_task: u32,
        /// Memory per task, e.g. 4G.
        #[arg(long)]
        mem: Option<String>,
        /// Slurm account.
        #[arg(long)]
        account: Option<String>,
        /// Folder of the data set's files on the cluster (overrides `data.dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Submit with sbatch and print the job ids.
        #[arg(long)]
        submit: bool,
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
            strategies,
            seeds,
            exec,
        } => {
            print_summary(&experiment::run(&experiment::RunOptions {
                config,
                out,
                strategies,
                seeds,
                exec,
            })?);
        }
        Command::Tabulate {
            config,
            out,
            max_architectures,
            exec,
        } => {
            print_summary(&experiment::tabulate(&experiment::TabulateOptions {
                config,
                out,
                max_architectures,
                exec,
            })?);
        }
        Command::Merge { dir, allow_partial } => {
            print_summary(&experiment::merge(&dir, allow_partial)?);
        }
        Command::Slurm {
            config,
            out,
            shards,
            partition,
            time,
            cpus_per_task,
            mem,
            account,
            data_dir,
            submit,
        } => {
            print!(
                "{}",
                experiments::slurm::slurm(&experiments::slurm::SlurmOptions {
                    config,
                    out,
                    shards,
                    partition,
                    time,
                    cpus_per_task,
                    mem,
                    account,
                    data_dir,
                    submit,
                })?
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

fn print_summary(summary: &experiment::RunSummary) {
    println!("{}", summary.table);
    if let Some(report) = &summary.report {
        println!("report: {}", report.display());
    }
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
