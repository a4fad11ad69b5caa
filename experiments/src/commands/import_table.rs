//! `nas import-table`: turn recorded values of any space (CSV or JSON) into a nas table.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::tabular::import;

/// Arguments of `nas import-table`.
#[derive(Debug, Clone, Args)]
pub struct ImportTableArgs {
    /// The import spec (TOML): `[table]` (name, description, source, dataset, input,
    /// classes, accuracy unit, data file, signal, report) and `[space]`.
    pub spec: PathBuf,
    /// The table directory to write (table.csv + table.json).
    #[arg(long)]
    pub out: PathBuf,
    /// The data file (overrides the spec's `table.data`).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// Imports and prints what the table holds.
pub fn exec(args: &ImportTableArgs) -> Result<()> {
    let done = import::import(&args.spec, args.data.as_deref(), &args.out)?;
    let m = &done.manifest;
    println!(
        "table: {} ({}): {} architectures of a {} space, fidelities {:?} {}, {} columns",
        done.dir.display(),
        m.name,
        m.architectures,
        m.space.kind(),
        m.fidelities,
        m.fidelity_unit,
        m.columns.len()
    );
    println!("  search signal: {}", m.signal.describe(&m.fidelity_unit));
    println!("  reported:      {}", m.report.describe(&m.fidelity_unit));
    println!("  table.csv SHA-256: {}", m.table_sha256);
    Ok(())
}
