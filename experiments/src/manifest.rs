//! `manifest.json`: what produced an output directory (versions, machine, data, config).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Provenance of an experiment's outputs. Times and machine facts vary between runs; the
/// tables that must be reproducible never include them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of nas.
    pub nas_version: String,
    /// Git revision nas was built from (`-dirty` with uncommitted changes).
    pub git_revision: String,
    /// The compiler that built nas.
    pub rustc: String,
    /// CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Operating system.
    pub os: String,
    /// Data set name.
    pub dataset: String,
    /// "official MNIST", "custom data", ...
    pub data_identity: String,
    /// SHA-256 of each data file.
    pub data_files: Vec<(String, String)>,
    /// [`crate::config::Config::result_hash`].
    pub config_hash: String,
    /// Workers used.
    pub workers: usize,
    /// Threads per trial.
    pub threads: usize,
    /// When the (first) run started, UTC.
    pub started: String,
    /// When the outputs were last written, UTC.
    pub finished: Option<String>,
    /// True when some runs had not ended when the outputs were written.
    pub partial: bool,
    /// The table a tabular run looked trials up in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableSummary>,
    /// The memory limit of one trial in the last session of a run that trains (see
    /// `nas_eval::memory`): configured, or this machine's budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<MemoryRecord>,
    /// For a run whose trials the native engine trained: the engine's numeric contract
    /// ([`nas_eval::NUMERIC_CONTRACT`]). Builds with the same contract give the same bits
    /// on every x86-64 CPU; absent in manifests written before it was recorded (contract
    /// 1, whose last bits depended on the machine's caches) and for other evaluators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_contract: Option<u32>,
}

/// The memory limit a run's trials were held to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    /// Bytes one trial may need.
    pub bytes: u64,
    /// True when set by `training.max_memory` (the same on every machine); false when it
    /// was this machine's budget.
    pub configured: bool,
    /// Where it comes from.
    pub source: String,
}

impl Manifest {
    /// Checks the numbers a manifest holds: the optima's accuracies are finite fractions.
    ///
    /// # Errors
    /// The field and its value.
    pub fn check(&self) -> Result<(), String> {
        if let Some(t) = &self.table {
            for (what, o) in [
                ("best_by_val", &t.best_by_val),
                ("best_by_test", &t.best_by_test),
            ] {
                if let Some(o) = o {
                    for (field, v) in [("val_acc", o.val_acc), ("test_acc", o.test_acc)] {
                        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                            return Err(format!(
                                "table.{what}.{field} = {v} (allowed: a fraction in [0, 1])"
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// What a tabular run's table holds (recorded in the run's manifest, so reports do not
/// need the table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSummary {
    /// The table directory as configured.
    pub path: String,
    /// SHA-256 of its `table.csv`.
    pub sha256: String,
    /// Architectures in it.
    pub architectures: usize,
    /// Training seeds per architecture.
    pub seeds: u32,
    /// The architecture with the best mean validation accuracy over its seeds (imported
    /// tables: the best expected search signal).
    pub best_by_val: Option<Optimum>,
    /// The architecture with the best mean test accuracy over its seeds.
    pub best_by_test: Option<Optimum>,
    /// An imported table's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An imported table's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An imported table's search signal, described.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// An imported table's reported test value, described.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// One architecture's mean scores over its recorded seeds (imported tables: its expected
/// search signal as `val_acc` and its expected reported value as `test_acc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optimum {
    /// Canonical text.
    pub arch: String,
    /// Mean validation accuracy.
    pub val_acc: f64,
    /// Mean test accuracy.
    pub test_acc: f64,
}

/// The CPU model from /proc/cpuinfo (or "unknown").
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Logical cores available.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Formats seconds since the epoch as an RFC 3339 UTC timestamp.
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Build facts: (version, git revision, rustc).
pub fn build_info() -> (String, String, String) {
    (
        env!("CARGO_PKG_VERSION").to_string(),
        env!("NAS_GIT_REVISION").to_string(),
        env!("NAS_RUSTC_VERSION").to_string(),
    )
}

/// Where a result's numbers come from, as far as mixing two results is concerned: the
/// engine's numeric contract (trained trials) and the table (tabular trials).
#[derive(Debug, Clone, Copy)]
pub struct NumbersSource<'a> {
    /// The engine's numeric contract (None: unrecorded, or nothing trained).
    pub numeric_contract: Option<u32>,
    /// The table that answered the trials.
    pub table: Option<&'a TableSummary>,
}

impl Manifest {
    /// Where this run's numbers come from.
    pub fn source(&self) -> NumbersSource<'_> {
        NumbersSource {
            numeric_contract: self.numeric_contract,
            table: self.table.as_ref(),
        }
    }
}

/// Why two sets of numbers cannot stand in one result (resume, merge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumbersDiffer {
    /// Trained under two numeric contracts (this, that).
    Contract(Option<u32>, Option<u32>),
    /// Answered by two tables: the SHA-256 of each `table.csv` (this, that).
    Table(String, String),
}

/// The first reason `this` and `that` cannot be mixed, if any. A trained run compares
/// contracts (a manifest from before nas recorded it counts as contract 1); two tabular
/// runs compare their tables' checksums.
pub fn numbers_differ(this: NumbersSource<'_>, that: NumbersSource<'_>) -> Option<NumbersDiffer> {
    if this.numeric_contract != that.numeric_contract {
        return Some(NumbersDiffer::Contract(
            this.numeric_contract,
            that.numeric_contract,
        ));
    }
    match (this.table, that.table) {
        (Some(a), Some(b)) if a.sha256 != b.sha256 => {
            Some(NumbersDiffer::Table(a.sha256.clone(), b.sha256.clone()))
        }
        _ => None,
    }
}

/// A numeric contract for messages ("unrecorded (1)" before nas recorded it).
pub fn contract_name(contract: Option<u32>) -> String {
    contract.map_or_else(|| "unrecorded (1)".into(), |c| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_differ_by_contract_first_then_by_table() {
        let table = |sha: &str| TableSummary {
            path: "t".into(),
            sha256: sha.into(),
            architectures: 1,
            seeds: 1,
            best_by_val: None,
            best_by_test: None,
            name: None,
            description: None,
            signal: None,
            report: None,
        };
        let (a, b) = (table("aa"), table("bb"));
        let src = |c, t| NumbersSource {
            numeric_contract: c,
            table: t,
        };
        assert_eq!(numbers_differ(src(Some(2), None), src(Some(2), None)), None);
        assert_eq!(
            numbers_differ(src(None, None), src(Some(2), None)),
            Some(NumbersDiffer::Contract(None, Some(2)))
        );
        assert_eq!(
            numbers_differ(src(None, Some(&a)), src(None, Some(&a))),
            None
        );
        assert_eq!(
            numbers_differ(src(None, Some(&a)), src(None, Some(&b))),
            Some(NumbersDiffer::Table("aa".into(), "bb".into()))
        );
        assert_eq!(contract_name(None), "unrecorded (1)");
    }

    #[test]
    fn a_manifest_with_a_non_finite_optimum_is_refused() {
        let optimum = |v: f64| Optimum {
            arch: "a".into(),
            val_acc: v,
            test_acc: 0.5,
        };
        let table = |v: f64| TableSummary {
            path: "t".into(),
            sha256: String::new(),
            architectures: 1,
            seeds: 1,
            best_by_val: Some(optimum(v)),
            best_by_test: None,
            name: None,
            description: None,
            signal: None,
            report: None,
        };
        let m = |v: f64| Manifest {
            nas_version: String::new(),
            git_revision: String::new(),
            rustc: String::new(),
            cpu: String::new(),
            cores: 1,
            os: String::new(),
            dataset: String::new(),
            data_identity: String::new(),
            data_files: Vec::new(),
            config_hash: String::new(),
            workers: 1,
            threads: 1,
            started: String::new(),
            finished: None,
            partial: false,
            table: Some(table(v)),
            memory_limit: None,
            numeric_contract: None,
        };
        assert!(m(0.9).check().is_ok());
        let err = m(f64::NAN).check().unwrap_err();
        assert!(err.contains("best_by_val.val_acc = NaN"), "{err}");
        assert!(m(1.5).check().is_err());
    }

    #[test]
    fn formats_utc() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_795_975_200), "2026-11-29T18:00:00Z");
    }
}
