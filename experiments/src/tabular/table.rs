//! The table file format: `table.csv` + `table.json`.

use std::path::Path;

use anyhow::{Context, Result};
use nas_core::{Budget, InputShape, SearchSpaceParams, Status};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::hex;
use crate::error::BadInput;
use crate::outputs::write_atomic;
use crate::records::RunRecord;

/// File name of the rows.
pub const TABLE_CSV: &str = "table.csv";
/// File name of the manifest.
pub const TABLE_JSON: &str = "table.json";
/// Format name and version written in the manifest.
pub const TABLE_FORMAT: (&str, u32) = ("nas-table", 1);

/// One architecture trained with one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    /// Stable id of the architecture.
    pub arch_id: String,
    /// Canonical text.
    pub arch: String,
    /// Training seed index k (0..K).
    pub seed: u32,
    /// The trial seed it was trained with.
    pub trial_seed: u64,
    /// `ok`, `diverged` or `failed`.
    pub status: Status,
    /// Why it is not `ok`.
    pub reason: Option<String>,
    /// Validation accuracy.
    pub val_acc: Option<f64>,
    /// Validation loss.
    pub val_loss: Option<f64>,
    /// Test accuracy.
    pub test_acc: Option<f64>,
    /// Test loss.
    pub test_loss: Option<f64>,
    /// Trainable parameters.
    pub params: Option<u64>,
    /// Forward MACs per example.
    pub macs: Option<u64>,
    /// Epochs trained.
    pub epochs: Option<f64>,
    /// Recorded training seconds (the simulated clock of tabular runs).
    pub train_seconds: Option<f64>,
}

/// `table.json`: what a table holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableManifest {
    /// Always `nas-table`.
    pub format: String,
    /// Format version.
    pub version: u32,
    /// nas version that made it.
    pub nas_version: String,
    /// Data set name.
    pub dataset: String,
    /// "official MNIST", ...
    pub data_identity: String,
    /// SHA-256 of each data file.
    pub data_files: Vec<(String, String)>,
    /// Input shape of the networks.
    pub input: InputShape,
    /// Number of classes.
    pub classes: u32,
    /// The space tabulated.
    pub space: SearchSpaceParams,
    /// The per-trial budget.
    pub budget: Budget,
    /// The training settings, resolved.
    pub training: toml::Table,
    /// Validation images held out.
    pub validation_size: usize,
    /// Experiment seed of the tabulation.
    pub experiment_seed: u64,
    /// Training seeds per architecture (K).
    pub seeds: u32,
    /// Architectures in the table.
    pub architectures: usize,
    /// Rows (architectures x seeds).
    pub rows: usize,
    /// Rows whose training diverged or failed.
    pub not_ok: usize,
    /// Sum of the recorded training seconds.
    pub train_seconds_total: f64,
    /// SHA-256 of `table.csv`.
    pub table_sha256: String,
}

/// Builds the rows of a finished tabulation, in enumeration order then seed order.
pub fn rows(
    runs: &[RunRecord],
    archs: &[nas_core::Architecture],
    seeds: u32,
) -> Result<Vec<TableRow>> {
    let mut by_arch: std::collections::HashMap<nas_core::ArchId, Vec<Option<TableRow>>> = archs
        .iter()
        .map(|a| (a.id(), vec![None; seeds as usize]))
        .collect();
    for run in runs {
        for t in &run.trials {
            let m = t.metrics.as_ref();
            let row = TableRow {
                arch_id: t.arch.id().to_string(),
                arch: t.arch.to_string(),
                seed: t.repetition,
                trial_seed: t.seed,
                status: t.status,
                reason: t.reason.clone(),
                val_acc: m.and_then(|m| m.val_acc),
                val_loss: m.and_then(|m| m.val_loss),
                test_acc: m.and_then(|m| m.test_acc),
                test_loss: m.and_then(|m| m.test_loss),
                params: m.map(|m| m.params),
                macs: m.map(|m| m.macs),
                epochs: m.map(|m| m.epochs),
                train_seconds: m.map(|m| m.train_seconds),
            };
            if let Some(slots) = by_arch.get_mut(&t.arch.id())
                && let Some(slot) = slots.get_mut(t.repetition as usize)
            {
                *slot = Some(row);
            }
        }
    }
    let mut out = Vec::with_capacity(archs.len() * seeds as usize);
    for a in archs {
        for (k, row) in by_arch
            .remove(&a.id())
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            out.push(row.with_context(|| format!("`{a}` has no row for seed {k}"))?);
        }
    }
    Ok(out)
}

/// Writes `table.csv` and `table.json` (the manifest's checksum and totals filled in).
pub fn write_table(
    dir: &Path,
    rows: &[TableRow],
    mut manifest: TableManifest,
) -> Result<TableManifest> {
    for (i, row) in rows.iter().enumerate() {
        if let Err((column, message)) = check_row(row) {
            anyhow::bail!(
                "refusing to write a table nas could not read back: row {}, column `{column}` ({}): {message}",
                i + 2,
                row.arch
            );
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    let csv = w.into_inner().context("cannot build the table")?;
    manifest.rows = rows.len();
    manifest.not_ok = rows.iter().filter(|r| r.status != Status::Ok).count();
    manifest.train_seconds_total = rows.iter().filter_map(|r| r.train_seconds).sum();
    manifest.table_sha256 = hex(&Sha256::digest(&csv));
    write_atomic(&dir.join(TABLE_CSV), &csv)?;
    let mut json = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    json.push('\n');
    write_atomic(&dir.join(TABLE_JSON), json.as_bytes())?;
    Ok(manifest)
}

/// Checks one row's values as every value nas reads is checked
/// ([`nas_core::Metrics::check`]): accuracies finite fractions, losses, epochs and seconds
/// finite and not negative; an `ok` row has both accuracies; no row is `killed`. Errors
/// are (column, message).
pub fn check_row(row: &TableRow) -> Result<(), (String, String)> {
    let metrics = nas_core::Metrics {
        val_acc: row.val_acc,
        val_loss: row.val_loss,
        test_acc: row.test_acc,
        test_loss: row.test_loss,
        params: 0,
        macs: 0,
        epochs: row.epochs.unwrap_or(0.0),
        train_seconds: row.train_seconds.unwrap_or(0.0),
        curve: Vec::new(),
    };
    if let Err(e) = metrics.check() {
        let column = e.split(" = ").next().unwrap_or_default().to_string();
        return Err((column, e));
    }
    if row.status == Status::Killed {
        return Err((
            "status".into(),
            "killed (allowed: ok, diverged, failed)".into(),
        ));
    }
    if row.status == Status::Ok {
        for (column, value) in [("val_acc", row.val_acc), ("test_acc", row.test_acc)] {
            if value.is_none() {
                return Err((
                    column.into(),
                    "missing in a row whose status is ok (allowed: a fraction in [0, 1])".into(),
                ));
            }
        }
    }
    Ok(())
}

/// Reads a table directory, checking its format, checksum and every value.
pub fn read_table(dir: &Path) -> Result<(TableManifest, Vec<TableRow>), BadInput> {
    let json_path = dir.join(TABLE_JSON);
    let text = std::fs::read_to_string(&json_path).map_err(|e| {
        BadInput::at(
            &json_path,
            format!("cannot read the table manifest: {e} (make a table with `nas tabulate`)"),
        )
    })?;
    let manifest: TableManifest = serde_json::from_str(&text)
        .map_err(|e| BadInput::at(&json_path, format!("not a nas table manifest: {e}")))?;
    if (manifest.format.as_str(), manifest.version) != TABLE_FORMAT {
        return Err(BadInput::at(
            &json_path,
            format!(
                "table format {} {} is not supported (this nas reads {} {})",
                manifest.format, manifest.version, TABLE_FORMAT.0, TABLE_FORMAT.1
            ),
        ));
    }
    let csv_path = dir.join(TABLE_CSV);
    let bytes = super::read_bounded(&csv_path, "table")?;
    let sha = hex(&Sha256::digest(&bytes));
    if sha != manifest.table_sha256 {
        return Err(BadInput::at(
            &csv_path,
            format!(
                "checksum {sha} does not match table.json ({}): the table was changed or damaged",
                manifest.table_sha256
            ),
        ));
    }
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let rows = reader
        .deserialize()
        .enumerate()
        .map(|(i, r)| {
            let row: TableRow =
                r.map_err(|e| BadInput::at(&csv_path, format!("row {}: {e}", i + 2)))?;
            check_row(&row).map_err(|(column, message)| {
                BadInput::at(
                    &csv_path,
                    format!("row {}, column `{column}`: {message}", i + 2),
                )
            })?;
            Ok(row)
        })
        .collect::<Result<Vec<TableRow>, BadInput>>()?;
    if !(manifest.train_seconds_total.is_finite() && manifest.train_seconds_total >= 0.0) {
        return Err(BadInput::at(
            &json_path,
            format!(
                "train_seconds_total = {} (allowed: a finite number, 0 or more)",
                manifest.train_seconds_total
            ),
        ));
    }
    if rows.len() != manifest.rows {
        return Err(BadInput::at(
            &csv_path,
            format!("{} rows, table.json says {}", rows.len(), manifest.rows),
        ));
    }
    Ok((manifest, rows))
}
