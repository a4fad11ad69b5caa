//! # experiments
//!
//! The library behind the `nas` command-line runner: experiment configs, the seeded
//! multi-strategy execution, statistics, and the tables, reports and plots it writes.

pub mod stats;
