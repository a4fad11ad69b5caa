//! Execution: every run of a plan, on a pool of workers, recorded in the journal as it
//! goes.
//!
//! A run is a sequential ask-evaluate-tell loop: its seeds derive from (experiment seed,
//! strategy name, repetition seed) only, so runs can execute in any order on any number of
//! workers and give the same trials. A proposal that the run has already evaluated is not
//! trained again: it is recorded with `cached = true` and the earlier metrics, and it
//! counts against the evaluation budget like any other proposal (the strategy spent it).
//!
//! Resuming replays a run from its journal: the strategy is rebuilt from its seed, asked
//! again, and told the recorded trials, which restores its exact state (and checks that
//! the journal belongs to this config: every replayed proposal must match the record).
//! Killed trials are not replayed; they are run again.
//!
//! What a run does is a [`Plan`]: the comparison of strategies ([`ExperimentPlan`]) and
//! the tabulation of a whole space (`crate::tabular`) share this machinery.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result, anyhow};
use nas_core::{
    Architecture, Budget, EvalRequest, Evaluator, History, Metrics, RunSeeds, SearchSpace, Status,
    Strategy, Trial,
};

use crate::config::Config;
use crate::error::BadInput;
use crate::journal::{Event, FinalEval, Journal, RunEnd};

/// One run: a strategy and a repetition seed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Unit {
    /// Position in the canonical order (strategies as configured, then repetitions).
    pub index: usize,
    /// Position of the strategy in the config.
    pub strategy_index: usize,
    /// Strategy name.
    pub strategy: String,
    /// Repetition seed.
    pub repetition: u32,
}

impl Unit {
    /// The run's seeds.
    pub fn seeds(&self, experiment_seed: u64) -> RunSeeds {
        RunSeeds::new(experiment_seed, &self.strategy, self.repetition)
    }

    /// `strategy/repetition`, for messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.strategy, self.repetition)
    }
}

/// The shard (0-based `index` of `count`) that runs a unit: units are dealt round-robin
/// in canonical order, so unit `k` belongs to shard `k mod count`. Every unit is in
/// exactly one shard, and strategies spread evenly over the shards.
pub fn shard_of(unit_index: usize, count: u32) -> u32 {
    (unit_index % count as usize) as u32
}

/// Every run of a config, in canonical order.
pub fn units(config: &Config) -> Vec<Unit> {
    let reps = config.repetition_seeds();
    config
        .strategy_names()
        .into_iter()
        .enumerate()
        .flat_map(|(s, name)| reps.iter().map(move |&r| (s, name.clone(), r)))
        .enumerate()
        .map(|(index, (strategy_index, strategy, repetition))| Unit {
            index,
            strategy_index,
            strategy,
            repetition,
        })
        .collect()
}

/// What the runs of an experiment are and how each one goes.
pub trait Plan: Sync {
    /// Every run, in canonical order (`index` = position).
    fn units(&self) -> Vec<Unit>;
    /// A fresh strategy for a run.
    fn strategy(&self, unit: &Unit) -> Result<Box<dyn Strategy>>;
    /// Most trials of a run.
    fn evaluations(&self, unit: &Unit) -> u32;
    /// The seed of trial `index` of a run (which proposed `arch`).
    fn trial_seed(&self, unit: &Unit, index: u32, arch: &Architecture) -> u64;
    /// True when a run must stop before its next trial, given what it has spent.
    fn exhausted(&self, spent: &Spent) -> bool;
    /// The per-trial training budget.
    fn budget(&self) -> &Budget;
    /// Also score every trial on the test set (tabulation), rather than only the best
    /// architecture of each run at the end.
    fn test_every_trial(&self) -> bool {
        false
    }
    /// Retrain each run's best architecture at the end and score it on the test set.
    fn final_test(&self) -> bool;
}

/// What a run has spent so far (cached trials cost nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    /// Training epochs.
    pub epochs: f64,
    /// Recorded training seconds (deterministic only for recorded, tabular, metrics).
    pub seconds: f64,
}

impl Spent {
    fn add(&mut self, trial: &Trial) {
        if let Some(m) = trial.metrics.as_ref().filter(|_| !trial.cached) {
            self.epochs += m.epochs;
            self.seconds += m.train_seconds;
        }
    }
}

/// The comparison of the strategies of a config: one run per (strategy, repetition seed).
pub struct ExperimentPlan<'a> {
    /// The experiment.
    pub config: &'a Config,
    /// The checked space strategies search.
    pub space: &'a SearchSpace,
}

impl Plan for ExperimentPlan<'_> {
    fn units(&self) -> Vec<Unit> {
        units(self.config)
    }

    fn strategy(&self, unit: &Unit) -> Result<Box<dyn Strategy>> {
        let section = &self.config.strategies[unit.strategy_index];
        crate::registry::build(section, self.space, unit, self.config)
    }

    fn evaluations(&self, _unit: &Unit) -> u32 {
        self.config.experiment.evaluations
    }

    fn trial_seed(&self, unit: &Unit, index: u32, _arch: &Architecture) -> u64 {
        unit.seeds(self.config.experiment.seed)
            .trial_seed(u64::from(index))
    }

    fn exhausted(&self, spent: &Spent) -> bool {
        let e = &self.config.experiment;
        e.max_train_epochs.is_some_and(|max| spent.epochs >= max)
            || e.max_train_seconds.is_some_and(|max| spent.seconds >= max)
    }

    fn budget(&self) -> &Budget {
        &self.config.budget
    }

    fn final_test(&self) -> bool {
        self.config.experiment.final_test
    }
}

/// What a run has in the journal already (for resume).
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Finished (not killed) trials by index.
    pub trials: BTreeMap<u32, Trial>,
    /// Its final evaluation.
    pub final_eval: Option<FinalEval>,
    /// True when the run ended.
    pub ended: bool,
}

/// Something that happened, for progress display.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A trial finished (or was replayed from the journal).
    Trial {
        /// The run.
        unit: usize,
        /// The trial.
        trial: Box<Trial>,
        /// Best fitness of the run so far.
        best: Option<f64>,
        /// True when it came from the journal rather than being evaluated now.
        replayed: bool,
    },
    /// A run finished.
    RunDone {
        /// The run.
        unit: usize,
        /// Planned evaluations it reported no `Trial` for (the run had ended before a
        /// resume, or its budget ran out early), so progress still adds up to the plan.
        unreported: usize,
    },
}

/// Everything a run needs.
pub struct RunContext<'a> {
    /// What the runs are.
    pub plan: &'a dyn Plan,
    /// The checked space (every proposal must be in it).
    pub space: &'a SearchSpace,
    /// Scores trials.
    pub evaluator: &'a dyn Evaluator,
    /// Where events go.
    pub journal: &'a Journal,
    /// Set to stop every run at its next trial boundary.
    pub stop: &'a AtomicBool,
    /// Trials being evaluated now, by unit: recorded as killed on interruption.
    pub in_flight: &'a Mutex<BTreeMap<usize, Trial>>,
    /// Progress sink.
    pub progress: &'a (dyn Fn(Progress) + Sync),
}

/// Why a run stopped before its end.
#[derive(Debug)]
pub enum Outcome {
    /// The run ended (or had ended).
    Done,
    /// The stop flag was raised.
    Stopped,
}

/// Runs (or resumes) one unit to its end.
pub fn run_unit(ctx: &RunContext<'_>, unit: &Unit, recorded: Recorded) -> Result<Outcome> {
    let plan = ctx.plan;
    if recorded.ended {
        (ctx.progress)(Progress::RunDone {
            unit: unit.index,
            unreported: plan.evaluations(unit) as usize,
        });
        return Ok(Outcome::Done);
    }
    let mut strategy = plan
        .strategy(unit)
        .with_context(|| format!("cannot build strategy {}", unit.label()))?;
    let mut history = History::new();
    let mut spent = Spent::default();
    for index in 0..plan.evaluations(unit) {
        if plan.exhausted(&spent) {
            break;
        }
        let replay = recorded.trials.get(&index);
        if replay.is_none() && ctx.stop.load(Ordering::SeqCst) {
            return Ok(Outcome::Stopped);
        }
        let arch = strategy.ask(&history).with_context(|| {
            format!("strategy {} failed to propose trial {index}", unit.label())
        })?;
        ctx.space.contains(&arch).map_err(|e| {
            anyhow!(
                "strategy {} proposed an architecture outside the space (a bug in the strategy): {e}",
                unit.label()
            )
        })?;
        let seed = plan.trial_seed(unit, index, &arch);
        let trial = match replay {
            Some(rec) => {
                if rec.arch != arch || rec.seed != seed {
                    return Err(BadInput::new(format!(
                        "the journal does not match this config: trial {index} of run {} was `{}`, the strategy now proposes `{arch}` (was the config or nas changed?)",
                        unit.label(),
                        rec.arch
                    ))
                    .into());
                }
                rec.clone()
            }
            None => {
                let trial = match history.lookup(&arch) {
                    Some(prev) => Trial {
                        index,
                        seed,
                        cached: true,
                        metrics: prev.metrics.clone().map(|m| Metrics {
                            train_seconds: 0.0,
                            ..m
                        }),
                        ..prev.clone()
                    },
                    None => evaluate(ctx, unit, index, seed, arch),
                };
                ctx.journal
                    .append(&Event::Trial(trial.clone()))
                    .context("the journal could not be written; finished trials are safe in it")?;
                trial
            }
        };
        spent.add(&trial);
        history.push(trial.clone());
        strategy.tell(&trial).with_context(|| {
            format!(
                "strategy {} failed to learn from trial {index}",
                unit.label()
            )
        })?;
        (ctx.progress)(Progress::Trial {
            unit: unit.index,
            trial: Box::new(trial),
            best: history.best_fitness(),
            replayed: replay.is_some(),
        });
    }
    if plan.final_test()
        && recorded.final_eval.is_none()
        && let Some(best) = history.best()
    {
        if ctx.stop.load(Ordering::SeqCst) {
            return Ok(Outcome::Stopped);
        }
        let final_eval = evaluate_final(ctx, unit, best);
        ctx.journal
            .append(&Event::Final(final_eval))
            .context("the journal could not be written")?;
    }
    ctx.journal
        .append_durable(&Event::RunEnd(RunEnd {
            strategy: unit.strategy.clone(),
            repetition: unit.repetition,
            trials: history.len() as u32,
        }))
        .context("the journal could not be written")?;
    (ctx.progress)(Progress::RunDone {
        unit: unit.index,
        unreported: (plan.evaluations(unit) as usize).saturating_sub(history.len()),
    });
    Ok(Outcome::Done)
}

/// Evaluates one new trial; an evaluator error becomes a `failed` trial.
fn evaluate(ctx: &RunContext<'_>, unit: &Unit, index: u32, seed: u64, arch: Architecture) -> Trial {
    let mut trial = Trial {
        strategy: unit.strategy.clone(),
        repetition: unit.repetition,
        index,
        seed,
        arch,
        status: Status::Killed,
        reason: Some("interrupted while training".into()),
        metrics: None,
        cached: false,
    };
    lock(ctx.in_flight).insert(unit.index, trial.clone());
    let request = EvalRequest {
        arch: &trial.arch,
        budget: ctx.plan.budget(),
        seed,
        test: ctx.plan.test_every_trial(),
    };
    trial.record(ctx.evaluator.evaluate(&request));
    lock(ctx.in_flight).remove(&unit.index);
    trial
}

/// Retrains the run's best architecture with its trial seed (the same network) and
/// scores it on the test set.
fn evaluate_final(ctx: &RunContext<'_>, unit: &Unit, best: &Trial) -> FinalEval {
    let request = EvalRequest {
        arch: &best.arch,
        budget: ctx.plan.budget(),
        seed: best.seed,
        test: true,
    };
    let (status, reason, metrics) = match ctx.evaluator.evaluate(&request) {
        Ok(eval) => (eval.status, eval.reason, Some(eval.metrics)),
        Err(e) => (Status::Failed, Some(e.to_string()), None),
    };
    FinalEval {
        strategy: unit.strategy.clone(),
        repetition: unit.repetition,
        trial: best.index,
        arch: best.arch.clone(),
        seed: best.seed,
        status,
        reason,
        metrics,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the given units (each with what the journal already holds for it) on `workers`
/// threads, in the given order; returns the first error, after stopping the other runs at
/// their next trial boundary.
pub fn run_all(
    ctx: &RunContext<'_>,
    work: Vec<(Unit, Recorded)>,
    workers: usize,
    poll: &(dyn Fn() + Sync),
) -> Result<Outcome> {
    let queue: Mutex<Vec<(Unit, Recorded)>> = Mutex::new(work.into_iter().rev().collect());
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let running = AtomicUsize::new(workers.max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    if ctx.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Some((unit, rec)) = lock(&queue).pop() else {
                        break;
                    };
                    match run_unit(ctx, &unit, rec) {
                        Ok(_) => {}
                        Err(e) => {
                            ctx.stop.store(true, Ordering::SeqCst);
                            lock(&first_error).get_or_insert(e);
                            break;
                        }
                    }
                }
                running.fetch_sub(1, Ordering::SeqCst);
            });
        }
        while running.load(Ordering::SeqCst) > 0 {
            poll();
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    if let Some(e) = lock(&first_error).take() {
        return Err(e);
    }
    if ctx.stop.load(Ordering::SeqCst) {
        return Ok(Outcome::Stopped);
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_is_in_exactly_one_shard() {
        for units in [1usize, 7, 10, 25, 150] {
            for count in (1..=10).chain([units as u32, units as u32 + 5, 1000]) {
                let mut seen = vec![0; units];
                for shard in 0..count {
                    for (u, seen) in seen.iter_mut().enumerate() {
                        if shard_of(u, count) == shard {
                            *seen += 1;
                        }
                    }
                }
                assert!(
                    seen.iter().all(|&n| n == 1),
                    "{units} units, {count} shards"
                );
                // Balanced: shard sizes differ by at most one.
                let sizes: Vec<usize> = (0..count)
                    .map(|s| (0..units).filter(|&u| shard_of(u, count) == s).count())
                    .collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "{sizes:?}");
            }
        }
    }
}
