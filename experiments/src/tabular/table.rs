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
/// File name of the learning curves (tables tabulated with `[training] curve = true`).
pub const CURVES_CSV: &str = "curves.csv";
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
    /// The learning curves in `curves.csv`, when the tabulation recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curves: Option<CurvesManifest>,
}

/// What `curves.csv` holds: for every row of `table.csv`, the validation score after
/// each epoch of its training (one row per epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurvesManifest {
    /// Epochs of every full curve (the budget's epochs): a trial of the table's budget
    /// with fewer epochs can be answered from its curve.
    pub epochs: u32,
    /// Rows of `curves.csv`.
    pub rows: usize,
    /// SHA-256 of `curves.csv`.
    pub sha256: String,
}

/// One point of a learning curve: a row of `table.csv` after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveRow {
    /// Stable id of the architecture.
    pub arch_id: String,
    /// Canonical text.
    pub arch: String,
    /// Training seed index k (0..K).
    pub seed: u32,
    /// The epoch (1-based) after which the validation images were scored.
    pub epoch: u32,
    /// Validation accuracy after the epoch.
    pub val_acc: f64,
    /// Validation loss after the epoch.
    pub val_loss: f64,
    /// Recorded training seconds from the start of the training to the end of the epoch.
    pub train_seconds: f64,
}

impl CurveRow {
    /// The point as the evaluator records it.
    pub fn score(&self) -> nas_core::EpochScore {
        nas_core::EpochScore {
            val_acc: self.val_acc,
            val_loss: self.val_loss,
            train_seconds: self.train_seconds,
        }
    }
}

/// Builds the rows of a finished tabulation, in enumeration order then seed order, each
/// with its learning curve (empty when none was recorded).
pub fn rows(
    runs: &[RunRecord],
    archs: &[nas_core::Architecture],
    seeds: u32,
) -> Result<Vec<(TableRow, Vec<CurveRow>)>> {
    type Slot = Option<(TableRow, Vec<CurveRow>)>;
    let mut by_arch: std::collections::HashMap<nas_core::ArchId, Vec<Slot>> = archs
        .iter()
        .map(|a| (a.id(), vec![None; seeds as usize]))
        .collect();
    for run in runs {
        for t in &run.trials {
            let m = t.metrics.as_ref();
            let curve = m
                .map(|m| m.curve.as_slice())
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(e, p)| CurveRow {
                    arch_id: t.arch.id().to_string(),
                    arch: t.arch.to_string(),
                    seed: t.repetition,
                    epoch: e as u32 + 1,
                    val_acc: p.val_acc,
                    val_loss: p.val_loss,
                    train_seconds: p.train_seconds,
                })
                .collect();
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
                *slot = Some((row, curve));
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

/// Writes `table.csv` and `table.json` (the manifest's checksum and totals filled in),
/// and `curves.csv` when `curve_epochs` is set (a tabulation that recorded learning
/// curves of that many epochs: every `ok` row must then have its full curve).
pub fn write_table(
    dir: &Path,
    rows: &[(TableRow, Vec<CurveRow>)],
    curve_epochs: Option<u32>,
    mut manifest: TableManifest,
) -> Result<TableManifest> {
    for (i, (row, _)) in rows.iter().enumerate() {
        if let Err((column, message)) = check_row(row) {
            anyhow::bail!(
                "refusing to write a table nas could not read back: row {}, column `{column}` ({}): {message}",
                i + 2,
                row.arch
            );
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    for (r, _) in rows {
        w.serialize(r)?;
    }
    let csv = w.into_inner().context("cannot build the table")?;
    manifest.rows = rows.len();
    manifest.not_ok = rows.iter().filter(|(r, _)| r.status != Status::Ok).count();
    manifest.train_seconds_total = rows.iter().filter_map(|(r, _)| r.train_seconds).sum();
    manifest.table_sha256 = hex(&Sha256::digest(&csv));
    manifest.curves = None;
    let mut curves_csv = None;
    if let Some(epochs) = curve_epochs {
        let table: Vec<TableRow> = rows.iter().map(|(r, _)| r.clone()).collect();
        let curves: Vec<CurveRow> = rows.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
        if let Err((i, column, message)) = check_curves(&table, &curves, epochs) {
            anyhow::bail!(
                "refusing to write learning curves nas could not read back: {CURVES_CSV} row {}, column `{column}`: {message}",
                i + 2
            );
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        for c in &curves {
            w.serialize(c)?;
        }
        let bytes = w.into_inner().context("cannot build the curves")?;
        manifest.curves = Some(CurvesManifest {
            epochs,
            rows: curves.len(),
            sha256: hex(&Sha256::digest(&bytes)),
        });
        curves_csv = Some(bytes);
    }
    write_atomic(&dir.join(TABLE_CSV), &csv)?;
    if let Some(bytes) = curves_csv {
        write_atomic(&dir.join(CURVES_CSV), &bytes)?;
    }
    let mut json = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    json.push('\n');
    write_atomic(&dir.join(TABLE_JSON), json.as_bytes())?;
    Ok(manifest)
}

/// Checks the learning curves against the rows of `table.csv`: every value as
/// [`nas_core::Metrics::check`] holds it; each curve belongs to a row (same `arch_id`,
/// `arch` and `seed`) and lists epochs 1, 2, ... in order, at most `epochs` of them;
/// the curve of an `ok` row has all `epochs` points and ends at the row's validation
/// accuracy and loss; rows come in the order of `table.csv`. Errors are (index of the
/// curve row, 0-based, or of the first row after the last, column, message).
pub fn check_curves(
    rows: &[TableRow],
    curves: &[CurveRow],
    epochs: u32,
) -> Result<(), (usize, String, String)> {
    let mut at = 0;
    for row in rows {
        let start = at;
        while at < curves.len() && curves[at].arch_id == row.arch_id && curves[at].seed == row.seed
        {
            let c = &curves[at];
            let want = (at - start) as u32 + 1;
            if c.arch != row.arch {
                return Err((
                    at,
                    "arch".into(),
                    format!(
                        "`{}` but table.csv has `{}` for id {}",
                        c.arch, row.arch, c.arch_id
                    ),
                ));
            }
            if c.epoch != want || want > epochs {
                return Err((
                    at,
                    "epoch".into(),
                    format!(
                        "{} (allowed: {want}, the next epoch of this curve, at most {epochs})",
                        c.epoch
                    ),
                ));
            }
            let m = nas_core::Metrics {
                curve: vec![c.score()],
                ..nas_core::Metrics::default()
            };
            if let Err(e) = m.check() {
                let e = e.trim_start_matches("curve[1].").to_string();
                let column = e.split(" = ").next().unwrap_or_default().to_string();
                return Err((at, column, e));
            }
            at += 1;
        }
        let n = (at - start) as u32;
        if row.status == Status::Ok {
            if n != epochs {
                return Err((
                    at,
                    "epoch".into(),
                    format!(
                        "the curve of `{}` seed {} has {n} epochs; an ok row has all {epochs}",
                        row.arch, row.seed
                    ),
                ));
            }
            let last = &curves[at - 1];
            if Some(last.val_acc) != row.val_acc || Some(last.val_loss) != row.val_loss {
                return Err((
                    at - 1,
                    "val_acc".into(),
                    format!(
                        "the last point of `{}` seed {} differs from its row in table.csv",
                        row.arch, row.seed
                    ),
                ));
            }
        }
    }
    if at < curves.len() {
        return Err((
            at,
            "arch_id".into(),
            format!(
                "`{}` seed {} is not the next row of table.csv (curves follow table.csv's order)",
                curves[at].arch_id, curves[at].seed
            ),
        ));
    }
    Ok(())
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
    read_table_with_curves(dir).map(|(m, rows, _)| (m, rows))
}

/// Reads a table directory with its learning curves (empty when it has none), checking
/// formats, checksums and every value.
pub fn read_table_with_curves(
    dir: &Path,
) -> Result<(TableManifest, Vec<TableRow>, Vec<CurveRow>), BadInput> {
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
    let curves = match &manifest.curves {
        Some(info) => read_curves(dir, info, &rows)?,
        None => Vec::new(),
    };
    Ok((manifest, rows, curves))
}

fn read_curves(
    dir: &Path,
    info: &CurvesManifest,
    rows: &[TableRow],
) -> Result<Vec<CurveRow>, BadInput> {
    let path = dir.join(CURVES_CSV);
    let bytes = super::read_bounded(&path, "learning curves")?;
    let sha = hex(&Sha256::digest(&bytes));
    if sha != info.sha256 {
        return Err(BadInput::at(
            &path,
            format!(
                "checksum {sha} does not match table.json ({}): the curves were changed or damaged",
                info.sha256
            ),
        ));
    }
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let curves = reader
        .deserialize()
        .enumerate()
        .map(|(i, r)| r.map_err(|e| BadInput::at(&path, format!("row {}: {e}", i + 2))))
        .collect::<Result<Vec<CurveRow>, BadInput>>()?;
    if curves.len() != info.rows {
        return Err(BadInput::at(
            &path,
            format!("{} rows, table.json says {}", curves.len(), info.rows),
        ));
    }
    check_curves(rows, &curves, info.epochs).map_err(|(i, column, message)| {
        BadInput::at(
            &path,
            format!("row {}, column `{column}`: {message}", i + 2),
        )
    })?;
    Ok(curves)
}
