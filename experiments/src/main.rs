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
        /// Run only shard I of N (0-based), into DIR/shards/I/: run k of the config (in
        /// order: strategies as listed, then repetitions) belongs to shard k mod N.
        /// Combine the shards with `nas merge DIR`.
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<(u32, u32)>,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Train every architecture of a config's space with K seeds and write a table
    /// (table.csv + table.json) that `evaluator = { kind = "tabular", table = DIR }` uses.
    Tabulate {
        /// The config: its [space], [data], [budget], [training] and [tabulate] sections.
        config: PathBuf,
        /// The table directory.
        #[arg(long)]
        out: PathBuf,
        /// Architectures trained in parallel chunks (never changes results).
        #[arg(long)]
        workers: Option<usize>,
        /// Threads per training (never changes results).
        #[arg(long)]
        threads: Option<usize>,
        /// Continue an interrupted tabulation; finished architectures are not retrained.
        #[arg(long)]
        resume: bool,
        /// Folder of the data set's files (overrides `data.dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Only shard I of N (0-based) of the chunks; combine with `nas merge DIR`.
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<(u32, u32)>,
        /// Refuse spaces with more architectures than this [default: tabulate.max_architectures].
        #[arg(long)]
        max_architectures: Option<u64>,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
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
            workers,
            threads,
            resume,
            data_dir,
            strategies,
            seeds,
            shard,
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
                shard,
                quiet,
            })?;
            print_summary(&summary);
        }
        Command::Tabulate {
            config,
            out,
            workers,
            threads,
            resume,
            data_dir,
            shard,
            max_architectures,
            quiet,
        } => {
            print_summary(&experiment::tabulate(&experiment::TabulateOptions {
                config,
                out,
                workers,
                threads,
                resume,
                data_dir,
                shard,
                max_architectures,
                quiet,
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

/// Parses `I/N` with I < N.
fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not I/N, e.g. 0/4"))?;
    let i: u32 = i
        .trim()
        .parse()
        .map_err(|_| format!("`{i}` is not a shard index"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a shard count"))?;
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 <= I < N (0-based)"));
    }
    Ok((i, n))
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
