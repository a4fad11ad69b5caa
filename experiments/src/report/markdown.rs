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

/// `s` as Markdown text on one line: the characters that start markup inline (emphasis,
/// code, links, HTML, GitHub's tables, strikethrough and math) escaped, control
/// characters (a newline would start a heading or a list) as spaces.
pub(crate) fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '$' | '&' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `s` as a Markdown code span on one line (a fence longer than any run of backticks in
/// it); in a table cell (`in_table`) with `|` escaped, as GitHub's tables need even in
/// code.
pub(crate) fn md_code(s: &str, in_table: bool) -> String {
    let mut text: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if in_table {
        text = text.replace('|', "\\|");
    }
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// How the reason of a trial refused for memory starts (nas-eval's `Error::Memory`).
const MEMORY_REFUSAL: &str = "needs an estimated";

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
                    "| *{what}* ({}) | – | {:.2} | – | {:.2} | – | – |",
                    md_code(&o.arch, true),
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
    let _ = writeln!(
        out,
        "# {}: comparison of search strategies\n",
        md_text(&e.name)
    );
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
                "- **Data**: {} ({}). Trials are looked up in the imported table {} ({}, {} architectures, table SHA-256 {}): {}.",
                md_text(&manifest.dataset),
                md_text(&manifest.data_identity),
                md_code(&t.path, false),
                md_text(t.name.as_deref().unwrap_or_default()),
                t.architectures,
                md_code(&t.sha256[..16.min(t.sha256.len())], false),
                md_text(t.description.as_deref().unwrap_or_default())
            );
            let _ = writeln!(
                out,
                "- **Values used**: a trial's fitness (the search signal) is the {}; a run's final test accuracy is the {}, of the architecture with the best signal; a trial's simulated training time is the training seconds recorded with the signal.",
                md_text(t.signal.as_deref().unwrap_or_default()),
                md_text(t.report.as_deref().unwrap_or_default())
            );
        }
        Some(t) => {
            let _ = writeln!(
                out,
                "- **Data**: {} ({}). Trials are looked up in the table {} ({} architectures x {} recorded training seeds, table SHA-256 {}): each trial gets one recorded seed, chosen by its trial seed; a run's final test accuracy is the one recorded with the seed of its best trial.",
                md_text(&manifest.dataset),
                md_text(&manifest.data_identity),
                md_code(&t.path, false),
                t.architectures,
                t.seeds,
                md_code(&t.sha256[..16.min(t.sha256.len())], false)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "- **Data**: {} ({}), validation split of {} training images fixed by the experiment seed; the test set is used only for the final evaluation.",
                md_text(&manifest.dataset),
                md_text(&manifest.data_identity),
                config.data.validation_size
            );
            if let Ok(t) = config.training.check() {
                let _ = writeln!(out, "- **Training**: {}.", training_line(&t));
            }
        }
    }
    let imported = manifest.table.as_ref().is_some_and(|t| t.signal.is_some());
    let discard = e.over_budget == nas_core::OverBudget::Discard;
    let rule = budget_rule(config, runs)
        .map(|r| format!("; {r}"))
        .unwrap_or_default();
    if imported || discard {
        let _ = writeln!(
            out,
            "- **Budget**: at most {} evaluations per run{rule}.",
            e.evaluations
        );
    } else {
        let fidelities = runs
            .iter()
            .any(|r| r.trials.iter().any(|t| t.fidelity.is_some()));
        let _ = writeln!(
            out,
            "- **Budget**: {} evaluations per run; each trial trains {}{} epoch(s){}{}{rule}.",
            e.evaluations,
            if fidelities { "up to " } else { "" },
            config.budget.epochs,
            config.budget.train_subset.map_or_else(
                || " on the whole training split".into(),
                |n| format!(" on {n} training images")
            ),
            if fidelities {
                " (multi-fidelity strategies choose fewer and continue trainings: each trial's fidelity and cost are in `fidelities.csv`)"
            } else {
                ""
            }
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
        "- **Provenance**: nas {} (git {}), {}, {} × {} cores; config hash {}. Full settings: [`config.resolved.toml`](config.resolved.toml), [`manifest.json`](manifest.json).\n",
        md_text(&manifest.nas_version),
        md_text(&manifest.git_revision),
        md_text(&manifest.rustc),
        md_text(&manifest.cpu),
        manifest.cores,
        md_code(
            &manifest.config_hash[..16.min(manifest.config_hash.len())],
            false
        )
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
    let too_large = runs
        .iter()
        .flat_map(|r| r.trials.iter())
        .filter(|t| {
            t.status == Status::Failed
                && !t.cached
                && t.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with(MEMORY_REFUSAL))
        })
        .count();
    if too_large > 0 {
        let _ = write!(
            out,
            "{too_large} trial(s) failed without training because their network was estimated to need more memory than a trial may use"
        );
        match &manifest.memory_limit {
            Some(m) if m.configured => {
                let _ = writeln!(
                    out,
                    " ({}, `training.max_memory`: the same on every machine).\n",
                    nas_eval::memory::human(m.bytes)
                );
            }
            Some(m) => {
                let _ = writeln!(
                    out,
                    " ({}: {}). **This limit depends on the machine**: another machine may train them. Set `training.max_memory` for a limit that does not.\n",
                    nas_eval::memory::human(m.bytes),
                    md_text(&m.source)
                );
            }
            None => {
                let _ = writeln!(out, " (see each trial's reason in `trials.csv`).\n");
            }
        }
    }

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

/// A measured amount for prose: at most two decimals, without trailing zeros.
fn short(x: f64) -> String {
    let text = format!("{x:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The most any run spent of a metric (its trials that trained: cached repeats cost
/// nothing), summed as `runs.csv` sums `epochs_used`.
/// The most any run spent: the sum of its trials' costs (`Trial::cost`: cached trials
/// cost nothing, continued ones their new epochs), `seconds` picking the training
/// seconds; with simulated workers the seconds are the simulated clock at the run's
/// last trial.
fn most_spent(runs: &[RunRecord], seconds: bool) -> f64 {
    runs.iter()
        .map(|r| {
            let clock = r.trials.iter().filter_map(|t| t.schedule.map(|s| s.end));
            if seconds && r.trials.iter().any(|t| t.schedule.is_some()) {
                return clock.fold(0.0, f64::max);
            }
            r.trials
                .iter()
                .map(|t| if seconds { t.cost().1 } else { t.cost().0 })
                .sum::<f64>()
        })
        .fold(0.0, f64::max)
}

/// The training budget of a run as the rule that was applied (`max_train_epochs`,
/// `max_train_seconds` and `over_budget`) and the most any run actually spent; None
/// without such a budget.
fn budget_rule(config: &Config, runs: &[RunRecord]) -> Option<String> {
    let e = &config.experiment;
    let mut limits = Vec::new();
    let mut spent = Vec::new();
    if let Some(m) = e.max_train_epochs {
        limits.push(format!("{} training epochs", super::number(m)));
        spent.push(format!(
            "{} training epochs",
            short(most_spent(runs, false))
        ));
    }
    if let Some(m) = e.max_train_seconds {
        let unit = match e.simulated_workers {
            Some(n) => format!("simulated wall-clock seconds on {n} asynchronous workers"),
            None => "recorded training seconds".to_string(),
        };
        limits.push(format!("{} {unit}", super::number(m)));
        spent.push(format!("{} {unit}", short(most_spent(runs, true))));
    }
    if limits.is_empty() {
        return None;
    }
    let (limit, spent) = (limits.join(" or "), spent.join(" and "));
    if let Some(n) = e.simulated_workers {
        return Some(match e.over_budget {
            nas_core::OverBudget::Discard => format!(
                "each run is a simulation of {n} asynchronous worker(s); a trial that would take a run past {limit} is discarded and its worker starts nothing more, so no run exceeds the limit (the most a run spent: {spent})"
            ),
            nas_core::OverBudget::Keep => format!(
                "each run is a simulation of {n} asynchronous worker(s); no trial starts once a run reaches {limit}, and the trials in flight then finish and count, so a run may end past it (the most a run spent: {spent})"
            ),
        });
    }
    Some(match e.over_budget {
        nas_core::OverBudget::Discard => format!(
            "a run ends before the trial that would take its trials past {limit} in total: that trial is discarded (NAS-Bench-201's rule), so no run exceeds the limit (the most a run spent: {spent})"
        ),
        nas_core::OverBudget::Keep => format!(
            "a run stops once its trials have trained {limit} in total: the trial that crosses the limit still counts, so a run may exceed it (the most a run spent: {spent})"
        ),
    })
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

/// How every trial trains, in words: the optimiser with its resolved settings, batch,
/// schedule and backend.
fn training_line(t: &nas_eval::TrainValidParams) -> String {
    let optimizer = match t.optimizer {
        nas_eval::OptimizerKind::Adamw => format!(
            "AdamW (learning rate {}, weight decay {})",
            t.learning_rate, t.weight_decay
        ),
        nas_eval::OptimizerKind::Sgd => format!(
            "SGD (learning rate {}, momentum {}{}, weight decay {})",
            t.learning_rate,
            t.momentum,
            if t.nesterov { ", Nesterov" } else { "" },
            t.weight_decay
        ),
    };
    let schedule = match t.lr_schedule {
        nas_eval::LrSchedule::Constant => "constant learning rate",
        nas_eval::LrSchedule::Cosine => "cosine learning-rate schedule over the budget's epochs",
    };
    format!(
        "{optimizer}, batch {}, {schedule}, {} backend{}",
        t.batch_size,
        t.backend.name(),
        if t.curve {
            "; validation score recorded after every epoch"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_text_and_code_cannot_start_markup() {
        assert_eq!(
            md_text("mnist-baselines (CIFAR-10)"),
            "mnist-baselines (CIFAR-10)"
        );
        assert_eq!(
            md_text("a\n# injected *b* _c_ [d](e) <f> | ~~g~~ $h$ &amp; `i` \\"),
            "a \\# injected \\*b\\* \\_c\\_ \\[d\\](e) \\<f\\> \\| \\~\\~g\\~\\~ \\$h\\$ \\&amp; \\`i\\` \\\\"
        );
        assert_eq!(
            md_code("|none~0|+|skip~1|", true),
            "`\\|none~0\\|+\\|skip~1\\|`"
        );
        assert_eq!(md_code("a|b", false), "`a|b`");
        assert_eq!(md_code("x `y` z", false), "``x `y` z``");
        assert_eq!(md_code("`edge", false), "`` `edge ``");
        assert_eq!(md_code("two\nlines", false), "`two lines`");
    }

    #[test]
    fn measured_amounts_are_short() {
        assert_eq!(short(3.0), "3");
        assert_eq!(short(106.00000000000001), "106");
        assert_eq!(short(2.53125), "2.53");
        assert_eq!(short(0.0), "0");
    }
}
