//! # experiments
//!
//! The library behind the `nas` command-line runner: experiment [configs](config), the
//! seeded multi-strategy [execution](runner) recorded in an append-only
//! [journal](journal), [statistics](stats), and the [tables, report](report) and
//! [plots](plots) derived from the journal.

pub mod commands;
pub mod config;
pub mod error;
pub mod experiment;
pub mod journal;
pub mod manifest;
pub mod outputs;
pub mod plots;
pub mod records;
pub mod registry;
pub mod report;
pub mod runner;
pub mod setup;
pub mod slurm;
pub mod stats;
pub mod tabular;
