//! Answering trials from a table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nas_core::{
    ArchId, EvalError, EvalRequest, Evaluation, Evaluator, Metrics, Status, derive_seed,
};

use super::table::{TableManifest, TableRow, read_table};
use crate::error::BadInput;

/// An evaluator that looks trials up in a table made by `nas tabulate`.
///
/// For a trial seed it picks one of the K recorded training seeds,
/// `derive_seed(trial_seed, "tabular-seed", 0) mod K`, so repeated runs see the noise of
/// real training; the same trial seed always gets the same recorded result. The test
/// scores are returned only for test requests. Architectures missing from the table are
/// refused with an error (the trial fails).
#[derive(Debug)]
pub struct TabularEvaluator {
    dir: PathBuf,
    manifest: TableManifest,
    rows: HashMap<ArchId, Vec<TableRow>>,
}

impl TabularEvaluator {
    /// Loads a table directory.
    pub fn open(dir: &Path) -> Result<Self, BadInput> {
        let (manifest, rows) = read_table(dir)?;
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
        Ok(TabularEvaluator {
            dir: dir.to_path_buf(),
            manifest,
            rows: by_arch,
        })
    }

    /// What the table holds.
    pub fn manifest(&self) -> &TableManifest {
        &self.manifest
    }

    /// Every row of an architecture (one per recorded seed).
    pub fn rows(&self, id: ArchId) -> Option<&[TableRow]> {
        self.rows.get(&id).map(Vec::as_slice)
    }

    /// Every architecture's rows.
    pub fn all(&self) -> impl Iterator<Item = &[TableRow]> {
        self.rows.values().map(Vec::as_slice)
    }
}

impl Evaluator for TabularEvaluator {
    fn evaluate(&self, request: &EvalRequest<'_>) -> Result<Evaluation, EvalError> {
        let rows = self.rows.get(&request.arch.id()).ok_or_else(|| {
            format!(
                "`{}` is not in the table {} ({} architectures of its space)",
                request.arch,
                self.dir.display(),
                self.manifest.architectures
            )
        })?;
        if request.budget != &self.manifest.budget {
            return Err(format!(
                "the table {} was recorded with budget {:?}, not {:?}",
                self.dir.display(),
                self.manifest.budget,
                request.budget
            )
            .into());
        }
        let k = derive_seed(request.seed, "tabular-seed", 0) % rows.len() as u64;
        let row = &rows[k as usize];
        let metrics = Metrics {
            val_acc: row.val_acc,
            val_loss: row.val_loss,
            test_acc: row.test_acc.filter(|_| request.test),
            test_loss: row.test_loss.filter(|_| request.test),
            params: row.params.unwrap_or_default(),
            macs: row.macs.unwrap_or_default(),
            epochs: row.epochs.unwrap_or_default(),
            train_seconds: row.train_seconds.unwrap_or_default(),
        };
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
}

impl TabularEvaluator {
    /// The table's size and its optima (by mean validation and by mean test accuracy over
    /// the recorded seeds; architectures with a non-`ok` seed are left out).
    pub fn summary(&self, path: &str) -> crate::manifest::TableSummary {
        let mut means: Vec<(String, f64, f64)> = self
            .rows
            .values()
            .filter(|rows| rows.iter().all(|r| r.status == Status::Ok))
            .filter_map(|rows| {
                let n = rows.len() as f64;
                let val: f64 = rows.iter().map(|r| r.val_acc).sum::<Option<f64>>()? / n;
                let test: f64 = rows.iter().map(|r| r.test_acc).sum::<Option<f64>>()? / n;
                Some((rows[0].arch.clone(), val, test))
            })
            .collect();
        // Deterministic whatever the map order: ties go to the smaller text.
        means.sort_by(|a, b| a.0.cmp(&b.0));
        let best = |key: fn(&(String, f64, f64)) -> f64| {
            means
                .iter()
                .filter(|m| key(m).is_finite())
                .fold(None::<&(String, f64, f64)>, |best, m| match best {
                    Some(b) if key(b) >= key(m) => Some(b),
                    _ => Some(m),
                })
                .map(|m| crate::manifest::Optimum {
                    arch: m.0.clone(),
                    val_acc: m.1,
                    test_acc: m.2,
                })
        };
        crate::manifest::TableSummary {
            path: path.to_string(),
            sha256: self.manifest.table_sha256.clone(),
            architectures: self.manifest.architectures,
            seeds: self.manifest.seeds,
            best_by_val: best(|m| m.1),
            best_by_test: best(|m| m.2),
        }
    }
}
