//! The analysis behind every output: per strategy, the final best validation accuracy
//! and the selected architecture's test accuracy of each run, their descriptive
//! statistics and intervals, the Friedman ranks, the pairwise tests, and the anytime
//! curves (by evaluations and by simulated time).

use anyhow::Result;
use nas_core::derive_seed;
use nas_stats::{self as stats, PairwiseTest, RankOrder};

use super::RESAMPLES;
use super::plots::Curve;
use crate::config::Config;
use crate::records::RunRecord;

/// One strategy's values over its runs.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) name: String,
    /// Final best validation accuracy, by repetition (None when no trial ranked).
    pub(crate) val: Vec<Option<f64>>,
    /// Test accuracy of the selected architecture, by repetition.
    pub(crate) test: Vec<Option<f64>>,
    pub(crate) runs: Vec<RunRecord>,
}

pub(crate) fn groups(config: &Config, runs: &[RunRecord]) -> Vec<Group> {
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

pub(crate) fn present(values: &[Option<f64>]) -> Vec<f64> {
    values.iter().flatten().copied().collect()
}

/// Descriptive statistics of one metric of one strategy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    pub(crate) n: usize,
    pub(crate) mean: Option<f64>,
    pub(crate) std: Option<f64>,
    pub(crate) median: Option<f64>,
    pub(crate) q1: Option<f64>,
    pub(crate) q3: Option<f64>,
    pub(crate) ci: Option<(f64, f64)>,
    pub(crate) boot: Option<(f64, f64)>,
}

pub(crate) fn describe(values: &[f64], boot_seed: u64) -> Stats {
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

/// Ranks of every strategy over the repetitions where all of them have a value.
pub(crate) fn mean_ranks(
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

pub(crate) struct Analysis {
    pub(crate) groups: Vec<Group>,
    pub(crate) val: Vec<Stats>,
    pub(crate) test: Vec<Stats>,
    pub(crate) friedman_val: Option<stats::Friedman>,
    pub(crate) friedman_test: Option<stats::Friedman>,
    pub(crate) tests: Vec<PairwiseTest>,
}

pub(crate) fn analyse(config: &Config, runs: &[RunRecord]) -> Result<Analysis> {
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

/// Mean best-so-far validation accuracy per evaluation, with a 95% t band.
pub(crate) fn anytime_curves(a: &Analysis, evaluations: u32) -> Vec<Curve> {
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
/// trials finished by t (cached repeats cost nothing, continued trainings their new
/// seconds). With simulated workers the time is the simulated wall-clock time at which
/// each trial ended (the NAS-Bench-201 / Syne Tune way to compare at equal compute).
pub(crate) fn time_curves(a: &Analysis) -> Vec<Curve> {
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
                            clock += t.cost().1;
                            (t.schedule.map_or(clock, |s| s.end), best)
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

pub(crate) fn best_index(means: impl Iterator<Item = Option<f64>>) -> Option<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::FinalEval;
    use crate::runner::Unit;
    use nas_core::{Metrics, Status, Trial};

    const CONFIG: &str = r#"
[experiment]
seed = 3
repetitions = 3
evaluations = 3
[space]
max_layers = 1
[space.dense]
units = [8, 16, 32]
activations = ["relu"]
[[strategy]]
kind = "random"
[[strategy]]
kind = "evolution"
"#;

    fn config() -> Config {
        crate::config::parse(CONFIG, std::path::Path::new("test.toml"))
            .unwrap()
            .config
    }

    /// A run whose trials score `vals` (None: failed), each 10 s of training, and whose
    /// final evaluation scores `test`.
    fn run(strategy: &str, rep: u32, vals: &[Option<f64>], test: Option<f64>) -> RunRecord {
        let trials: Vec<Trial> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| Trial {
                strategy: strategy.into(),
                repetition: rep,
                index: i as u32,
                seed: i as u64,
                arch: format!("dense{}-relu", 8 << i).parse().unwrap(),
                status: if v.is_some() {
                    Status::Ok
                } else {
                    Status::Failed
                },
                reason: None,
                metrics: v.map(|v| Metrics {
                    val_acc: Some(v),
                    train_seconds: 10.0,
                    epochs: 1.0,
                    ..Metrics::default()
                }),
                cached: false,
                fidelity: None,
                schedule: None,
            })
            .collect();
        let final_eval = test.map(|t| FinalEval {
            strategy: strategy.into(),
            repetition: rep,
            trial: 0,
            arch: trials[0].arch.clone(),
            seed: 0,
            status: Status::Ok,
            reason: None,
            metrics: Some(Metrics {
                test_acc: Some(t),
                ..Metrics::default()
            }),
        });
        RunRecord {
            unit: Unit {
                index: 0,
                strategy_index: usize::from(strategy != "random"),
                strategy: strategy.into(),
                repetition: rep,
            },
            trials,
            final_eval,
            ended: true,
        }
    }

    fn runs() -> Vec<RunRecord> {
        vec![
            run("random", 0, &[Some(0.5), Some(0.6), None], Some(0.55)),
            run("random", 1, &[Some(0.7), Some(0.6), Some(0.65)], Some(0.6)),
            run("random", 2, &[None, None, None], None),
            run(
                "evolution",
                0,
                &[Some(0.8), Some(0.9), Some(0.85)],
                Some(0.85),
            ),
            run(
                "evolution",
                1,
                &[Some(0.6), Some(0.95), Some(0.7)],
                Some(0.9),
            ),
            run("evolution", 2, &[Some(0.75), None, Some(0.8)], Some(0.8)),
        ]
    }

    #[test]
    fn groups_hold_each_runs_best_and_test_in_config_order() {
        let g = groups(&config(), &runs());
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].name, "random");
        assert_eq!(g[0].val, vec![Some(0.6), Some(0.7), None]);
        assert_eq!(g[0].test, vec![Some(0.55), Some(0.6), None]);
        assert_eq!(g[1].val, vec![Some(0.9), Some(0.95), Some(0.8)]);
        assert_eq!(present(&g[0].val), vec![0.6, 0.7]);
    }

    #[test]
    fn analysis_summarises_ranks_and_tests_each_metric() {
        let a = analyse(&config(), &runs()).unwrap();
        assert_eq!(a.val[0].n, 2, "the run without a ranked trial is left out");
        assert!((a.val[0].mean.unwrap() - 0.65).abs() < 1e-12);
        assert!((a.val[1].mean.unwrap() - 2.65 / 3.0).abs() < 1e-12);
        let s = a.val[0].std.unwrap();
        assert!((s - 0.1f64.hypot(0.0) / 2f64.sqrt()).abs() < 1e-12, "{s}");
        // Friedman over the two repetitions where both strategies have a value: evolution
        // ranks first in each.
        let f = a.friedman_val.as_ref().unwrap();
        assert_eq!(f.n_blocks, 2);
        assert_eq!(f.average_ranks, vec![2.0, 1.0]);
        // One pair, two metrics; unpaired (a run lacks a value) so no Wilcoxon.
        assert_eq!(a.tests.len(), 2);
        assert!(a.tests.iter().all(|t| t.wilcoxon_p.is_none()));
        assert_eq!(best_index(a.val.iter().map(|s| s.mean)), Some(1));
    }

    #[test]
    fn best_index_skips_missing_and_non_finite_means_and_keeps_the_first_tie() {
        let means = [
            None,
            Some(f64::NAN),
            Some(0.5),
            Some(f64::INFINITY),
            Some(0.5),
        ];
        assert_eq!(best_index(means.into_iter()), Some(2));
        assert_eq!(best_index([None, Some(f64::NAN)].into_iter()), None);
    }

    #[test]
    fn anytime_curves_average_best_so_far_per_evaluation() {
        let a = analyse(&config(), &runs()).unwrap();
        let curves = anytime_curves(&a, 3);
        let random = &curves[0];
        // Evaluation 1: runs 0 and 1 have a best (0.5, 0.7); run 2 has none yet.
        assert_eq!(random.points[0].0, 1.0);
        assert!((random.points[0].1 - 0.6).abs() < 1e-12);
        assert_eq!(random.points.len(), 3);
        let timed = time_curves(&a);
        // Every trial costs 10 s (a failed one nothing): the clock ends at 30 s, on a grid
        // of 200 points of 0.15 s; none has a value before the first trial ends at 10 s.
        assert_eq!(timed[1].points.len(), 134);
        assert!((timed[1].points[0].0 - 10.05).abs() < 1e-9);
        assert!((timed[1].points.last().unwrap().0 - 30.0).abs() < 1e-12);
        assert!((timed[1].points.last().unwrap().1 - 2.65 / 3.0).abs() < 1e-12);
    }
}
