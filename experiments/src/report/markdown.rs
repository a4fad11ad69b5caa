//! `report.md`: setup, summary, anytime and final plots, pairwise tests, trial counts and
//! the Lindauer & Hutter (2020) checklist; and the summary table `nas run` prints.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use nas_core::Status;
use nas_stats::{self as stats, PairwiseTest};

use super::analysis::{Analysis, best_index};
use super::{ALPHA, Output, REPORT, Report};
use crate::config::Config;
use crate::manifest::Manifest;
use crate::outputs::write_atomic;
use crate::records::RunRecord;

pub(crate) fn p_value(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.2e}")
    } else {
        format!("{p:.4}")
    }
}

pub(crate) fn pm(mean: Option<f64>, std: Option<f64>, scale: f64) -> String {
    match (mean, std) {
        (Some(m), Some(s)) => format!("{:.2} ± {:.2}", m * scale, s * scale),
        (Some(m), None) => format!("{:.2}", m * scale),
        _ => "–".into(),
    }
}

/// The summary table in Markdown (also printed by `nas run`), with the optima of the
/// space for a tabular run.
pub(crate) fn summary_markdown(a: &Analysis, manifest: &Manifest) -> String {
    let mut out = strategies_markdown(a);
    if let Some(t) = &manifest.table {
        let labels = if t.signal.is_some() {
            ["optimum by search signal", "optimum by reported value"]
        } else {
            ["optimum by validation", "optimum by test"]
        };
        for (what, o) in [(labels[0], &t.best_by_val), (labels[1], &t.best_by_test)] {
            if let Some(o) = o {
                let _ = writeln!(
                    out,
                    "| *{what}* (`{}`) | – | {:.2} | – | {:.2} | – | – |",
                    o.arch.replace('|', "\\|"),
                    o.val_acc * 100.0,
                    o.test_acc * 100.0
                );
            }
        }
    }
    out
}

pub(crate) fn strategies_markdown(a: &Analysis) -> String {
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

pub(crate) fn tests_markdown(tests: &[PairwiseTest], metric: &str) -> String {
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

pub(crate) fn friedman_line(f: &Option<stats::Friedman>, what: &str) -> String {
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

pub(crate) fn report_markdown(
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
        Some(t) if t.signal.is_some() => {
            let _ = writeln!(
                out,
                "- **Data**: {} ({}). Trials are looked up in the imported table `{}` ({}, {} architectures, table SHA-256 `{}`): {}.",
                manifest.dataset,
                manifest.data_identity,
                t.path,
                t.name.as_deref().unwrap_or_default(),
                t.architectures,
                &t.sha256[..16.min(t.sha256.len())],
                t.description.as_deref().unwrap_or_default()
            );
            let _ = writeln!(
                out,
                "- **Values used**: a trial's fitness (the search signal) is the {}; a run's final test accuracy is the {}, of the architecture with the best signal; a trial's simulated training time is the training seconds recorded with the signal.",
                t.signal.as_deref().unwrap_or_default(),
                t.report.as_deref().unwrap_or_default()
            );
        }
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
    let imported = manifest.table.as_ref().is_some_and(|t| t.signal.is_some());
    let discard = e.over_budget == nas_core::OverBudget::Discard;
    if imported || discard {
        let limit = e
            .max_train_epochs
            .map(|m| format!("{m} training epochs"))
            .or(e
                .max_train_seconds
                .map(|m| format!("{m} recorded training seconds")));
        let _ = writeln!(
            out,
            "- **Budget**: at most {} evaluations per run{}.",
            e.evaluations,
            match (limit, discard) {
                (Some(l), true) => format!(
                    ", and at most {l}: a trial that would exceed them is discarded and ends the run (NAS-Bench-201's rule)"
                ),
                (Some(l), false) =>
                    format!(", stopping once the trials reach {l} (the last trial may exceed them)"),
                (None, _) => String::new(),
            }
        );
    } else {
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
    }
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
    let test_source = match &manifest.table {
        Some(t) if t.signal.is_some() => "the table's reported value (see the values used above)",
        Some(_) => "as recorded in the table with the seed of its best trial",
        None => "retrained with the same seed",
    };
    let _ = writeln!(
        out,
        "Best validation accuracy found by each run (the search objective) and the test accuracy of the architecture it selected, {test_source}. Best mean in bold. Per-run values: [`runs.csv`](runs.csv); every statistic: [`summary.csv`](summary.csv); LaTeX: [`tables.tex`](tables.tex).\n"
    );
    out.push_str(&summary_markdown(a, manifest));
    match &manifest.table {
        Some(t) if t.signal.is_some() => out.push_str("\nThe optima are the space's best architectures by the search signal (averaged over the recorded trainings when a trial reads one of them) and by the reported value: what an oracle would select. The \"best val acc\" column holds the search signal.\n"),
        Some(_) => out.push_str("\nThe optima are the space's best architectures by their mean over the table's recorded training seeds (what an oracle would select).\n"),
        None => {}
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

pub(crate) fn compact_list(xs: &[u32]) -> String {
    let contiguous = xs.windows(2).all(|w| w[1] == w[0] + 1);
    match xs {
        [] => "none".into(),
        [one] => one.to_string(),
        [first, .., last] if contiguous => format!("{first}–{last}"),
        _ => xs.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
    }
}

/// The Markdown report.
pub(crate) struct Markdown;

impl Output for Markdown {
    fn write(&self, out: &Path, r: &Report<'_>) -> Result<()> {
        write_atomic(
            &out.join(REPORT),
            report_markdown(r.config, r.runs, r.analysis, r.manifest).as_bytes(),
        )
    }
}
