//! Execution: every run of a plan, on a pool of workers, recorded in the journal as it
//! goes.
//!
//! A run is nas-core's ask-evaluate-tell loop ([`nas_core::RunState::step`]), with the
//! journal and the progress display as its observers: its seeds derive from (experiment
//! seed, strategy name, repetition seed) only, so runs can execute in any order on any
//! number of workers and give the same trials. A proposal that the run has already
//! evaluated is not trained again: it is recorded with `cached = true` and the earlier
//! metrics, and it counts against the evaluation budget like any other proposal (the
//! strategy spent it).
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
    Architecture, Budget, EvalRequest, Evaluator, Limits, Observer, ObserverError, RunSeeds,
    RunState, SearchSpace, Status, Step, StepError, StopReason, Strategy, Trial, TrialEvent,
    TrialHost,
};

use crate::config::Config;
use crate::error::BadInput;
use crate::journal::{Event, FinalEval, Journal, RunEnd};
use crate::registry::BuildContext;

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
    /// The budget of a run.
    fn limits(&self, unit: &Unit) -> Limits;
    /// The seed of trial `index` of a run (which proposed `arch`).
    fn trial_seed(&self, unit: &Unit, index: u32, arch: &Architecture) -> u64;
    /// The per-trial training budget.
    fn budget(&self) -> &Budget;
    /// Also score every trial on the test set (tabulation), rather than only the best
    /// architecture of each run at the end.
    fn test_every_trial(&self) -> bool {
        false
    }
    /// Retrain each run's best architecture at the end and score it on the test set.
    fn final_test(&self) -> bool;
    /// Simulated asynchronous workers per run (None: trials one after another).
    fn simulated_workers(&self) -> Option<u32> {
        None
    }
}

/// The comparison of the strategies of a config: one run per (strategy, repetition seed).
pub struct ExperimentPlan<'a> {
    /// The experiment.
    pub config: &'a Config,
    /// The checked space strategies search.
    pub space: &'a SearchSpace,
    /// Where external strategies run (the config file's folder).
    pub workdir: std::path::PathBuf,
    /// Where external processes' stderr goes (`<output>/logs`).
    pub logs: std::path::PathBuf,
}

/// Default longest wait for an answer of an external strategy, in seconds.
pub const STRATEGY_TIMEOUT: f64 = 60.0;

impl Plan for ExperimentPlan<'_> {
    fn units(&self) -> Vec<Unit> {
        units(self.config)
    }

    fn strategy(&self, unit: &Unit) -> Result<Box<dyn Strategy>> {
        let section = &self.config.strategies[unit.strategy_index];
        let spec = section.spec()?;
        let seeds = unit.seeds(self.config.experiment.seed);
        let external = section
            .command
            .as_ref()
            .map(|command| nas_external::Launch {
                command: command.clone(),
                workdir: self.workdir.clone(),
                log: self.logs.join(format!(
                    "strategy-{}-{}.log",
                    unit.strategy, unit.repetition
                )),
                timeout: std::time::Duration::from_secs_f64(
                    section.timeout.unwrap_or(STRATEGY_TIMEOUT),
                ),
            });
        Ok(spec.build(BuildContext {
            space: self.space.clone(),
            rng: seeds.strategy_rng(),
            seed: seeds.run,
            run: unit.label(),
            limits: self.limits(unit),
            external,
            budget_epochs: self.config.budget.epochs,
        })?)
    }

    fn limits(&self, _unit: &Unit) -> Limits {
        self.config.experiment.limits()
    }

    fn trial_seed(&self, unit: &Unit, index: u32, _arch: &Architecture) -> u64 {
        unit.seeds(self.config.experiment.seed)
            .trial_seed(u64::from(index))
    }

    fn budget(&self) -> &Budget {
        &self.config.budget
    }

    fn final_test(&self) -> bool {
        self.config.experiment.final_test
    }

    fn simulated_workers(&self) -> Option<u32> {
        self.config.experiment.simulated_workers
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

/// The loop's host for one run: seeds from the plan, evaluation by the evaluator (the
/// trial registered as in flight meanwhile), replay from the journal, the stop flag.
struct Host<'a> {
    ctx: &'a RunContext<'a>,
    unit: &'a Unit,
    recorded: &'a Recorded,
}

impl TrialHost for Host<'_> {
    fn trial_seed(&self, index: u32, arch: &Architecture) -> u64 {
        self.ctx.plan.trial_seed(self.unit, index, arch)
    }

    fn continues(&self) -> bool {
        self.ctx.evaluator.continues()
    }

    fn evaluate(&mut self, mut trial: Trial) -> Trial {
        let ctx = self.ctx;
        lock(ctx.in_flight).insert(self.unit.index, trial.clone());
        let request = EvalRequest {
            arch: &trial.arch,
            budget: ctx.plan.budget(),
            seed: trial.seed,
            test: ctx.plan.test_every_trial(),
            fidelity: trial.fidelity.as_ref().map(|f| f.epochs),
        };
        let outcome = ctx.evaluator.evaluate(&request);
        trial.record(outcome);
        lock(ctx.in_flight).remove(&self.unit.index);
        trial
    }

    fn recorded(&self, index: u32) -> Option<&Trial> {
        self.recorded.trials.get(&index)
    }

    fn interrupted(&self) -> bool {
        self.ctx.stop.load(Ordering::SeqCst)
    }
}

/// Appends every new (not replayed) trial to the journal before the strategy learns
/// from it.
struct JournalObserver<'a>(&'a Journal);

impl Observer for JournalObserver<'_> {
    fn observe(&mut self, event: &TrialEvent<'_>) -> Result<(), ObserverError> {
        if event.replayed {
            return Ok(());
        }
        self.0.append(&Event::Trial(event.trial.clone()))?;
        Ok(())
    }
}

/// Forwards every trial to the progress display.
struct ProgressObserver<'a> {
    unit: usize,
    sink: &'a (dyn Fn(Progress) + Sync),
}

impl Observer for ProgressObserver<'_> {
    fn observe(&mut self, event: &TrialEvent<'_>) -> Result<(), ObserverError> {
        (self.sink)(Progress::Trial {
            unit: self.unit,
            trial: Box::new(event.trial.clone()),
            best: event.state.history().best_fitness(),
            replayed: event.replayed,
        });
        Ok(())
    }
}

/// The loop's error as the runner reports it: naming the run; a replay that does not
/// match is the user's input (a journal of another config).
fn step_error(e: StepError, unit: &Unit) -> anyhow::Error {
    match e {
        StepError::ReplayMismatch {
            index,
            recorded,
            proposed,
            ..
        } => BadInput::new(format!(
            "the journal does not match this config: trial {index} of run {} was `{recorded}`, the strategy now proposes `{proposed}` (was the config or nas changed, or is an external strategy not deterministic in its seed?)",
            unit.label()
        ))
        .into(),
        StepError::Observer(e) => anyhow!("{e}"),
        other => anyhow!("strategy {} {other}", unit.label()),
    }
}

/// Runs (or resumes) one unit to its end.
pub fn run_unit(ctx: &RunContext<'_>, unit: &Unit, recorded: Recorded) -> Result<Outcome> {
    let plan = ctx.plan;
    let limits = plan.limits(unit);
    if recorded.ended {
        (ctx.progress)(Progress::RunDone {
            unit: unit.index,
            unreported: limits.evaluations as usize,
        });
        return Ok(Outcome::Done);
    }
    let mut strategy = plan
        .strategy(unit)
        .with_context(|| format!("cannot build strategy {}", unit.label()))?;
    let mut host = Host {
        ctx,
        unit,
        recorded: &recorded,
    };
    let mut journal = JournalObserver(ctx.journal);
    let mut progress = ProgressObserver {
        unit: unit.index,
        sink: ctx.progress,
    };
    let mut state = match plan.simulated_workers() {
        Some(workers) => RunState::simulated(workers),
        None => RunState::new(),
    };
    let reason = loop {
        let mut observers: [&mut dyn Observer; 2] = [&mut journal, &mut progress];
        let step = state
            .step(
                strategy.as_mut(),
                ctx.space,
                &limits,
                &mut host,
                &mut observers,
                &unit.strategy,
                unit.repetition,
            )
            .map_err(|e| step_error(e, unit))?;
        if let Step::Stopped(reason) = step {
            break reason;
        }
    };
    if reason == StopReason::Interrupted {
        return Ok(Outcome::Stopped);
    }
    let history = state.history();
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
            reason: Some(reason),
        }))
        .context("the journal could not be written")?;
    (ctx.progress)(Progress::RunDone {
        unit: unit.index,
        unreported: (limits.evaluations as usize).saturating_sub(history.len()),
    });
    Ok(Outcome::Done)
}

/// Retrains the run's best architecture with its trial seed (the same network) and
/// scores it on the test set.
fn evaluate_final(ctx: &RunContext<'_>, unit: &Unit, best: &Trial) -> FinalEval {
    let request = EvalRequest {
        arch: &best.arch,
        budget: ctx.plan.budget(),
        seed: best.seed,
        test: true,
        fidelity: None,
    };
    let (status, reason, metrics) = match ctx.evaluator.evaluate(&request) {
        Ok(eval) => match eval.metrics.check() {
            Ok(()) => (eval.status, eval.reason, Some(eval.metrics)),
            Err(bad) => (
                Status::Failed,
                Some(format!("the evaluator returned {bad}")),
                None,
            ),
        },
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
