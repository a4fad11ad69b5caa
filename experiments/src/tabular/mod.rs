//! Tabular benchmarks: record every architecture of a space once (`nas tabulate`), or
//! import a published benchmark (`nas import-table`), then compare strategies on table
//! lookups in seconds ([`TabularEvaluator`]), as NAS-Bench-101 and -201 do.
//!
//! A table directory holds `table.csv` and `table.json`. Tables made by `nas tabulate`
//! (format version 1) have one row per architecture and training seed: validation and
//! test accuracy and loss, parameters, MACs, epochs, recorded training seconds, status;
//! their [`TableManifest`] records the format, nas version, data identity, input shape,
//! space, budget, training settings and the SHA-256 of `table.csv`, beside the journal it
//! was derived from. A tabulation with `[training] curve = true` also writes `curves.csv`
//! ([`CurveRow`]: the validation score of every row after each epoch), and then answers
//! trials of any recorded epoch. Imported tables (version 2, [`wide`]) have one row per architecture
//! and one column per recorded value, several fidelities and seeds, and declare their
//! search signal and reported value ([`WideManifest`]).

mod evaluator;
pub mod import;
mod plan;
mod table;
pub mod wide;

pub use evaluator::{ArchScores, TableInfo, TabularEvaluator, read_wide};
pub use plan::{TabulatePlan, architectures, tabulate_trial_seed};
pub use table::{
    CURVES_CSV, CurveRow, CurvesManifest, TABLE_CSV, TABLE_FORMAT, TABLE_JSON, TableManifest,
    TableRow, check_curves, read_table, read_table_with_curves, rows as table_rows, write_table,
};
pub use wide::{AccuracyUnit, Metric, Noise, Pick, WideManifest};

/// Largest table or data file nas reads (every byte is held in memory, and parsed into
/// more): far above the published benchmarks (NAS-Bench-201's tables are 3 MB), low
/// enough that a wrong file is refused rather than exhausting the memory.
pub const MAX_TABLE_BYTES: u64 = 1 << 30;

/// Reads a table or data file of at most [`MAX_TABLE_BYTES`], checking its size before
/// reading it.
pub(crate) fn read_bounded(
    path: &std::path::Path,
    what: &str,
) -> Result<Vec<u8>, crate::error::BadInput> {
    use std::io::Read;
    let err = |e: std::io::Error| {
        crate::error::BadInput::at(path, format!("cannot read the {what}: {e}"))
    };
    let file = std::fs::File::open(path).map_err(err)?;
    let too_large = || {
        crate::error::BadInput::at(
            path,
            format!(
                "the {what} is larger than {} GiB, the most nas reads: is it the right file?",
                MAX_TABLE_BYTES >> 30
            ),
        )
    };
    if file.metadata().map_err(err)?.len() > MAX_TABLE_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(MAX_TABLE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if bytes.len() as u64 > MAX_TABLE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}
