//! The CSV tables: `trials.csv`, `runs.csv`, `summary.csv`, `tests.csv` (reproducible:
//! no timing) and `timings.csv` (wall-clock seconds, kept apart).

use std::path::Path;

use anyhow::{Context, Result};
use nas_core::Status;
use nas_stats::{self as stats, PairwiseTest};
use serde::Serialize;

use super::analysis::Analysis;
use super::{Output, Report};
use crate::config::Config;
use crate::outputs::write_atomic;
use crate::records::RunRecord;

pub(crate) fn num(x: f64) -> String {
    super::number(x)
}

pub(crate) fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_default()
}

pub(crate) fn fixed(x: f64) -> String {
    format!("{x:.6}")
}

pub(crate) fn opt_fixed(x: Option<f64>) -> String {
    x.map(fixed).unwrap_or_default()
}

/// Builds a CSV in memory, always with its header: without rows (a comparison of one
/// strategy has no pairwise tests), the header alone, taken from a default row.
pub(crate) fn csv_bytes<R: Serialize + Default>(rows: &[R]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    let mut bytes = w.into_inner().context("cannot build a CSV table")?;
    if rows.is_empty() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(R::default())?;
        let one = w.into_inner().context("cannot build a CSV table")?;
        let end = one
            .iter()
            .position(|&b| b == b'\n')
            .map_or(one.len(), |i| i + 1);
        bytes = one[..end].to_vec();
    }
    Ok(bytes)
}

#[derive(Serialize, Default)]
pub(crate) struct TrialRow {
    strategy: String,
    repetition: u32,
    trial: u32,
    seed: u64,
    arch_id: String,
    arch: String,
    status: String,
    reason: String,
    cached: bool,
    val_acc: String,
    val_loss: String,
    params: String,
    macs: String,
    epochs: String,
    evaluations_used: u32,
    epochs_used: String,
    best_val_acc: String,
}

pub(crate) fn trial_rows(runs: &[RunRecord]) -> Vec<TrialRow> {
    let mut rows = Vec::new();
    for run in runs {
        let mut epochs_used = 0.0;
        let best = run.history().best_so_far();
        for (t, best) in run.trials.iter().zip(best) {
            let m = t.metrics.as_ref();
            // Cached trials cost nothing, continued ones their new epochs.
            epochs_used += t.cost().0;
            rows.push(TrialRow {
                strategy: t.strategy.clone(),
                repetition: t.repetition,
                trial: t.index,
                seed: t.seed,
                arch_id: t.arch.id().to_string(),
                arch: t.arch.to_string(),
                status: t.status.to_string(),
                reason: t.reason.clone().unwrap_or_default(),
                cached: t.cached,
                val_acc: opt(m.and_then(|m| m.val_acc)),
                val_loss: opt(m.and_then(|m| m.val_loss)),
                params: m.map(|m| m.params.to_string()).unwrap_or_default(),
                macs: m.map(|m| m.macs.to_string()).unwrap_or_default(),
                epochs: m.map(|m| num(m.epochs)).unwrap_or_default(),
                evaluations_used: t.index + 1,
                epochs_used: num(epochs_used),
                best_val_acc: opt(best),
            });
        }
    }
    rows
}

/// One row of `fidelities.csv`: the fidelity and simulated schedule of a trial of a run
/// with a multi-fidelity strategy or simulated workers (the columns trials.csv does not
/// have). Reproducible: the seconds are a table's recorded ones, written only for runs
/// on simulated workers, which only tabular runs have.
#[derive(Serialize, Default)]
pub(crate) struct FidelityRow {
    strategy: String,
    repetition: u32,
    trial: u32,
    /// Epochs asked for (empty: the run's budget).
    fidelity_epochs: String,
    /// The trial whose training it continued.
    continues: String,
    /// Epochs that training had already done (0 when the evaluator trained the continued
    /// trial from scratch).
    prior_epochs: String,
    /// Epochs this trial cost.
    cost_epochs: String,
    /// Training seconds it cost on the simulated clock.
    cost_seconds: String,
    /// The simulated worker, and when the trial started and ended on the simulated clock.
    worker: String,
    start: String,
    end: String,
}

/// The rows of `fidelities.csv`; None when no trial has a fidelity or a schedule (the
/// file is not written: single-fidelity runs keep exactly their old outputs).
pub(crate) fn fidelity_rows(runs: &[RunRecord]) -> Option<Vec<FidelityRow>> {
    let any = runs
        .iter()
        .flat_map(|r| &r.trials)
        .any(|t| t.fidelity.is_some() || t.schedule.is_some());
    if !any {
        return None;
    }
    let mut rows = Vec::new();
    for t in runs.iter().flat_map(|r| &r.trials) {
        let f = t.fidelity.as_ref();
        let (cost_epochs, cost_seconds) = t.cost();
        rows.push(FidelityRow {
            strategy: t.strategy.clone(),
            repetition: t.repetition,
            trial: t.index,
            fidelity_epochs: f.map(|f| f.epochs.to_string()).unwrap_or_default(),
            continues: f
                .and_then(|f| f.continues)
                .map(|j| j.to_string())
                .unwrap_or_default(),
            prior_epochs: f
                .filter(|f| f.continues.is_some())
                .map(|f| f.prior_epochs.to_string())
                .unwrap_or_default(),
            cost_epochs: num(cost_epochs),
            cost_seconds: t.schedule.map(|_| num(cost_seconds)).unwrap_or_default(),
            worker: t.schedule.map(|s| s.worker.to_string()).unwrap_or_default(),
            start: t.schedule.map(|s| num(s.start)).unwrap_or_default(),
            end: t.schedule.map(|s| num(s.end)).unwrap_or_default(),
        });
    }
    Some(rows)
}

#[derive(Serialize, Default)]
pub(crate) struct RunRow {
    strategy: String,
    repetition: u32,
    run_seed: u64,
    trials: usize,
    ok: usize,
    diverged: usize,
    failed: usize,
    cached: usize,
    distinct_archs: usize,
    best_val_acc: String,
    best_trial: String,
    best_arch_id: String,
    best_arch: String,
    test_status: String,
    test_acc: String,
    test_loss: String,
    epochs_used: String,
    ended: bool,
}

pub(crate) fn run_rows(config: &Config, runs: &[RunRecord]) -> Vec<RunRow> {
    runs.iter()
        .map(|run| {
            let history = run.history();
            let best = history.best();
            let count = |s: Status| run.trials.iter().filter(|t| t.status == s).count();
            let fin = run.final_eval.as_ref();
            let fin_metrics = fin.and_then(|f| f.metrics.as_ref());
            RunRow {
                strategy: run.unit.strategy.clone(),
                repetition: run.unit.repetition,
                run_seed: run.unit.seeds(config.experiment.seed).run,
                trials: run.trials.len(),
                ok: count(Status::Ok),
                diverged: count(Status::Diverged),
                failed: count(Status::Failed),
                cached: run.trials.iter().filter(|t| t.cached).count(),
                distinct_archs: history.distinct(),
                best_val_acc: opt(history.best_fitness()),
                best_trial: best.map(|b| b.index.to_string()).unwrap_or_default(),
                best_arch_id: best.map(|b| b.arch.id().to_string()).unwrap_or_default(),
                best_arch: best.map(|b| b.arch.to_string()).unwrap_or_default(),
                test_status: fin.map(|f| f.status.to_string()).unwrap_or_default(),
                test_acc: opt(fin_metrics.and_then(|m| m.test_acc)),
                test_loss: opt(fin_metrics.and_then(|m| m.test_loss)),
                epochs_used: num(run.trials.iter().map(|t| t.cost().0).sum()),
                ended: run.ended,
            }
        })
        .collect()
}

#[derive(Serialize, Default)]
pub(crate) struct TimingRow {
    strategy: String,
    repetition: u32,
    trial: String,
    cached: bool,
    train_seconds: String,
}

pub(crate) fn timing_rows(runs: &[RunRecord]) -> Vec<TimingRow> {
    let mut rows = Vec::new();
    for run in runs {
        for t in &run.trials {
            rows.push(TimingRow {
                strategy: t.strategy.clone(),
                repetition: t.repetition,
                trial: t.index.to_string(),
                cached: t.cached,
                train_seconds: opt(t.metrics.as_ref().map(|m| m.train_seconds)),
            });
        }
        if let Some(f) = &run.final_eval {
            rows.push(TimingRow {
                strategy: f.strategy.clone(),
                repetition: f.repetition,
                trial: "final".into(),
                cached: false,
                train_seconds: opt(f.metrics.as_ref().map(|m| m.train_seconds)),
            });
        }
    }
    rows
}

#[derive(Serialize, Default)]
pub(crate) struct SummaryRow {
    strategy: String,
    runs: usize,
    val_n: usize,
    val_mean: String,
    val_std: String,
    val_median: String,
    val_q1: String,
    val_q3: String,
    val_iqr: String,
    val_ci95_low: String,
    val_ci95_high: String,
    val_boot95_low: String,
    val_boot95_high: String,
    val_mean_rank: String,
    test_n: usize,
    test_mean: String,
    test_std: String,
    test_median: String,
    test_q1: String,
    test_q3: String,
    test_iqr: String,
    test_ci95_low: String,
    test_ci95_high: String,
    test_boot95_low: String,
    test_boot95_high: String,
    test_mean_rank: String,
}

pub(crate) fn summary_rows(a: &Analysis) -> Vec<SummaryRow> {
    let rank =
        |f: &Option<stats::Friedman>, i: usize| f.as_ref().map(|f| fixed(f.average_ranks[i]));
    a.groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let (v, t) = (&a.val[i], &a.test[i]);
            SummaryRow {
                strategy: g.name.clone(),
                runs: g.runs.len(),
                val_n: v.n,
                val_mean: opt_fixed(v.mean),
                val_std: opt_fixed(v.std),
                val_median: opt_fixed(v.median),
                val_q1: opt_fixed(v.q1),
                val_q3: opt_fixed(v.q3),
                val_iqr: opt_fixed(v.q3.zip(v.q1).map(|(a, b)| a - b)),
                val_ci95_low: opt_fixed(v.ci.map(|c| c.0)),
                val_ci95_high: opt_fixed(v.ci.map(|c| c.1)),
                val_boot95_low: opt_fixed(v.boot.map(|c| c.0)),
                val_boot95_high: opt_fixed(v.boot.map(|c| c.1)),
                val_mean_rank: rank(&a.friedman_val, i).unwrap_or_default(),
                test_n: t.n,
                test_mean: opt_fixed(t.mean),
                test_std: opt_fixed(t.std),
                test_median: opt_fixed(t.median),
                test_q1: opt_fixed(t.q1),
                test_q3: opt_fixed(t.q3),
                test_iqr: opt_fixed(t.q3.zip(t.q1).map(|(a, b)| a - b)),
                test_ci95_low: opt_fixed(t.ci.map(|c| c.0)),
                test_ci95_high: opt_fixed(t.ci.map(|c| c.1)),
                test_boot95_low: opt_fixed(t.boot.map(|c| c.0)),
                test_boot95_high: opt_fixed(t.boot.map(|c| c.1)),
                test_mean_rank: rank(&a.friedman_test, i).unwrap_or_default(),
            }
        })
        .collect()
}

#[derive(Serialize, Default)]
pub(crate) struct TestRow {
    metric: String,
    a: String,
    b: String,
    n_a: usize,
    n_b: usize,
    median_a: String,
    median_b: String,
    mwu_u: String,
    mwu_p: String,
    mwu_p_holm: String,
    mwu_method: String,
    a12: String,
    wilcoxon_p: String,
    wilcoxon_p_holm: String,
    welch_t: String,
    welch_df: String,
    welch_p: String,
}

pub(crate) fn test_rows(tests: &[PairwiseTest]) -> Vec<TestRow> {
    tests
        .iter()
        .map(|t| TestRow {
            metric: t.metric.clone(),
            a: t.a.clone(),
            b: t.b.clone(),
            n_a: t.n_a,
            n_b: t.n_b,
            median_a: fixed(t.median_a),
            median_b: fixed(t.median_b),
            mwu_u: num(t.mwu_u),
            mwu_p: fixed(t.mwu_p),
            mwu_p_holm: fixed(t.mwu_p_holm),
            mwu_method: serde_json::to_value(t.mwu_method)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            a12: fixed(t.a12),
            wilcoxon_p: opt_fixed(t.wilcoxon_p),
            wilcoxon_p_holm: opt_fixed(t.wilcoxon_p_holm),
            welch_t: opt_fixed(t.welch_t),
            welch_df: opt_fixed(t.welch_df),
            welch_p: opt_fixed(t.welch_p),
        })
        .collect()
}

/// The per-trial fidelities and simulated schedule, for runs that have them.
pub const FIDELITIES_CSV: &str = "fidelities.csv";

/// The five CSV tables (six with `fidelities.csv`).
pub(crate) struct CsvTables;

impl Output for CsvTables {
    fn write(&self, out: &Path, r: &Report<'_>) -> Result<()> {
        write_atomic(&out.join("trials.csv"), &csv_bytes(&trial_rows(r.runs))?)?;
        if let Some(rows) = fidelity_rows(r.runs) {
            write_atomic(&out.join(FIDELITIES_CSV), &csv_bytes(&rows)?)?;
        }
        write_atomic(
            &out.join("runs.csv"),
            &csv_bytes(&run_rows(r.config, r.runs))?,
        )?;
        write_atomic(
            &out.join("summary.csv"),
            &csv_bytes(&summary_rows(r.analysis))?,
        )?;
        write_atomic(
            &out.join("tests.csv"),
            &csv_bytes(&test_rows(&r.analysis.tests))?,
        )?;
        write_atomic(&out.join("timings.csv"), &csv_bytes(&timing_rows(r.runs))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_still_has_its_header() {
        let bytes = csv_bytes::<TestRow>(&[]).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("metric,a,b,n_a,n_b,"), "{text}");
        assert_eq!(text.lines().count(), 1);
        assert!(text.ends_with('\n'));
        let trials = String::from_utf8(csv_bytes::<TrialRow>(&[]).unwrap()).unwrap();
        assert!(trials.starts_with("strategy,repetition,trial,seed,arch_id,arch,status,reason,"));
    }
}
