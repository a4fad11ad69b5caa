//! Everything derived from the journal: the CSV tables, `report.md`, `tables.tex` and
//! the plots. Tables that must be reproducible (`trials.csv`, `runs.csv`, `summary.csv`,
//! `tests.csv`) hold no timing; wall-clock seconds go to `timings.csv`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use nas_core::{Status, derive_seed};
use serde::Serialize;

use crate::config::Config;
use crate::manifest::Manifest;
use crate::outputs::{replace_files, write_atomic};
use crate::plots::{self, Curve, Sample};
use crate::records::RunRecord;
use crate::stats::{self, PairwiseTest, RankOrder};

/// File name of the Markdown report.
pub const REPORT: &str = "report.md";
/// The tables whose bytes depend only on the config (never on workers, timing or resume).
pub const REPRODUCIBLE: [&str; 4] = ["trials.csv", "runs.csv", "summary.csv", "tests.csv"];
/// Significance level of the tests in the report.
const ALPHA: f64 = 0.05;
/// Bootstrap resamples for the summary's bootstrap intervals.
const RESAMPLES: usize = 10_000;

fn num(x: f64) -> String {
    format!("{x}")
}

fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_default()
}

fn fixed(x: f64) -> String {
    format!("{x:.6}")
}

fn opt_fixed(x: Option<f64>) -> String {
    x.map(fixed).unwrap_or_default()
}

fn p_value(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.2e}")
    } else {
        format!("{p:.4}")
    }
}

/// One strategy's values over its runs.
#[derive(Debug, Clone)]
struct Group {
    name: String,
    /// Final best validation accuracy, by repetition (None when no trial ranked).
    val: Vec<Option<f64>>,
    /// Test accuracy of the selected architecture, by repetition.
    test: Vec<Option<f64>>,
    runs: Vec<RunRecord>,
}

fn groups(config: &Config, runs: &[RunRecord]) -> Vec<Group> {
    config
        .strategy_names()
        .into_iter()
        .map(|name| {
            let runs: Vec<RunRecord> = runs
                .iter()
                .filter(|r| r.unit.strategy == name)
                .cloned()
                .collect();
            Group {
                val: runs.iter().map(|r| r.history().best_fitness()).collect(),
                test: runs.iter().map(RunRecord::test_acc).collect(),
                name,
                runs,
            }
        })
        .collect()
}

fn present(values: &[Option<f64>]) -> Vec<f64> {
    values.iter().flatten().copied().collect()
}

/// Builds a CSV in memory.
fn csv_bytes<R: Serialize>(rows: &[R]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    w.into_inner().context("cannot build a CSV table")
}

#[derive(Serialize)]
struct TrialRow {
    strategy: String,
    repetition: u32,
    trial: u32,
    seed: u64,
    arch_id: String,
    arch: String,
    status: Status,
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

fn trial_rows(runs: &[RunRecord]) -> Vec<TrialRow> {
    let mut rows = Vec::new();
    for run in runs {
        let mut epochs_used = 0.0;
        let best = run.history().best_so_far();
        for (t, best) in run.trials.iter().zip(best) {
            let m = t.metrics.as_ref();
            if !t.cached {
                epochs_used += m.map_or(0.0, |m| m.epochs);
            }
            rows.push(TrialRow {
                strategy: t.strategy.clone(),
                repetition: t.repetition,
                trial: t.index,
                seed: t.seed,
                arch_id: t.arch.id().to_string(),
                arch: t.arch.to_string(),
                status: t.status,
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

#[derive(Serialize)]
struct RunRow {
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

fn run_rows(config: &Config, runs: &[RunRecord]) -> Vec<RunRow> {
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
                epochs_used: num(run
                    .trials
                    .iter()
                    .filter(|t| !t.cached)
                    .filter_map(|t| t.metrics.as_ref())
                    .map(|m| m.epochs)
                    .sum()),
                ended: run.ended,
            }
        })
        .collect()
}

#[derive(Serialize)]
struct TimingRow {
    strategy: String,
    repetition: u32,
    trial: String,
    cached: bool,
    train_seconds: String,
}

fn timing_rows(runs: &[RunRecord]) -> Vec<TimingRow> {
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

/// Descriptive statistics of one metric of one strategy.
#[derive(Debug, Clone, Default)]
struct Stats {
    n: usize,
    mean: Option<f64>,
    std: Option<f64>,
    median: Option<f64>,
    q1: Option<f64>,
    q3: Option<f64>,
    ci: Option<(f64, f64)>,
    boot: Option<(f64, f64)>,
}

fn describe(values: &[f64], boot_seed: u64) -> Stats {
    let Ok(s) = stats::summarize(values) else {
        return Stats::default();
    };
    Stats {
        n: s.n,
        mean: Some(s.mean),
        std: s.std,
        median: Some(s.median),
        q1: Some(s.q1),
        q3: Some(s.q3),
        ci: stats::t_ci(values, 0.95).ok().map(|c| (c.lower, c.upper)),
        boot: stats::bootstrap_ci(values, 0.95, RESAMPLES, boot_seed)
            .ok()
            .map(|c| (c.lower, c.upper)),
    }
}

#[derive(Serialize)]
struct SummaryRow {
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

/// Ranks of every strategy over the repetitions where all of them have a value.
fn mean_ranks(
    groups: &[Group],
    pick: impl Fn(&Group) -> &Vec<Option<f64>>,
) -> Option<stats::Friedman> {
    if groups.len() < 2 {
        return None;
    }
    let reps = groups.iter().map(|g| pick(g).len()).min()?;
    let complete: Vec<usize> = (0..reps)
        .filter(|&r| groups.iter().all(|g| pick(g)[r].is_some()))
        .collect();
    let table: Vec<Vec<f64>> = groups
        .iter()
        .map(|g| {
            complete
                .iter()
                .map(|&r| pick(g)[r].expect("complete"))
                .collect()
        })
        .collect();
    stats::friedman(&table, RankOrder::Descending).ok()
}

struct Analysis {
    groups: Vec<Group>,
    val: Vec<Stats>,
    test: Vec<Stats>,
    friedman_val: Option<stats::Friedman>,
    friedman_test: Option<stats::Friedman>,
    tests: Vec<PairwiseTest>,
}

fn analyse(config: &Config, runs: &[RunRecord]) -> Result<Analysis> {
    let groups = groups(config, runs);
    let seed = config.experiment.seed;
    let val: Vec<Stats> = groups
        .iter()
        .map(|g| {
            describe(
                &present(&g.val),
                derive_seed(seed, &format!("bootstrap/val/{}", g.name), 0),
            )
        })
        .collect();
    let test: Vec<Stats> = groups
        .iter()
        .map(|g| {
            describe(
                &present(&g.test),
                derive_seed(seed, &format!("bootstrap/test/{}", g.name), 0),
            )
        })
        .collect();
    let mut tests = Vec::new();
    for (metric, pick) in [
        (
            "test_acc",
            (|g: &Group| &g.test) as fn(&Group) -> &Vec<Option<f64>>,
        ),
        ("best_val_acc", |g: &Group| &g.val),
    ] {
        let data: Vec<(String, Vec<f64>)> = groups
            .iter()
            .map(|g| (g.name.clone(), present(pick(g))))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        // Pair runs by repetition only when every run of every strategy has a value.
        let paired = groups.iter().all(|g| pick(g).iter().all(Option::is_some));
        if data.len() >= 2 {
            tests.extend(stats::pairwise_tests(metric, &data, paired)?);
        }
    }
    Ok(Analysis {
        friedman_val: mean_ranks(&groups, |g| &g.val),
        friedman_test: mean_ranks(&groups, |g| &g.test),
        groups,
        val,
        test,
        tests,
    })
}

fn summary_rows(a: &Analysis) -> Vec<SummaryRow> {
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

#[derive(Serialize)]
struct TestRow {
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

fn test_rows(tests: &[PairwiseTest]) -> Vec<TestRow> {
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

/// Mean best-so-far validation accuracy per evaluation, with a 95% t band.
fn anytime_curves(a: &Analysis, evaluations: u32) -> Vec<Curve> {
    a.groups
        .iter()
        .map(|g| {
            let curves: Vec<Vec<Option<f64>>> =
                g.runs.iter().map(|r| r.history().best_so_far()).collect();
            let points = (0..evaluations as usize)
                .filter_map(|k| {
                    let values: Vec<f64> = curves
                        .iter()
                        .filter_map(|c| c.get(k).copied().flatten())
                        .collect();
                    let s = stats::summarize(&values).ok()?;
                    let (lo, hi) = stats::t_ci(&values, 0.95)
                        .map(|c| (c.lower, c.upper))
                        .unwrap_or((s.mean, s.mean));
                    Some(((k + 1) as f64, s.mean, lo, hi))
                })
                .collect();
            Curve {
                name: g.name.clone(),
                points,
            }
        })
        .collect()
}

/// Mean best-so-far validation accuracy against the recorded (simulated) training
/// seconds, on a grid of 200 points: each run's best at time t is its best among the
/// trials finished by t (cached repeats cost nothing).
fn time_curves(a: &Analysis) -> Vec<Curve> {
    // Per strategy, per run: (clock after the trial, best so far).
    type Clocked = Vec<(f64, Option<f64>)>;
    let runs: Vec<Vec<Clocked>> = a
        .groups
        .iter()
        .map(|g| {
            g.runs
                .iter()
                .map(|r| {
                    let mut clock = 0.0;
                    r.trials
                        .iter()
                        .zip(r.history().best_so_far())
                        .map(|(t, best)| {
                            if !t.cached {
                                clock += t.metrics.as_ref().map_or(0.0, |m| m.train_seconds);
                            }
                            (clock, best)
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let end = runs
        .iter()
        .flatten()
        .filter_map(|r| r.last().map(|p| p.0))
        .fold(0.0, f64::max);
    if end <= 0.0 {
        return Vec::new();
    }
    a.groups
        .iter()
        .zip(&runs)
        .map(|(g, runs)| {
            let points = (1..=200)
                .filter_map(|i| {
                    let t = end * f64::from(i) / 200.0;
                    let values: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.iter().take_while(|p| p.0 <= t).last().and_then(|p| p.1))
                        .collect();
                    let s = stats::summarize(&values).ok()?;
                    let (lo, hi) = stats::t_ci(&values, 0.95)
                        .map(|c| (c.lower, c.upper))
                        .unwrap_or((s.mean, s.mean));
                    Some((t, s.mean, lo, hi))
                })
                .collect();
            Curve {
                name: g.name.clone(),
                points,
            }
        })
        .collect()
}

fn pm(mean: Option<f64>, std: Option<f64>, scale: f64) -> String {
    match (mean, std) {
        (Some(m), Some(s)) => format!("{:.2} ± {:.2}", m * scale, s * scale),
        (Some(m), None) => format!("{:.2}", m * scale),
        _ => "–".into(),
    }
}

/// The summary table in Markdown (also printed by `nas run`), with the optima of the
/// space for a tabular run.
fn summary_markdown(a: &Analysis, manifest: &Manifest) -> String {
    let mut out = strategies_markdown(a);
    if let Some(t) = &manifest.table {
        for (what, o) in [
            ("optimum by validation", &t.best_by_val),
            ("optimum by test", &t.best_by_test),
        ] {
            if let Some(o) = o {
                let _ = writeln!(
                    out,
                    "| *{what}* (`{}`) | – | {:.2} | – | {:.2} | – | – |",
                    o.arch,
                    o.val_acc * 100.0,
                    o.test_acc * 100.0
                );
            }
        }
    }
    out
}

fn strategies_markdown(a: &Analysis) -> String {
    let best_val = best_index(a.val.iter().map(|s| s.mean));
    let best_test = best_index(a.test.iter().map(|s| s.mean));
    let mut out = String::from(
        "| strategy | runs | best val acc % (mean ± std) | val median [IQR] | test acc % (mean ± std) | test 95% CI | mean rank (test) |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (i, g) in a.groups.iter().enumerate() {
        let (v, t) = (&a.val[i], &a.test[i]);
        let bold = |s: String, yes: bool| if yes { format!("**{s}**") } else { s };
        let median = match (v.median, v.q1, v.q3) {
            (Some(m), Some(q1), Some(q3)) => {
                format!("{:.2} [{:.2}, {:.2}]", m * 100.0, q1 * 100.0, q3 * 100.0)
            }
            _ => "–".into(),
        };
        let ci = t.ci.map_or_else(
            || "–".into(),
            |(l, h)| format!("[{:.2}, {:.2}]", l * 100.0, h * 100.0),
        );
        let rank = a
            .friedman_test
            .as_ref()
            .or(a.friedman_val.as_ref())
            .map_or_else(|| "–".into(), |f| format!("{:.2}", f.average_ranks[i]));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            g.name,
            g.runs.len(),
            bold(pm(v.mean, v.std, 100.0), best_val == Some(i)),
            median,
            bold(pm(t.mean, t.std, 100.0), best_test == Some(i)),
            ci,
            rank
        );
    }
    out
}

fn best_index(means: impl Iterator<Item = Option<f64>>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, m) in means.enumerate() {
        if let Some(m) = m.filter(|m| m.is_finite())
            && best.is_none_or(|(_, b)| m > b)
        {
            best = Some((i, m));
        }
    }
    best.map(|(i, _)| i)
}

fn latex_escape(s: &str) -> String {
    s.replace('\\', "\\textbackslash{}")
        .replace('_', "\\_")
        .replace('&', "\\&")
        .replace('%', "\\%")
        .replace('#', "\\#")
}

/// A booktabs table of the summary, the best mean of each column bolded.
fn latex(config: &Config, a: &Analysis) -> String {
    let best_val = best_index(a.val.iter().map(|s| s.mean));
    let best_test = best_index(a.test.iter().map(|s| s.mean));
    let ranks = a.friedman_test.as_ref().or(a.friedman_val.as_ref());
    let best_rank = ranks.and_then(|f| best_index(f.average_ranks.iter().map(|r| Some(-r))));
    let cell = |mean: Option<f64>, std: Option<f64>, bold: bool| match (mean, std) {
        (Some(m), Some(s)) if bold => {
            format!("$\\mathbf{{{:.2} \\pm {:.2}}}$", m * 100.0, s * 100.0)
        }
        (Some(m), Some(s)) => format!("${:.2} \\pm {:.2}$", m * 100.0, s * 100.0),
        (Some(m), None) if bold => format!("$\\mathbf{{{:.2}}}$", m * 100.0),
        (Some(m), None) => format!("${:.2}$", m * 100.0),
        _ => "--".into(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "% Generated by nas from the journal; requires \\usepackage{{booktabs}}."
    );
    let _ = writeln!(out, "\\begin{{table}}[t]\n\\centering");
    let _ = writeln!(
        out,
        "\\caption{{{}: best validation accuracy found and test accuracy of the selected architecture (\\%, mean $\\pm$ std over runs), {} evaluations per run.}}",
        latex_escape(&config.experiment.name),
        config.experiment.evaluations
    );
    let _ = writeln!(
        out,
        "\\label{{tab:{}}}",
        config
            .experiment
            .name
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    let _ = writeln!(out, "\\begin{{tabular}}{{lrrrr}}\n\\toprule");
    let _ = writeln!(
        out,
        "Strategy & Runs & Val.\\ acc.\\ (\\%) & Test acc.\\ (\\%) & Mean rank \\\\\n\\midrule"
    );
    for (i, g) in a.groups.iter().enumerate() {
        let rank = ranks.map_or_else(
            || "--".into(),
            |f| {
                if best_rank == Some(i) {
                    format!("$\\mathbf{{{:.2}}}$", f.average_ranks[i])
                } else {
                    format!("${:.2}$", f.average_ranks[i])
                }
            },
        );
        let _ = writeln!(
            out,
            "{} & {} & {} & {} & {} \\\\",
            latex_escape(&g.name),
            g.runs.len(),
            cell(a.val[i].mean, a.val[i].std, best_val == Some(i)),
            cell(a.test[i].mean, a.test[i].std, best_test == Some(i)),
            rank
        );
    }
    let _ = writeln!(out, "\\bottomrule\n\\end{{tabular}}\n\\end{{table}}");
    out
}

fn tests_markdown(tests: &[PairwiseTest], metric: &str) -> String {
    let rows: Vec<&PairwiseTest> = tests.iter().filter(|t| t.metric == metric).collect();
    if rows.is_empty() {
        return "No pairwise tests (fewer than two strategies with values).\n".into();
    }
    let mut out = String::from(
        "| A | B | median A | median B | A12 | Mann-Whitney p | Holm p | Wilcoxon p (paired) | Welch p | significant (Holm, α = 0.05) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for t in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.4} | {:.4} | {:.3} | {} | {} | {} | {} | {} |",
            t.a,
            t.b,
            t.median_a,
            t.median_b,
            t.a12,
            p_value(t.mwu_p),
            p_value(t.mwu_p_holm),
            t.wilcoxon_p.map_or_else(|| "–".into(), p_value),
            t.welch_p.map_or_else(|| "–".into(), p_value),
            if t.mwu_p_holm < ALPHA {
                if t.a12 > 0.5 {
                    format!("yes: {} better", t.a)
                } else {
                    format!("yes: {} better", t.b)
                }
            } else {
                "no".into()
            }
        );
    }
    out
}

fn friedman_line(f: &Option<stats::Friedman>, what: &str) -> String {
    match f {
        Some(f) => format!(
            "Friedman test on {what} over {} complete repetitions: χ² = {:.3}, df = {}, p = {}.\n",
            f.n_blocks,
            f.statistic,
            f.df,
            p_value(f.p_value)
        ),
        None => format!(
            "Friedman test on {what}: not applicable (needs two strategies and two complete repetitions).\n"
        ),
    }
}

fn report_markdown(
    config: &Config,
    runs: &[RunRecord],
    a: &Analysis,
    manifest: &Manifest,
) -> String {
    let e = &config.experiment;
    let mut out = String::new();
    let _ = writeln!(out, "# {}: comparison of search strategies\n", e.name);
    if manifest.partial {
        let unfinished: Vec<String> = runs
            .iter()
            .filter(|r| !r.ended)
            .map(|r| r.unit.label())
            .collect();
        let _ = writeln!(
            out,
            "> **Partial results**: {} of {} runs had not ended when this report was written ({}). Resume the experiment to complete them.\n",
            unfinished.len(),
            runs.len(),
            unfinished.join(", ")
        );
    }
    let reps = config.repetition_seeds();
    let _ = writeln!(out, "## Setup\n");
    match &manifest.table {
        Some(t) => {
            let _ = writeln!(
                out,
                "- **Data**: {} ({}). Trials are looked up in the table `{}` ({} architectures x {} recorded training seeds, table SHA-256 `{}`): each trial gets one recorded seed, chosen by its trial seed; a run's final test accuracy is the one recorded with the seed of its best trial.",
                manifest.dataset,
                manifest.data_identity,
                t.path,
                t.architectures,
                t.seeds,
                &t.sha256[..16.min(t.sha256.len())]
            );
        }
        None => {
            let _ = writeln!(
                out,
                "- **Data**: {} ({}), validation split of {} training images fixed by the experiment seed; the test set is used only for the final evaluation.",
                manifest.dataset, manifest.data_identity, config.data.validation_size
            );
        }
    }
    let _ = writeln!(
        out,
        "- **Budget**: {} evaluations per run{}; each trial trains {} epoch(s){}.",
        e.evaluations,
        e.max_train_epochs
            .map(|m| format!(" (at most {m} training epochs)"))
            .or(e
                .max_train_seconds
                .map(|m| format!(" (at most {m} recorded training seconds)")))
            .unwrap_or_default(),
        config.budget.epochs,
        config.budget.train_subset.map_or_else(
            || " on the whole training split".into(),
            |n| format!(" on {n} training images")
        )
    );
    let _ = writeln!(
        out,
        "- **Runs**: {} strategies × {} repetitions (repetition seeds {}), experiment seed {}.",
        config.strategies.len(),
        reps.len(),
        compact_list(&reps),
        e.seed
    );
    let _ = writeln!(
        out,
        "- **Strategies**: {}.",
        config
            .strategies
            .iter()
            .map(|s| format!("`{}` ({})", s.name(), s.kind.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "- **Provenance**: nas {} (git {}), {}, {} × {} cores; config hash `{}`. Full settings: [`config.resolved.toml`](config.resolved.toml), [`manifest.json`](manifest.json).\n",
        manifest.nas_version,
        manifest.git_revision,
        manifest.rustc,
        manifest.cpu,
        manifest.cores,
        &manifest.config_hash[..16.min(manifest.config_hash.len())]
    );

    let _ = writeln!(out, "## Summary\n");
    let test_source = if manifest.table.is_some() {
        "as recorded in the table with the seed of its best trial"
    } else {
        "retrained with the same seed"
    };
    let _ = writeln!(
        out,
        "Best validation accuracy found by each run (the search objective) and the test accuracy of the architecture it selected, {test_source}. Best mean in bold. Per-run values: [`runs.csv`](runs.csv); every statistic: [`summary.csv`](summary.csv); LaTeX: [`tables.tex`](tables.tex).\n"
    );
    out.push_str(&summary_markdown(a, manifest));
    if manifest.table.is_some() {
        out.push_str("\nThe optima are the space's best architectures by their mean over the table's recorded training seeds (what an oracle would select).\n");
    }
    out.push('\n');
    out.push_str(&friedman_line(&a.friedman_test, "test accuracy"));
    out.push_str(&friedman_line(&a.friedman_val, "best validation accuracy"));

    let _ = writeln!(out, "\n## Anytime performance\n");
    let _ = writeln!(
        out,
        "Best validation accuracy so far against evaluations: mean over runs with a 95% t-interval band.\n"
    );
    let _ = writeln!(out, "![anytime performance](anytime.svg)\n");
    if manifest.table.is_some() {
        let _ = writeln!(
            out,
            "Against the simulated clock: the recorded training seconds the trials would have cost (the performance-over-compute view the checklist asks for).\n"
        );
        let _ = writeln!(
            out,
            "![anytime performance against simulated training time](anytime_time.svg)\n"
        );
    }
    let _ = writeln!(out, "## Final test accuracy\n");
    let _ = writeln!(
        out,
        "![test accuracy of the selected architectures](test_box.svg)\n"
    );

    let _ = writeln!(out, "## Pairwise tests\n");
    let _ = writeln!(
        out,
        "Two-sided Mann-Whitney U tests between every pair of strategies, Holm-Bonferroni corrected over all pairs; A12 is the Vargha-Delaney probability that a run of A beats a run of B (0.5: no difference). Wilcoxon signed-rank tests pair runs by repetition seed. All values: [`tests.csv`](tests.csv).\n"
    );
    let _ = writeln!(out, "### Test accuracy\n");
    out.push_str(&tests_markdown(&a.tests, "test_acc"));
    let _ = writeln!(out, "\n### Best validation accuracy\n");
    out.push_str(&tests_markdown(&a.tests, "best_val_acc"));

    let _ = writeln!(out, "\n## Trials\n");
    let _ = writeln!(
        out,
        "| strategy | trials | ok | diverged | failed | cached (repeats) | distinct architectures |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for g in &a.groups {
        let all: Vec<&nas_core::Trial> = g.runs.iter().flat_map(|r| r.trials.iter()).collect();
        let count = |s: Status| all.iter().filter(|t| t.status == s).count();
        let distinct: usize = g.runs.iter().map(|r| r.history().distinct()).sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            g.name,
            all.len(),
            count(Status::Ok),
            count(Status::Diverged),
            count(Status::Failed),
            all.iter().filter(|t| t.cached).count(),
            distinct
        );
    }
    let _ = writeln!(
        out,
        "\nDiverged and failed trials count against the budget and never rank. A repeated proposal is not retrained: it reuses the run's earlier result (`cached`) and counts against the budget.\n"
    );

    let has_random = config.strategies.iter().any(|s| s.kind.name() == "random");
    let _ = writeln!(
        out,
        "## Best-practices checklist (Lindauer & Hutter, 2020)\n"
    );
    let check = |ok: bool| if ok { "[x]" } else { "[ ]" };
    let items = [
        (true, "Same search space, training pipeline, data split and budget for every method: one config".to_string(), format!("hash `{}`", &manifest.config_hash[..16.min(manifest.config_hash.len())])),
        (has_random, "Random search baseline included".into(), if has_random { "a `random` strategy is in the comparison".into() } else { "no random-search strategy in this config".into() }),
        (reps.len() >= 5, format!("Several independent runs per method ({} repetitions)", reps.len()), "Lindauer & Hutter ask for enough seeds to test significance; 10+ is common".into()),
        (true, "Anytime performance reported".into(), "`anytime.svg`".into()),
        (e.final_test, "Search scored on validation data; the test set used only for the final evaluation".into(), if e.final_test { "`test_acc` in `runs.csv` comes from a separate final evaluation".into() } else { "final test evaluation switched off".into() }),
        (true, "Significance tests with a multiple-comparison correction".into(), "Mann-Whitney U with Holm-Bonferroni, Wilcoxon paired by seed, Friedman".into()),
        (true, "Seeds, versions, hardware and all settings reported".into(), "`config.resolved.toml`, `manifest.json`".into()),
        (true, "Results reproducible from the code: byte-identical tables for the same config, any worker count, after resume".into(), "`nas report` regenerates every table from `journal.jsonl`".into()),
        (false, "Hyperparameters of the search methods tuned equally".into(), "not done: every method runs its paper defaults (see `config.resolved.toml`)".into()),
    ];
    for (ok, what, evidence) in items {
        let _ = writeln!(out, "- {} {} — {}.", check(ok), what, evidence);
    }
    out
}

fn compact_list(xs: &[u32]) -> String {
    let contiguous = xs.windows(2).all(|w| w[1] == w[0] + 1);
    match xs {
        [] => "none".into(),
        [one] => one.to_string(),
        [first, .., last] if contiguous => format!("{first}–{last}"),
        _ => xs.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
    }
}

/// Writes every derived output of an experiment into `out`; returns the summary table.
pub fn write_all(
    out: &Path,
    config: &Config,
    runs: &[RunRecord],
    manifest: &Manifest,
) -> Result<String> {
    let a = analyse(config, runs)?;
    write_atomic(&out.join("trials.csv"), &csv_bytes(&trial_rows(runs))?)?;
    write_atomic(&out.join("runs.csv"), &csv_bytes(&run_rows(config, runs))?)?;
    write_atomic(&out.join("summary.csv"), &csv_bytes(&summary_rows(&a))?)?;
    write_atomic(&out.join("tests.csv"), &csv_bytes(&test_rows(&a.tests))?)?;
    write_atomic(&out.join("timings.csv"), &csv_bytes(&timing_rows(runs))?)?;
    write_atomic(&out.join("tables.tex"), latex(config, &a).as_bytes())?;
    let curves = anytime_curves(&a, config.experiment.evaluations);
    let samples: Vec<Sample> = a
        .groups
        .iter()
        .map(|g| Sample {
            name: g.name.clone(),
            values: present(&g.test),
        })
        .collect();
    replace_files(
        out,
        &["anytime.svg", "anytime.png", "test_box.svg", "test_box.png"],
        |dir| {
            plots::anytime(
                dir,
                "anytime",
                &format!("{}: anytime performance", config.experiment.name),
                "evaluations",
                &curves,
            )?;
            plots::boxplot(
                dir,
                "test_box",
                &format!(
                    "{}: test accuracy of the selected architectures",
                    config.experiment.name
                ),
                &samples,
            )
        },
    )?;
    if manifest.table.is_some() {
        let curves = time_curves(&a);
        replace_files(out, &["anytime_time.svg", "anytime_time.png"], |dir| {
            plots::anytime(
                dir,
                "anytime_time",
                &format!(
                    "{}: anytime performance (simulated time)",
                    config.experiment.name
                ),
                "recorded training seconds",
                &curves,
            )
        })?;
    }
    write_atomic(
        &out.join(REPORT),
        report_markdown(config, runs, &a, manifest).as_bytes(),
    )?;
    Ok(summary_markdown(&a, manifest))
}
