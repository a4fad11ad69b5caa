//! Tabular benchmarks: record every architecture of a space once (`nas tabulate`), then
//! compare strategies on table lookups in seconds ([`TabularEvaluator`]), as NAS-Bench-101
//! and -201 do.
//!
//! A table directory holds `table.csv` (one row per architecture and training seed:
//! validation and test accuracy and loss, parameters, MACs, epochs, recorded training
//! seconds, status) and `table.json` (the [`TableManifest`]: format version, nas version,
//! data identity, input shape, space, budget, training settings, and the SHA-256 of
//! `table.csv`), beside the journal it was derived from.

mod evaluator;
mod plan;
mod table;

pub use evaluator::TabularEvaluator;
pub use plan::{TabulatePlan, architectures, tabulate_trial_seed};
pub use table::{
    TABLE_CSV, TABLE_FORMAT, TABLE_JSON, TableManifest, TableRow, read_table, rows as table_rows,
    write_table,
};
