//! # experiments
//!
//! The library behind the `nas` command-line runner, one module per job:
//!
//! - [`commands`]: one module per command (its clap arguments and a thin `exec`);
//! - [`config`]: the experiment config, parsed and checked once; [`registry`]: the
//!   strategy kinds and their typed params;
//! - [`setup`]: from a config to the data, the bound space and the evaluator;
//! - [`exec`]: executing a plan (`nas run`, `nas tabulate`): flags, signals, workers;
//!   [`runner`]: the runs, on nas-core's ask-evaluate-tell loop; [`progress`]: the
//!   display; [`outdir`]: the output directory (lock, journal, manifest);
//! - [`journal`]: the append-only record every output derives from; [`records`]: the
//!   runs read back; [`derive`](mod@derive): every output from a journal; [`report`]: the CSV tables,
//!   Markdown report, LaTeX table and plots; [`merge`]: combining shards;
//! - [`tabular`]: tabulated benchmarks; [`slurm`]: Slurm job arrays.
//!
//! Statistics live in the `nas-stats` crate.

pub mod commands;
pub mod config;
pub mod derive;
pub mod error;
pub mod exec;
pub mod journal;
pub mod manifest;
pub mod merge;
pub mod outdir;
pub mod outputs;
pub mod progress;
pub mod records;
pub mod registry;
pub mod report;
pub mod runner;
pub mod setup;
pub mod slurm;
pub mod tabular;
