//! Answering trials from a table: one made by `nas tabulate` (format version 1) or one
//! imported with `nas import-table`, such as the shipped NAS-Bench-201 and
//! NAS-Bench-Macro tables (version 2).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nas_core::{
    ArchId, Architecture, Budget, EpochScore, EvalError, EvalRequest, Evaluation, Evaluator,
    InputShape, Metrics, SearchSpaceParams, Status, derive_seed,
};

use super::table::{
    TABLE_CSV, TABLE_FORMAT, TABLE_JSON, TableManifest, TableRow, read_table_with_curves,
};
use super::wide::{self, Metric, Noise, Pick, Record, WideManifest};
use crate::config::hex;
use crate::error::BadInput;
use crate::manifest::{Optimum, TableSummary};

/// What a table holds.
#[derive(Debug)]
enum Table {
    /// Made by `nas tabulate`: rows per recorded training seed of one budget.
    Tabulated {
        manifest: TableManifest,
        rows: HashMap<ArchId, Vec<TableRow>>,
        /// The learning curve of each row, by seed (empty without `curves.csv`).
        curves: HashMap<ArchId, Vec<Vec<EpochScore>>>,
    },
    /// Imported: a record per architecture, several fidelities and seeds.
    Imported {
        manifest: WideManifest,
        records: HashMap<ArchId, (Architecture, Record)>,
        /// The search signal and reported value in use.
        signal: Pick,
        report: Pick,
    },
}

/// An evaluator that looks trials up in a table.
///
/// - A table made by `nas tabulate` holds K recorded trainings per architecture; a trial
///   reads one, `derive_seed(trial_seed, "tabular-seed", 0) mod K`, so repeated runs see
///   the noise of real training, and its test scores come from the same training. When
///   the table holds learning curves (`curves.csv`), a trial of the table's budget with
///   fewer epochs `e` reads the chosen training's validation score after epoch `e` and
///   its training seconds to that epoch; its test score (when asked) is the one recorded
///   after the training's last epoch, the only one measured (the NAS-Bench-201 way of
///   reporting a search run at a low fidelity: the found architecture's test score
///   after full training). The curve comes from one training whose learning-rate
///   schedule spans all the table's epochs, as NAS-Bench-201's curves do.
/// - An imported table declares (and a config may override) its search signal and its
///   reported value, each a [`Pick`]: a metric at a fidelity, either the mean over the
///   recorded trainings or one of them chosen by the trial seed as above. A trial's
///   validation accuracy is the signal, its epochs the signal's fidelity, its training
///   seconds those recorded at that fidelity (the simulated clock); a test request also
///   gets the reported value as its test accuracy.
///
/// The same trial seed always gets the same recorded result. Architectures missing from
/// the table, or without the value a pick needs, are refused with an error (the trial
/// fails).
#[derive(Debug)]
pub struct TabularEvaluator {
    dir: PathBuf,
    table: Table,
}

/// An architecture's mean scores in a table ([`TabularEvaluator::scores`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ArchScores {
    /// Canonical text.
    pub arch: String,
    /// Mean validation accuracy (tabulated) or search signal (imported), in [0, 1].
    pub val_acc: f64,
    /// Mean test accuracy (tabulated) or reported value (imported), in [0, 1].
    pub test_acc: f64,
}

/// What a run needs to know of a table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// The space it covers.
    pub space: SearchSpaceParams,
    /// The networks' input.
    pub input: InputShape,
    /// Data set name.
    pub dataset: String,
    /// Where the data come from.
    pub identity: String,
    /// Data files (tabulated) or source files (imported) with their SHA-256.
    pub files: Vec<(String, String)>,
    /// The budget each architecture was trained with (tabulated tables only).
    pub budget: Option<Budget>,
    /// Epochs of the learning curves a tabulated table holds (trials of its budget with
    /// 1 to this many epochs are answered), or None.
    pub curve_epochs: Option<u32>,
}

/// Reads `table.json`'s format version.
fn version(dir: &Path) -> Result<u32, BadInput> {
    let path = dir.join(TABLE_JSON);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        BadInput::at(
            &path,
            format!("cannot read the table manifest: {e} (make a table with `nas tabulate` or `nas import-table`)"),
        )
    })?;
    #[derive(serde::Deserialize)]
    struct Head {
        format: String,
        version: u32,
    }
    let head: Head = serde_json::from_str(&text)
        .map_err(|e| BadInput::at(&path, format!("not a nas table manifest: {e}")))?;
    if head.format != TABLE_FORMAT.0 || !(head.version == 1 || head.version == wide::WIDE_VERSION) {
        return Err(BadInput::at(
            &path,
            format!(
                "table format {} {} is not supported (this nas reads {} 1 and {})",
                head.format,
                head.version,
                TABLE_FORMAT.0,
                wide::WIDE_VERSION
            ),
        ));
    }
    Ok(head.version)
}

/// Reads an imported table, checking its manifest, checksum and every value.
pub fn read_wide(dir: &Path) -> Result<(WideManifest, Vec<(Architecture, Record)>), BadInput> {
    let json_path = dir.join(TABLE_JSON);
    let text = std::fs::read_to_string(&json_path)
        .map_err(|e| BadInput::at(&json_path, format!("cannot read the table manifest: {e}")))?;
    let manifest: WideManifest = serde_json::from_str(&text)
        .map_err(|e| BadInput::at(&json_path, format!("not a nas table manifest: {e}")))?;
    let csv_path = dir.join(TABLE_CSV);
    let bytes = super::read_bounded(&csv_path, "table")?;
    let sha = hex(&sha2::Digest::finalize(
        <sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes),
    ));
    if sha != manifest.table_sha256 {
        return Err(BadInput::at(
            &csv_path,
            format!(
                "checksum {sha} does not match table.json ({}): the table was changed or damaged",
                manifest.table_sha256
            ),
        ));
    }
    let space = manifest
        .space
        .check(manifest.input)
        .map_err(|e| BadInput::at(&json_path, format!("space: {e}")))?;
    let records = wide::read_csv(&csv_path, &bytes, &space, manifest.accuracy)?;
    if records.len() != manifest.architectures {
        return Err(BadInput::at(
            &csv_path,
            format!(
                "{} architectures, table.json says {}",
                records.len(),
                manifest.architectures
            ),
        ));
    }
    Ok((manifest, records))
}

impl TabularEvaluator {
    /// Loads a table directory.
    pub fn open(dir: &Path) -> Result<Self, BadInput> {
        let table = match version(dir)? {
            1 => open_tabulated(dir)?,
            _ => {
                let (manifest, records) = read_wide(dir)?;
                let mut by_id = HashMap::with_capacity(records.len());
                for (arch, record) in records {
                    if by_id.insert(arch.id(), (arch.clone(), record)).is_some() {
                        return Err(BadInput::at(
                            &dir.join(TABLE_CSV),
                            format!("`{arch}` appears twice"),
                        ));
                    }
                }
                Table::Imported {
                    signal: manifest.signal,
                    report: manifest.report,
                    manifest,
                    records: by_id,
                }
            }
        };
        Ok(TabularEvaluator {
            dir: dir.to_path_buf(),
            table,
        })
    }

    /// Uses other picks than the table's defaults (imported tables only): each fidelity
    /// and metric must be recorded for every architecture (as the seed rows a `seed`
    /// noise needs).
    ///
    /// # Errors
    /// A message naming the pick and what the table has.
    pub fn with_picks(
        mut self,
        signal: Option<Pick>,
        report: Option<Pick>,
    ) -> Result<Self, String> {
        match &mut self.table {
            Table::Tabulated { .. } => {
                if signal.is_some() || report.is_some() {
                    return Err(format!(
                        "the table {} was made by nas tabulate: it reads one recorded seed per trial, at [budget] epochs; signal and report apply to imported tables",
                        self.dir.display()
                    ));
                }
            }
            Table::Imported {
                manifest,
                records,
                signal: s,
                report: r,
            } => {
                for (name, pick, slot) in [("signal", signal, s), ("report", report, r)] {
                    let Some(pick) = pick else { continue };
                    if !manifest.fidelities.contains(&pick.fidelity) {
                        return Err(format!(
                            "{name}.fidelity = {} is not recorded in the table {} (its fidelities: {:?} {})",
                            pick.fidelity,
                            self.dir.display(),
                            manifest.fidelities,
                            manifest.fidelity_unit
                        ));
                    }
                    if let Some((arch, _)) = records
                        .values()
                        .find(|(_, rec)| rec.pick(&pick, 0).is_none())
                    {
                        return Err(format!(
                            "{name} = {} is not recorded for every architecture of the table {} (`{arch}` lacks it)",
                            pick.describe(&manifest.fidelity_unit),
                            self.dir.display()
                        ));
                    }
                    *slot = pick;
                }
            }
        }
        Ok(self)
    }

    /// What a run needs to know of the table.
    pub fn info(&self) -> TableInfo {
        match &self.table {
            Table::Tabulated { manifest: m, .. } => TableInfo {
                space: m.space.clone(),
                input: m.input,
                dataset: m.dataset.clone(),
                identity: m.data_identity.clone(),
                files: m.data_files.clone(),
                budget: Some(m.budget.clone()),
                curve_epochs: m.curves.as_ref().map(|c| c.epochs),
            },
            Table::Imported { manifest: m, .. } => TableInfo {
                space: m.space.clone(),
                input: m.input,
                dataset: m.dataset.clone(),
                identity: m.name.clone(),
                files: m.imported_from.clone(),
                budget: None,
                curve_epochs: None,
            },
        }
    }

    /// The signal and report in use (imported tables).
    pub fn picks(&self) -> Option<(Pick, Pick)> {
        match &self.table {
            Table::Imported { signal, report, .. } => Some((*signal, *report)),
            Table::Tabulated { .. } => None,
        }
    }

    /// The manifest of a table made by `nas tabulate`.
    pub fn tabulated_manifest(&self) -> Option<&TableManifest> {
        match &self.table {
            Table::Tabulated { manifest, .. } => Some(manifest),
            Table::Imported { .. } => None,
        }
    }

    /// Every architecture's rows of a table made by `nas tabulate`.
    pub fn all(&self) -> impl Iterator<Item = &[TableRow]> {
        let rows = match &self.table {
            Table::Tabulated { rows, .. } => Some(rows),
            Table::Imported { .. } => None,
        };
        rows.into_iter().flat_map(|r| r.values().map(Vec::as_slice))
    }
}

fn open_tabulated(dir: &Path) -> Result<Table, BadInput> {
    let (manifest, rows, curve_rows) = read_table_with_curves(dir)?;
    let mut curves: HashMap<ArchId, Vec<Vec<EpochScore>>> = HashMap::new();
    for c in &curve_rows {
        let id = u64::from_str_radix(&c.arch_id, 16)
            .map(ArchId)
            .map_err(|_| BadInput::at(dir, format!("bad arch_id `{}`", c.arch_id)))?;
        let by_seed = curves.entry(id).or_default();
        let k = c.seed as usize;
        if by_seed.len() <= k {
            by_seed.resize(k + 1, Vec::new());
        }
        by_seed[k].push(c.score());
    }
    let k = manifest.seeds as usize;
    let mut by_arch: HashMap<ArchId, Vec<TableRow>> = HashMap::new();
    for row in rows {
        let id = u64::from_str_radix(&row.arch_id, 16)
            .map(ArchId)
            .map_err(|_| BadInput::at(dir, format!("bad arch_id `{}`", row.arch_id)))?;
        by_arch.entry(id).or_default().push(row);
    }
    for (id, rows) in &mut by_arch {
        rows.sort_by_key(|r| r.seed);
        if rows.len() != k || rows.iter().enumerate().any(|(i, r)| r.seed as usize != i) {
            return Err(BadInput::at(
                dir,
                format!(
                    "architecture {id} has {} rows, expected seeds 0..{k}",
                    rows.len()
                ),
            ));
        }
    }
    Ok(Table::Tabulated {
        manifest,
        rows: by_arch,
        curves,
    })
}

impl Evaluator for TabularEvaluator {
    fn evaluate(&self, request: &EvalRequest<'_>) -> Result<Evaluation, EvalError> {
        let missing = || {
            format!(
                "`{}` is not in the table {}",
                request.arch,
                self.dir.display()
            )
        };
        match &self.table {
            Table::Tabulated {
                manifest,
                rows,
                curves,
            } => {
                let rows = rows.get(&request.arch.id()).ok_or_else(|| {
                    format!(
                        "{} ({} architectures of its space)",
                        missing(),
                        manifest.architectures
                    )
                })?;
                // A multi-fidelity request asks for the budget's training at its epochs.
                let asked = Budget {
                    epochs: request.epochs(),
                    ..request.budget.clone()
                };
                let budget = &asked;
                let curve_epochs = manifest.curves.as_ref().map_or(0, |c| c.epochs);
                let early = budget != &manifest.budget
                    && budget.train_subset == manifest.budget.train_subset
                    && (1..=curve_epochs).contains(&budget.epochs);
                if budget != &manifest.budget && !early {
                    let curve = if curve_epochs > 0 {
                        format!(" (and learning curves: any epochs from 1 to {curve_epochs})")
                    } else {
                        String::new()
                    };
                    return Err(format!(
                        "the table {} was recorded with budget {:?}{curve}, not {:?}",
                        self.dir.display(),
                        manifest.budget,
                        budget
                    )
                    .into());
                }
                let k = derive_seed(request.seed, "tabular-seed", 0) % rows.len() as u64;
                let row = &rows[k as usize];
                let mut metrics = Metrics {
                    val_acc: row.val_acc,
                    val_loss: row.val_loss,
                    test_acc: row.test_acc.filter(|_| request.test),
                    test_loss: row.test_loss.filter(|_| request.test),
                    params: row.params.unwrap_or_default(),
                    macs: row.macs.unwrap_or_default(),
                    epochs: row.epochs.unwrap_or_default(),
                    train_seconds: row.train_seconds.unwrap_or_default(),
                    curve: Vec::new(),
                };
                if early {
                    let e = budget.epochs as usize;
                    let point = curves
                        .get(&request.arch.id())
                        .and_then(|by_seed| by_seed.get(k as usize))
                        .and_then(|curve| curve.get(e - 1));
                    // A training that went wrong after epoch e was fine at epoch e.
                    if let Some(p) = point {
                        metrics.val_acc = Some(p.val_acc);
                        metrics.val_loss = Some(p.val_loss);
                        metrics.epochs = f64::from(budget.epochs);
                        metrics.train_seconds = p.train_seconds;
                        return Ok(Evaluation {
                            status: Status::Ok,
                            reason: None,
                            metrics,
                        });
                    }
                }
                match row.status {
                    Status::Ok | Status::Diverged => Ok(Evaluation {
                        status: row.status,
                        reason: row.reason.clone(),
                        metrics,
                    }),
                    _ => Err(row
                        .reason
                        .clone()
                        .unwrap_or_else(|| format!("recorded as {}", row.status))
                        .into()),
                }
            }
            Table::Imported {
                manifest,
                records,
                signal,
                report,
            } => {
                if let Some(epochs) = request.fidelity {
                    return Err(format!(
                        "the imported table {} answers its search signal only, not a fidelity of {epochs} epochs: multi-fidelity strategies need a table tabulated with learning curves ([training] curve = true)",
                        self.dir.display()
                    )
                    .into());
                }
                let (_, record) = records.get(&request.arch.id()).ok_or_else(missing)?;
                let unit = manifest.accuracy;
                let read = |pick: &Pick| {
                    record.pick(pick, request.seed).ok_or_else(|| {
                        format!(
                            "`{}` has no recorded {}",
                            request.arch,
                            pick.describe(&manifest.fidelity_unit)
                        )
                    })
                };
                let (value, seed) = read(signal)?;
                let same_run = |metric: Metric| record.get(signal.fidelity, metric, seed);
                let seconds = same_run(Metric::TrainSeconds)
                    .or_else(|| record.get(signal.fidelity, Metric::TrainSeconds, None))
                    .unwrap_or(0.0);
                let mut metrics = Metrics {
                    val_acc: Some(unit.to_nas(signal.metric, value)),
                    val_loss: (signal.metric == Metric::ValAcc)
                        .then(|| same_run(Metric::ValLoss))
                        .flatten(),
                    params: record.params.unwrap_or_default(),
                    macs: record.macs.unwrap_or_default(),
                    epochs: f64::from(signal.fidelity),
                    train_seconds: seconds,
                    ..Metrics::default()
                };
                if request.test {
                    let (test, test_seed) = read(report)?;
                    metrics.test_acc = Some(unit.to_nas(report.metric, test));
                    metrics.test_loss = (report.metric == Metric::TestAcc)
                        .then(|| record.get(report.fidelity, Metric::TestLoss, test_seed))
                        .flatten();
                }
                Ok(Evaluation {
                    status: Status::Ok,
                    reason: None,
                    metrics,
                })
            }
        }
    }

    /// A table answers a continued trial from the learning curve of the training it
    /// recorded (the seconds between the two epochs), so continuing costs the new epochs.
    fn continues(&self) -> bool {
        true
    }
}

impl TabularEvaluator {
    /// Every architecture's mean scores, sorted by architecture text: for a tabulated
    /// table the mean validation and test accuracy over the recorded seeds (architectures
    /// with a non-`ok` seed are left out); for an imported one the search signal and the
    /// reported value (averaged over the recorded seeds for a `seed` pick), as fractions.
    pub fn scores(&self) -> Vec<ArchScores> {
        let mut means: Vec<(String, f64, f64)> = match &self.table {
            Table::Tabulated { rows, .. } => rows
                .values()
                .filter(|rows| rows.iter().all(|r| r.status == Status::Ok))
                .filter_map(|rows| {
                    let n = rows.len() as f64;
                    let val: f64 = rows.iter().map(|r| r.val_acc).sum::<Option<f64>>()? / n;
                    let test: f64 = rows.iter().map(|r| r.test_acc).sum::<Option<f64>>()? / n;
                    Some((rows[0].arch.clone(), val, test))
                })
                .collect(),
            Table::Imported {
                manifest,
                records,
                signal,
                report,
            } => {
                let unit = manifest.accuracy;
                records
                    .values()
                    .filter_map(|(arch, rec)| {
                        Some((
                            arch.to_string(),
                            unit.to_nas(signal.metric, expected(rec, signal)?),
                            unit.to_nas(report.metric, expected(rec, report)?),
                        ))
                    })
                    .collect()
            }
        };
        // Deterministic whatever the map order.
        means.sort_by(|a, b| a.0.cmp(&b.0));
        means
            .into_iter()
            .map(|(arch, val_acc, test_acc)| ArchScores {
                arch,
                val_acc,
                test_acc,
            })
            .collect()
    }

    /// The table's size and its optima: for a tabulated table by mean validation and by
    /// mean test accuracy over the recorded seeds (architectures with a non-`ok` seed are
    /// left out); for an imported one by the search signal and by the reported value
    /// (averaged over the recorded seeds for a `seed` pick).
    pub fn summary(&self, path: &str) -> TableSummary {
        let means: Vec<(String, f64, f64)> = self
            .scores()
            .into_iter()
            .map(|s| (s.arch, s.val_acc, s.test_acc))
            .collect();
        // Ties go to the smaller text (the scores come sorted by text).
        let best = |key: fn(&(String, f64, f64)) -> f64| {
            means
                .iter()
                .filter(|m| key(m).is_finite())
                .fold(None::<&(String, f64, f64)>, |best, m| match best {
                    Some(b) if key(b) >= key(m) => Some(b),
                    _ => Some(m),
                })
                .map(|m| Optimum {
                    arch: m.0.clone(),
                    val_acc: m.1,
                    test_acc: m.2,
                })
        };
        let (seeds, sha256, architectures, picks) = match &self.table {
            Table::Tabulated { manifest, .. } => (
                manifest.seeds,
                manifest.table_sha256.clone(),
                manifest.architectures,
                None,
            ),
            Table::Imported {
                manifest,
                signal,
                report,
                ..
            } => (
                0,
                manifest.table_sha256.clone(),
                manifest.architectures,
                Some((manifest, *signal, *report)),
            ),
        };
        TableSummary {
            path: path.to_string(),
            sha256,
            architectures,
            seeds,
            best_by_val: best(|m| m.1),
            best_by_test: best(|m| m.2),
            name: picks.map(|p| p.0.name.clone()),
            description: picks.map(|p| p.0.description.clone()),
            signal: picks.map(|p| p.1.describe(&p.0.fidelity_unit)),
            report: picks.map(|p| p.2.describe(&p.0.fidelity_unit)),
        }
    }
}

/// The value a pick reads on average over trial seeds: the mean, or the mean of the
/// recorded seeds.
fn expected(rec: &Record, pick: &Pick) -> Option<f64> {
    match pick.noise {
        Noise::Mean => rec.get(pick.fidelity, pick.metric, None),
        Noise::Seed => {
            let n = rec.seeds(pick.fidelity, pick.metric);
            (n > 0).then(|| {
                (0..n)
                    .filter_map(|k| rec.get(pick.fidelity, pick.metric, Some(k)))
                    .sum::<f64>()
                    / f64::from(n)
            })
        }
    }
}
