//! Tables of published benchmarks (format `nas-table` version 2): one row per
//! architecture, one column per recorded value, several fidelities and seeds, and a
//! declared search signal and reported value.
//!
//! `table.csv` has the columns `arch`, `params`, `macs`, then `<metric>@<fidelity>` for a
//! value over all recorded trainings (the published mean) and `<metric>@<fidelity>#<k>`
//! for the training with seed `k` (0-based), where `<metric>` is `val_acc`, `val_loss`,
//! `test_acc`, `test_loss` or `train_seconds` and `<fidelity>` a number of epochs. An
//! empty cell was not recorded. Accuracies are written as the source gave them, in the
//! unit the manifest declares (percent or fraction; nas reads them as fractions); every
//! number is written in the shortest form that reads back to the same double. Rows are
//! sorted by architecture text.
//!
//! `table.json` ([`WideManifest`]) says what the table is and where it comes from, its
//! space, input shape and classes, its fidelities, which value is the search signal and
//! which the reported test value ([`Pick`]: fidelity, metric and noise), and the SHA-256 of
//! `table.csv`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use nas_core::{Architecture, InputShape, SearchSpaceParams};
use serde::{Deserialize, Serialize};

use crate::error::BadInput;

/// Format version of these tables.
pub const WIDE_VERSION: u32 = 2;

/// A recorded metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Accuracy on the validation split, in [0, 1].
    ValAcc,
    /// Mean cross-entropy on the validation split.
    ValLoss,
    /// Accuracy on the test set, in [0, 1].
    TestAcc,
    /// Mean cross-entropy on the test set.
    TestLoss,
    /// Seconds of training (the simulated clock).
    TrainSeconds,
}

impl Metric {
    /// Every metric, in column order.
    pub const ALL: [Metric; 5] = [
        Metric::ValAcc,
        Metric::ValLoss,
        Metric::TestAcc,
        Metric::TestLoss,
        Metric::TrainSeconds,
    ];

    /// The name in column headers.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ValAcc => "val_acc",
            Metric::ValLoss => "val_loss",
            Metric::TestAcc => "test_acc",
            Metric::TestLoss => "test_loss",
            Metric::TrainSeconds => "train_seconds",
        }
    }

    /// True for an accuracy.
    pub fn is_accuracy(self) -> bool {
        matches!(self, Metric::ValAcc | Metric::TestAcc)
    }

    /// What it is, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Metric::ValAcc => "validation accuracy",
            Metric::ValLoss => "validation loss",
            Metric::TestAcc => "test accuracy",
            Metric::TestLoss => "test loss",
            Metric::TrainSeconds => "training seconds",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown metric `{s}` (allowed: val_acc, val_loss, test_acc, test_loss, train_seconds)"
                )
            })
    }
}

/// How accuracies are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccuracyUnit {
    /// In [0, 100].
    Percent,
    /// In [0, 1].
    Fraction,
}

impl AccuracyUnit {
    /// A recorded value as nas uses it: accuracies as fractions.
    pub fn to_nas(self, metric: Metric, v: f64) -> f64 {
        match self {
            AccuracyUnit::Percent if metric.is_accuracy() => v / 100.0,
            _ => v,
        }
    }
}

/// How a trial reads a recorded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Noise {
    /// The value over every recorded training (the published mean): no noise.
    Mean,
    /// The value of one recorded training, chosen by the trial seed
    /// (`derive_seed(trial_seed, "tabular-seed", 0) mod K`): the noise of real training.
    Seed,
}

/// Which recorded value a trial reads: a metric at a fidelity, with its noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pick {
    /// The fidelity (epochs of training).
    pub fidelity: u32,
    /// The metric.
    pub metric: Metric,
    /// Mean or one seed.
    pub noise: Noise,
}

impl Pick {
    /// E.g. "validation accuracy after 12 epochs (mean over recorded seeds)".
    pub fn describe(&self, unit: &str) -> String {
        format!(
            "{} after {} {unit} ({})",
            self.metric.describe(),
            self.fidelity,
            match self.noise {
                Noise::Mean => "mean over the recorded trainings",
                Noise::Seed => "one recorded training, chosen by the trial seed",
            }
        )
    }
}

/// One column of a wide table: a metric at a fidelity, for one seed or the mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Column {
    /// The fidelity.
    pub fidelity: u32,
    /// The metric.
    pub metric: Metric,
    /// The seed (None: the mean).
    pub seed: Option<u32>,
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.metric, self.fidelity)?;
        if let Some(k) = self.seed {
            write!(f, "#{k}")?;
        }
        Ok(())
    }
}

impl FromStr for Column {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "column `{s}` is not arch, params, macs, <metric>@<fidelity> or <metric>@<fidelity>#<seed> (e.g. val_acc@12, val_acc@200#0)"
            )
        };
        let (metric, rest) = s.split_once('@').ok_or_else(bad)?;
        let metric: Metric = metric.parse()?;
        let (fidelity, seed) = match rest.split_once('#') {
            Some((f, k)) => (f, Some(k.parse::<u32>().map_err(|_| bad())?)),
            None => (rest, None),
        };
        let fidelity: u32 = fidelity.parse().map_err(|_| bad())?;
        if fidelity == 0 {
            return Err(format!("column `{s}`: the fidelity must be at least 1"));
        }
        Ok(Column {
            fidelity,
            metric,
            seed,
        })
    }
}

/// What one architecture has recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Trainable parameters.
    pub params: Option<u64>,
    /// Forward multiply-accumulates per example.
    pub macs: Option<u64>,
    /// Every recorded value.
    pub values: BTreeMap<Column, f64>,
}

impl Record {
    /// The value of a column.
    pub fn get(&self, fidelity: u32, metric: Metric, seed: Option<u32>) -> Option<f64> {
        self.values
            .get(&Column {
                fidelity,
                metric,
                seed,
            })
            .copied()
    }

    /// Number of recorded seeds of a metric at a fidelity (seeds 0..n).
    pub fn seeds(&self, fidelity: u32, metric: Metric) -> u32 {
        let mut n = 0;
        while self.get(fidelity, metric, Some(n)).is_some() {
            n += 1;
        }
        n
    }

    /// The value a pick reads for a trial of `trial_seed`; None when not recorded.
    pub fn pick(&self, pick: &Pick, trial_seed: u64) -> Option<(f64, Option<u32>)> {
        match pick.noise {
            Noise::Mean => self
                .get(pick.fidelity, pick.metric, None)
                .map(|v| (v, None)),
            Noise::Seed => {
                let n = self.seeds(pick.fidelity, pick.metric);
                if n == 0 {
                    return None;
                }
                let k =
                    (nas_core::derive_seed(trial_seed, "tabular-seed", 0) % u64::from(n)) as u32;
                self.get(pick.fidelity, pick.metric, Some(k))
                    .map(|v| (v, Some(k)))
            }
        }
    }
}

/// `table.json` of a version-2 table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WideManifest {
    /// Always `nas-table`.
    pub format: String,
    /// Always 2.
    pub version: u32,
    /// nas version that made it.
    pub nas_version: String,
    /// Short name, e.g. `nas-bench-201-cifar10`.
    pub name: String,
    /// What the table holds.
    pub description: String,
    /// Provenance: papers, repositories, licences, how values were derived.
    pub source: String,
    /// The data the networks were trained on, e.g. `cifar10-valid`.
    pub dataset: String,
    /// Input shape of the networks.
    pub input: InputShape,
    /// Number of classes.
    pub classes: u32,
    /// The space the table covers.
    pub space: SearchSpaceParams,
    /// True when the table holds a declared subset of the space.
    pub subset: bool,
    /// Unit of the fidelities (`epochs`).
    pub fidelity_unit: String,
    /// How accuracies are written in `table.csv`.
    pub accuracy: AccuracyUnit,
    /// The recorded fidelities.
    pub fidelities: Vec<u32>,
    /// The search signal trials read by default.
    pub signal: Pick,
    /// The reported test value by default.
    pub report: Pick,
    /// The files the table was imported from, with their SHA-256.
    pub imported_from: Vec<(String, String)>,
    /// Architectures (rows).
    pub architectures: usize,
    /// The columns of `table.csv`.
    pub columns: Vec<String>,
    /// SHA-256 of `table.csv`.
    pub table_sha256: String,
}

/// Formats a value in its shortest round-trip form.
pub fn number(x: f64) -> String {
    format!("{x}")
}

/// Builds `table.csv` from records sorted by architecture text.
pub fn write_csv(records: &[(Architecture, Record)]) -> (Vec<String>, Vec<u8>) {
    let mut columns: Vec<Column> = records
        .iter()
        .flat_map(|(_, r)| r.values.keys().copied())
        .collect();
    columns.sort_by_key(|c| (c.fidelity, c.metric, c.seed.map_or(0, |k| k + 1)));
    columns.dedup();
    let has_params = records.iter().any(|(_, r)| r.params.is_some());
    let has_macs = records.iter().any(|(_, r)| r.macs.is_some());
    let mut header = vec!["arch".to_string()];
    if has_params {
        header.push("params".into());
    }
    if has_macs {
        header.push("macs".into());
    }
    header.extend(columns.iter().map(ToString::to_string));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).expect("writing to memory");
    for (arch, r) in records {
        let mut row = vec![arch.to_string()];
        if has_params {
            row.push(r.params.map(|p| p.to_string()).unwrap_or_default());
        }
        if has_macs {
            row.push(r.macs.map(|m| m.to_string()).unwrap_or_default());
        }
        row.extend(
            columns
                .iter()
                .map(|c| r.values.get(c).map(|&v| number(v)).unwrap_or_default()),
        );
        w.write_record(&row).expect("writing to memory");
    }
    (header, w.into_inner().expect("writing to memory"))
}

/// Reads a version-2 `table.csv` (already checksummed): every architecture of `space`
/// (parsed through it) with its record.
pub fn read_csv(
    path: &Path,
    bytes: &[u8],
    space: &nas_core::SearchSpace,
    unit: AccuracyUnit,
) -> Result<Vec<(Architecture, Record)>, BadInput> {
    let at = |row: usize, col: &str, msg: String| {
        BadInput::at(path, format!("row {row}, column `{col}`: {msg}"))
    };
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| BadInput::at(path, format!("cannot read the header: {e}")))?
        .clone();
    enum Kind {
        Arch,
        Params,
        Macs,
        Value(Column),
    }
    let kinds = headers
        .iter()
        .map(|h| match h {
            "arch" => Ok(Kind::Arch),
            "params" => Ok(Kind::Params),
            "macs" => Ok(Kind::Macs),
            other => other
                .parse::<Column>()
                .map(Kind::Value)
                .map_err(|e| BadInput::at(path, e)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let row = i + 2;
        let rec = rec.map_err(|e| BadInput::at(path, format!("row {row}: {e}")))?;
        let mut arch = None;
        let mut record = Record::default();
        for ((cell, kind), header) in rec.iter().zip(&kinds).zip(headers.iter()) {
            if cell.is_empty() {
                continue;
            }
            match kind {
                Kind::Arch => {
                    arch = Some(
                        space
                            .parse(cell)
                            .map_err(|e| at(row, header, e.to_string()))?,
                    );
                }
                Kind::Params | Kind::Macs => {
                    let n: u64 = cell
                        .parse()
                        .map_err(|_| at(row, header, format!("`{cell}` is not a count")))?;
                    if matches!(kind, Kind::Params) {
                        record.params = Some(n);
                    } else {
                        record.macs = Some(n);
                    }
                }
                Kind::Value(c) => {
                    let v: f64 = cell
                        .parse()
                        .map_err(|_| at(row, header, format!("`{cell}` is not a number")))?;
                    check_value(c.metric, v, unit).map_err(|m| at(row, header, m))?;
                    record.values.insert(*c, v);
                }
            }
        }
        let arch = arch.ok_or_else(|| at(row, "arch", "missing".into()))?;
        out.push((arch, record));
    }
    Ok(out)
}

/// Checks one value of a table: finite, accuracies in [0, 1] (or [0, 100] in percent),
/// losses and seconds >= 0.
pub fn check_value(metric: Metric, v: f64, unit: AccuracyUnit) -> Result<(), String> {
    if !v.is_finite() {
        return Err(format!("{v} is not a finite number"));
    }
    let (top, what) = match unit {
        AccuracyUnit::Percent => (100.0, "[0, 100] (accuracy = \"percent\")"),
        AccuracyUnit::Fraction => (1.0, "[0, 1] (accuracy = \"fraction\")"),
    };
    if metric.is_accuracy() && !(0.0..=top).contains(&v) {
        return Err(format!("accuracy {v} is outside {what}"));
    }
    if v < 0.0 {
        return Err(format!("{v} is negative (allowed: 0 or more)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip_and_bad_ones_say_why() {
        for text in [
            "val_acc@12",
            "val_acc@200#2",
            "train_seconds@1",
            "test_loss@50#0",
        ] {
            assert_eq!(text.parse::<Column>().unwrap().to_string(), text);
        }
        for (bad, needle) in [
            ("val_accuracy@12", "unknown metric"),
            ("val_acc", "is not arch"),
            ("val_acc@0", "at least 1"),
            ("val_acc@12#x", "is not arch"),
        ] {
            let err = bad.parse::<Column>().unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn values_are_checked() {
        let f = AccuracyUnit::Fraction;
        assert!(
            check_value(Metric::ValAcc, 1.5, f)
                .unwrap_err()
                .contains("outside [0, 1]")
        );
        assert!(check_value(Metric::ValAcc, 101.0, AccuracyUnit::Percent).is_err());
        assert!(check_value(Metric::ValAcc, 93.0, AccuracyUnit::Percent).is_ok());
        assert!(
            check_value(Metric::TrainSeconds, -1.0, f)
                .unwrap_err()
                .contains("negative")
        );
        assert!(
            check_value(Metric::ValLoss, f64::NAN, f)
                .unwrap_err()
                .contains("finite")
        );
        assert!(check_value(Metric::TestAcc, 0.93, f).is_ok());
    }

    #[test]
    fn picks_read_the_mean_or_one_seed_by_the_trial_seed() {
        let mut r = Record::default();
        for (k, v) in [0.5, 0.6, 0.7].into_iter().enumerate() {
            r.values.insert(
                Column {
                    fidelity: 200,
                    metric: Metric::ValAcc,
                    seed: Some(k as u32),
                },
                v,
            );
        }
        r.values.insert(
            Column {
                fidelity: 200,
                metric: Metric::ValAcc,
                seed: None,
            },
            0.6,
        );
        assert_eq!(r.seeds(200, Metric::ValAcc), 3);
        let mean = Pick {
            fidelity: 200,
            metric: Metric::ValAcc,
            noise: Noise::Mean,
        };
        assert_eq!(r.pick(&mean, 1), Some((0.6, None)));
        let seed = Pick {
            noise: Noise::Seed,
            ..mean
        };
        let picks: std::collections::BTreeSet<u32> = (0..50)
            .filter_map(|s| r.pick(&seed, s))
            .filter_map(|p| p.1)
            .collect();
        assert_eq!(picks.len(), 3, "every seed is reachable");
        assert_eq!(r.pick(&seed, 7), r.pick(&seed, 7));
        let missing = Pick {
            fidelity: 12,
            ..mean
        };
        assert_eq!(r.pick(&missing, 0), None);
    }
}
