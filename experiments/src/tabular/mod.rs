//! Tabular benchmarks: record every architecture of a space once (`nas tabulate`), or
//! import a published benchmark (`nas import-table`), then compare strategies on table
//! lookups in seconds ([`TabularEvaluator`]), as NAS-Bench-101 and -201 do.
//!
//! A table directory holds `table.csv` and `table.json`. Tables made by `nas tabulate`
//! (format version 1) have one row per architecture and training seed: validation and
//! test accuracy and loss, parameters, MACs, epochs, recorded training seconds, status;
//! their [`TableManifest`] records the format, nas version, data identity, input shape,
//! space, budget, training settings and the SHA-256 of `table.csv`, beside the journal it
//! was derived from. Imported tables (version 2, [`wide`]) have one row per architecture
//! and one column per recorded value, several fidelities and seeds, and declare their
//! search signal and reported value ([`WideManifest`]).

mod evaluator;
pub mod import;
mod plan;
mod table;
pub mod wide;

pub use evaluator::{TableInfo, TabularEvaluator, read_wide};
pub use plan::{TabulatePlan, architectures, tabulate_trial_seed};
pub use table::{
    TABLE_CSV, TABLE_FORMAT, TABLE_JSON, TableManifest, TableRow, read_table, rows as table_rows,
    write_table,
};
pub use wide::{AccuracyUnit, Metric, Noise, Pick, WideManifest};
