//! One module per `nas` command (cargo's `commands/` shape): each holds its clap
//! arguments and a thin `exec` that calls the library and prints.

pub mod correlate;
pub mod eval;
pub mod import_table;
pub mod merge;
pub mod report;
pub mod run;
pub mod slurm;
pub mod space;
pub mod tabulate;
pub mod verify;
