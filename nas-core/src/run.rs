//! The ask-evaluate-tell loop of one run, written once: [`RunState::step`] is what the
//! experiment runner (`nas run`, `nas tabulate`) and the strategy test harness
//! ([`crate::testutil::Run`]) both call, so they cannot drift apart.
//!
//! The split follows argmin's Executor/Solver: a [`Strategy`] only proposes and learns; the
//! loop owns the budget ([`Limits`] against what the run has [`Spent`]), the cache of
//! architectures already evaluated in the run, the fidelities and continued trainings of
//! multi-fidelity strategies ([`crate::fidelity`]), the simulated workers, the replay of a
//! journal on resume, and the [`Observer`]s (journal writing, progress display) that see
//! every finished trial. What is specific to the caller (how a trial's seed is derived,
//! how a new trial is evaluated, which trials a journal already holds, whether the user
//! interrupted) comes through the [`TrialHost`] trait.
//!
//! ## One step
//!
//! A run has `W` workers: one (a run made with [`RunState::new`]: trials one after
//! another), or `W` simulated ones ([`RunState::simulated`]: a discrete-event simulation
//! on the trials' recorded training seconds, for tabular evaluators). One step:
//!
//! 1. while a worker is free, start a trial on it (the free worker with the lowest
//!    number):
//!    - stop starting trials once the run has spent its budget: [`Limits::evaluations`]
//!      trials started ([`StopReason::Evaluations`]), [`Limits::max_train_epochs`]
//!      epochs started ([`StopReason::Epochs`]), or the clock (below) at or past
//!      [`Limits::max_train_seconds`] ([`StopReason::Seconds`]); or, if the host reports
//!      an interruption and the journal does not hold the run's next trial to finish
//!      ([`StopReason::Interrupted`]);
//!    - ask the strategy for its next [`Proposal`] (`p`, the number of
//!      proposals so far, numbers it; its seed is the host's seed of proposal `p`, or,
//!      when it continues trial `j`, `j`'s training seed) and check it: the architecture
//!      is in the space, a fidelity is at least one epoch, a continued trial is an `ok`
//!      trial of the same architecture at fewer epochs. A strategy with nothing to
//!      propose (`None`) leaves the worker idle until the next trial ends;
//!    - with one worker, take the trial the journal recorded as trial `i` (the number of
//!      finished trials: it is the next to finish) without evaluating it again; else, if
//!      the run evaluated this architecture at this fidelity before, reuse that result
//!      (`cached`, no cost), or else have the host evaluate it (with simulated workers a
//!      resumed run evaluates again, which a table does in microseconds, and checks the
//!      result's place against the journal when it finishes);
//!    - with [`OverBudget::Discard`], if the trial would take the run past
//!      `max_train_epochs` (epochs started plus its cost) or `max_train_seconds` (its end
//!      on the clock), drop it (not recorded, the strategy is not told) and retire the
//!      worker: no trial starts on it again;
//!    - else the trial runs from the clock's time for its cost in training seconds
//!      ([`Trial::cost`]); with one worker, the clock is the training seconds of the
//!      trials so far, as before there were workers;
//! 2. if no trial is in flight, the run stops (for the reason trials stopped starting);
//! 3. else the trial in flight that ends first finishes (ties in end time: the smaller
//!    `derive_seed(trial seed, "simulated-tie", p)` first, then the smaller `p`): it
//!    becomes trial `i` (checked against the journal's trial `i` when there is one), is
//!    added to the history and to what the run has spent, is shown to every observer,
//!    and the strategy is told.
//!
//! With one worker this is exactly the sequential loop: ask, evaluate, tell. With
//! simulated workers the trials record their [`Schedule`]; the results depend on `W` (by
//! design) and on nothing else: not on real threads, workers or shards, nor on a resume
//! (which replays the simulation).

use std::error::Error as StdError;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::architecture::Architecture;
use crate::error::Error;
use crate::fidelity::{Fidelity, Proposal, Schedule};
use crate::history::History;
use crate::seed::derive_seed;
use crate::space::SearchSpace;
use crate::strategy::Strategy;
use crate::trial::{Metrics, Status, Trial};

/// What happens to the trial that takes a run past `max_train_epochs` or
/// `max_train_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverBudget {
    /// It counts: the run stops after it, so its spending may exceed the limit by up to one
    /// trial (one per simulated worker).
    #[default]
    Keep,
    /// It does not count: it is not recorded, the strategy is not told, and its worker
    /// starts nothing more (the run ends before it when there is one worker), so spending
    /// never exceeds the limit (NAS-Bench-201's protocol: "if total_time_cost + time_cost >
    /// time_budget: return").
    Discard,
}

/// The budget of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Most trials (every proposal counts: failed, diverged and cached ones too).
    pub evaluations: u32,
    /// Stop once the trials trained this many epochs in total (cached trials cost
    /// nothing, continued ones their new epochs); the last trial may overrun it.
    pub max_train_epochs: Option<f64>,
    /// Stop once the clock reaches this many seconds: the recorded training seconds of the
    /// trials (a simulated clock for tabular evaluators), or with simulated workers the
    /// simulated wall-clock time; the last trial may overrun it.
    pub max_train_seconds: Option<f64>,
    /// Whether the trial that takes the run past a limit counts.
    pub over_budget: OverBudget,
}

impl Limits {
    /// At most `evaluations` trials, no other limit.
    pub fn evaluations(evaluations: u32) -> Self {
        Limits {
            evaluations,
            max_train_epochs: None,
            max_train_seconds: None,
            over_budget: OverBudget::Keep,
        }
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It made its [`Limits::evaluations`] trials.
    Evaluations,
    /// Its trials reached [`Limits::max_train_epochs`].
    Epochs,
    /// Its trials reached [`Limits::max_train_seconds`].
    Seconds,
    /// The user interrupted it (Ctrl-C, SIGTERM) or another run failed; it resumes later.
    /// Never written as a run's end: an interrupted run has not ended.
    Interrupted,
}

impl StopReason {
    /// The name written in journals and reports.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Evaluations => "evaluations",
            StopReason::Epochs => "epochs",
            StopReason::Seconds => "seconds",
            StopReason::Interrupted => "interrupted",
        }
    }
}

/// What a run's finished trials have spent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    /// Trials finished.
    pub evaluations: u32,
    /// Training epochs of the finished trials ([`Trial::cost`]: cached trials cost
    /// nothing, continued ones their new epochs).
    pub epochs: f64,
    /// Recorded training seconds of the finished trials (their cost; with simulated
    /// workers this is the compute spent, not the time on the clock).
    pub seconds: f64,
}

impl Spent {
    fn add(&mut self, trial: &Trial) {
        self.evaluations += 1;
        let (epochs, seconds) = trial.cost();
        self.epochs += epochs;
        self.seconds += seconds;
    }
}

/// What the loop needs from its caller.
pub trait TrialHost {
    /// The seed of the run's proposal `index` (0-based, in the order the strategy
    /// proposed: with one worker, the trial's index), which proposes `arch`.
    fn trial_seed(&self, index: u32, arch: &Architecture) -> u64;

    /// Evaluates a new trial. `pending` has its index (with simulated workers, provisional:
    /// the finished trial is renumbered in the order trials end), seed, architecture and
    /// fidelity, status [`Status::Killed`] ("interrupted while training") and no metrics;
    /// the host records the evaluation's outcome into it ([`Trial::record`]) and returns
    /// it. For a trial that continues an earlier training, the host continues it when
    /// [`TrialHost::continues`], else trains it from scratch (the loop then records
    /// `prior_epochs` and `prior_seconds` 0).
    fn evaluate(&mut self, pending: Trial) -> Trial;

    /// True when the host's evaluator continues a continued trial's training (it costs
    /// the new epochs: [`crate::Evaluator::continues`]); false when it trains the trial
    /// from scratch to its fidelity, with the same seed (it costs the whole training).
    fn continues(&self) -> bool;

    /// The finished trial `index` that an earlier session of this run recorded (a
    /// resumed run replays it instead of evaluating it again).
    fn recorded(&self, _index: u32) -> Option<&Trial> {
        None
    }

    /// True when the run must stop before its next new trial.
    fn interrupted(&self) -> bool {
        false
    }
}

/// An error an observer may return (a journal that cannot be written): the run stops.
pub type ObserverError = Box<dyn StdError + Send + Sync>;

/// A finished trial, as observers see it.
#[derive(Debug, Clone, Copy)]
pub struct TrialEvent<'a> {
    /// The trial (already in `state`'s history).
    pub trial: &'a Trial,
    /// True when it was replayed from an earlier session rather than made now.
    pub replayed: bool,
    /// True when it is the run's new best ranked trial.
    pub new_best: bool,
    /// The run after the trial.
    pub state: &'a RunState,
}

/// Something that watches a run's trials (argmin's observers): the journal, the progress
/// display. Observers are called in order after each trial, before the strategy is told.
pub trait Observer {
    /// Called after each trial, as [`Observer::mode`] selects.
    fn observe(&mut self, event: &TrialEvent<'_>) -> Result<(), ObserverError>;

    /// Which trials this observer sees (default: every one).
    fn mode(&self) -> ObserverMode {
        ObserverMode::Always
    }
}

/// Which trials an observer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObserverMode {
    /// Every trial.
    Always,
    /// Only trials that become the run's best.
    NewBest,
    /// Every n-th trial (trials n-1, 2n-1, ...; 0 behaves as 1).
    Every(u32),
}

impl ObserverMode {
    fn selects(self, event: &TrialEvent<'_>) -> bool {
        match self {
            ObserverMode::Always => true,
            ObserverMode::NewBest => event.new_best,
            ObserverMode::Every(n) => (event.trial.index + 1).is_multiple_of(n.max(1)),
        }
    }
}

/// What one [`RunState::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Trial `index` finished (or was replayed) and the strategy was told.
    Trial(u32),
    /// The run stopped before another trial.
    Stopped(StopReason),
}

/// Why a step failed. The messages name the trial; the caller adds the run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StepError {
    /// The strategy could not propose.
    #[error("failed to propose trial {index}: {source}")]
    Ask {
        /// The proposal's number.
        index: u32,
        /// The strategy's error.
        source: Error,
    },
    /// The strategy proposed an architecture outside the space (a bug in the strategy).
    #[error("proposed an architecture outside the space (a bug in the strategy): {source}")]
    OutsideSpace {
        /// The proposal's number.
        index: u32,
        /// Why the architecture is not in the space.
        source: Error,
    },
    /// The strategy proposed a fidelity or a continuation the run cannot make (a bug in
    /// the strategy).
    #[error("proposal {index} of `{arch}` is not possible (a bug in the strategy): {reason}")]
    BadFidelity {
        /// The proposal's number.
        index: u32,
        /// The architecture proposed.
        arch: Box<Architecture>,
        /// What is wrong.
        reason: String,
    },
    /// The strategy had nothing to propose while no trial was in flight (a bug in the
    /// strategy: it would wait forever).
    #[error(
        "had nothing to propose for trial {index} while no trial was in flight (a bug in the strategy)"
    )]
    Stalled {
        /// The trial that was to start.
        index: u32,
    },
    /// A replayed proposal differs from the recorded trial: the record belongs to another
    /// config or version.
    #[error(
        "trial {index} was `{recorded}`{} (seed {recorded_seed}), the strategy now proposes `{proposed}`{} (seed {seed})",
        at(*recorded_epochs), at(*epochs)
    )]
    ReplayMismatch {
        /// The trial.
        index: u32,
        /// The architecture recorded.
        recorded: Box<Architecture>,
        /// The seed recorded.
        recorded_seed: u64,
        /// The fidelity recorded.
        recorded_epochs: Option<u32>,
        /// The architecture proposed now.
        proposed: Box<Architecture>,
        /// The seed derived now.
        seed: u64,
        /// The fidelity proposed now.
        epochs: Option<u32>,
    },
    /// The strategy could not learn from a trial.
    #[error("failed to learn from trial {index}: {source}")]
    Tell {
        /// The trial.
        index: u32,
        /// The strategy's error.
        source: Error,
    },
    /// An observer failed (e.g. the journal could not be written).
    #[error("{0}")]
    Observer(ObserverError),
}

/// " at N epochs" for a fidelity, nothing for the run's budget.
pub fn at(epochs: Option<u32>) -> String {
    epochs.map_or_else(String::new, |e| format!(" at {e} epochs"))
}

/// A trial started and not finished.
#[derive(Debug, Clone)]
struct Running {
    trial: Trial,
    /// Proposal number.
    proposal: u32,
    worker: u32,
    start: f64,
    end: f64,
    /// Tie-break key of the end time.
    tie: u64,
}

/// The state of one run: its history, what it has spent, and its workers (argmin's
/// `State`).
#[derive(Debug, Clone, Default)]
pub struct RunState {
    history: History,
    spent: Spent,
    /// Simulated workers (None: one worker, no schedule recorded).
    workers: Option<u32>,
    /// Proposals made (the next proposal's number).
    proposals: u32,
    /// Trials started (discarded ones not).
    started: u32,
    /// Epochs the started trials cost.
    committed_epochs: f64,
    /// The simulated clock: when the last finished trial ended.
    clock: f64,
    running: Vec<Running>,
    /// Workers retired by [`OverBudget::Discard`], with the first such reason.
    retired: Vec<u32>,
    retired_reason: Option<StopReason>,
    /// Why trials stopped starting.
    ended: Option<StopReason>,
}

impl RunState {
    /// A run before its first trial, with one worker: trials one after another.
    pub fn new() -> Self {
        RunState::default()
    }

    /// A run before its first trial, on `workers` simulated asynchronous workers (at least
    /// one): each trial runs for its cost in recorded training seconds on the simulated
    /// clock and records its [`Schedule`] (see the module docs).
    pub fn simulated(workers: u32) -> Self {
        RunState {
            workers: Some(workers.max(1)),
            ..RunState::default()
        }
    }

    /// The finished trials, in order.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// What the finished trials have spent.
    pub fn spent(&self) -> Spent {
        self.spent
    }

    /// The clock: when the last finished trial ended (with one worker, the training
    /// seconds of the trials so far).
    pub fn clock(&self) -> f64 {
        self.clock
    }

    /// Index of the next trial to finish.
    pub fn next_index(&self) -> u32 {
        self.history.len() as u32
    }

    /// Trials in flight (started, not finished).
    pub fn in_flight(&self) -> usize {
        self.running.len()
    }

    fn worker_count(&self) -> u32 {
        self.workers.unwrap_or(1)
    }

    /// Why no trial may start now, if none may (evaluations are checked first, then
    /// epochs, then seconds).
    pub fn exhausted(&self, limits: &Limits) -> Option<StopReason> {
        if self.started >= limits.evaluations {
            Some(StopReason::Evaluations)
        } else if limits
            .max_train_epochs
            .is_some_and(|m| self.committed_epochs >= m)
        {
            Some(StopReason::Epochs)
        } else if limits.max_train_seconds.is_some_and(|m| self.clock >= m) {
            Some(StopReason::Seconds)
        } else {
            None
        }
    }

    /// Why `trial`, starting now, would take the run past a limit (with
    /// [`OverBudget::Discard`], such a trial is not recorded).
    pub fn exceeded_by(&self, limits: &Limits, trial: &Trial) -> Option<StopReason> {
        let (epochs, seconds) = trial.cost();
        if limits
            .max_train_epochs
            .is_some_and(|max| self.committed_epochs + epochs > max)
        {
            Some(StopReason::Epochs)
        } else if limits
            .max_train_seconds
            .is_some_and(|max| self.clock + seconds > max)
        {
            Some(StopReason::Seconds)
        } else {
            None
        }
    }

    /// The trial the loop makes of a single-fidelity proposal of `arch` as trial `index`
    /// with `seed`, without recording it (see [`RunState::new_trial_at`]).
    pub fn new_trial(
        &self,
        index: u32,
        seed: u64,
        arch: Architecture,
        host: &mut dyn TrialHost,
        strategy: &str,
        repetition: u32,
    ) -> Trial {
        self.new_trial_at(index, seed, arch, None, host, strategy, repetition)
    }

    /// The trial the loop makes of `arch` at `fidelity` as trial `index` with `seed`,
    /// without recording it: a copy of the run's earlier trial of the same architecture
    /// at the same fidelity (`cached`, its training seconds 0: nothing was trained), or a
    /// new evaluation by `host`.
    #[allow(clippy::too_many_arguments)]
    pub fn new_trial_at(
        &self,
        index: u32,
        seed: u64,
        arch: Architecture,
        fidelity: Option<Fidelity>,
        host: &mut dyn TrialHost,
        strategy: &str,
        repetition: u32,
    ) -> Trial {
        let epochs = fidelity.as_ref().map(|f| f.epochs);
        if let Some(prev) = self.history.lookup_at(&arch, epochs) {
            return Trial {
                index,
                seed,
                cached: true,
                metrics: prev.metrics.clone().map(|m| Metrics {
                    train_seconds: 0.0,
                    ..m
                }),
                fidelity,
                schedule: None,
                ..prev.clone()
            };
        }
        host.evaluate(Trial {
            strategy: strategy.to_string(),
            repetition,
            index,
            seed,
            arch,
            status: Status::Killed,
            reason: Some("interrupted while training".into()),
            metrics: None,
            cached: false,
            fidelity,
            schedule: None,
        })
    }

    /// Adds a finished trial to the history and to what the run has spent.
    pub fn record(&mut self, trial: Trial) {
        self.spent.add(&trial);
        if self.workers.is_none() {
            self.clock += trial.cost().1;
            self.started = self.started.max(self.history.len() as u32 + 1);
            self.proposals = self.proposals.max(self.started);
            self.committed_epochs = self.spent.epochs;
        }
        self.history.push(trial);
    }

    /// The seed and fidelity of proposal `index`, checked against the run (see the module
    /// docs).
    fn resolve(
        &self,
        index: u32,
        proposal: &Proposal,
        host: &dyn TrialHost,
    ) -> Result<(u64, Option<Fidelity>), StepError> {
        let bad = |reason: String| StepError::BadFidelity {
            index,
            arch: Box::new(proposal.arch.clone()),
            reason,
        };
        let arch = &proposal.arch;
        match (proposal.epochs, proposal.continues) {
            (None, None) => Ok((host.trial_seed(index, arch), None)),
            (None, Some(j)) => Err(bad(format!(
                "it continues trial {j} without saying to how many epochs"
            ))),
            (Some(0), _) => Err(bad("a fidelity of 0 epochs".into())),
            (Some(epochs), None) => Ok((
                host.trial_seed(index, arch),
                Some(Fidelity {
                    epochs,
                    continues: None,
                    prior_epochs: 0,
                    prior_seconds: 0.0,
                }),
            )),
            (Some(epochs), Some(j)) => {
                let t = self.history.trials().get(j as usize).ok_or_else(|| {
                    bad(format!(
                        "it continues trial {j}, which has not finished ({} trials have)",
                        self.history.len()
                    ))
                })?;
                if &t.arch != arch {
                    return Err(bad(format!(
                        "it continues trial {j}, which is of `{}`",
                        t.arch
                    )));
                }
                if t.status != Status::Ok {
                    return Err(bad(format!(
                        "it continues trial {j}, which is {} (only ok trials continue)",
                        t.status
                    )));
                }
                let from = t.fidelity.as_ref().map(|f| f.epochs).ok_or_else(|| {
                    bad(format!(
                        "it continues trial {j}, which was not made at a fidelity"
                    ))
                })?;
                if from >= epochs {
                    return Err(bad(format!(
                        "it continues trial {j} (at {from} epochs) to {epochs} epochs: a continued trial trains more"
                    )));
                }
                // The training that made trial j's network: j itself, or for a cached j
                // the run's first trial of that architecture at that fidelity.
                let source = if t.cached {
                    self.history
                        .lookup_at(arch, Some(from))
                        .filter(|s| !s.cached && s.status == Status::Ok)
                        .ok_or_else(|| bad(format!("trial {j} has no training to continue")))?
                } else {
                    t
                };
                let seconds = source.metrics.as_ref().map_or(0.0, |m| m.train_seconds);
                // An evaluator that cannot continue trains the trial from scratch.
                let (prior_epochs, prior_seconds) = if host.continues() {
                    (from, seconds)
                } else {
                    (0, 0.0)
                };
                Ok((
                    source.seed,
                    Some(Fidelity {
                        epochs,
                        continues: Some(j),
                        prior_epochs,
                        prior_seconds,
                    }),
                ))
            }
        }
    }

    /// Starts trials on the free workers (step 1 of the module docs). Returns
    /// `Some(Interrupted)` when the host interrupted the run.
    #[allow(clippy::too_many_arguments)]
    fn start_trials(
        &mut self,
        strategy: &mut dyn Strategy,
        space: &SearchSpace,
        limits: &Limits,
        host: &mut dyn TrialHost,
        strategy_name: &str,
        repetition: u32,
    ) -> Result<Option<StopReason>, StepError> {
        while self.ended.is_none() {
            if let Some(reason) = self.exhausted(limits) {
                self.ended = Some(reason);
                break;
            }
            let Some(worker) = (0..self.worker_count()).find(|w| {
                !self.retired.contains(w) && !self.running.iter().any(|r| r.worker == *w)
            }) else {
                break;
            };
            // With one worker, the trial started now is the next to finish: a recorded
            // one is replayed without evaluating it.
            let place =
                (self.worker_count() == 1 && self.running.is_empty()).then(|| self.next_index());
            let recorded = host.recorded(self.next_index()).is_some();
            if !recorded && host.interrupted() {
                return Ok(Some(StopReason::Interrupted));
            }
            let index = self.proposals;
            let proposal = strategy
                .propose(&self.history)
                .map_err(|source| StepError::Ask { index, source })?;
            let Some(proposal) = proposal else {
                if self.running.is_empty() {
                    match self.retired_reason {
                        Some(reason) => self.ended = Some(reason),
                        None => {
                            return Err(StepError::Stalled {
                                index: self.next_index(),
                            });
                        }
                    }
                }
                break;
            };
            space
                .contains(&proposal.arch)
                .map_err(|source| StepError::OutsideSpace { index, source })?;
            let (seed, fidelity) = self.resolve(index, &proposal, host)?;
            self.proposals += 1;
            let trial = match place.and_then(|i| host.recorded(i)) {
                Some(rec) => {
                    check_replay(
                        place.unwrap_or(index),
                        rec,
                        &proposal.arch,
                        seed,
                        fidelity.as_ref(),
                    )?;
                    rec.clone()
                }
                None => self.new_trial_at(
                    place.unwrap_or(index),
                    seed,
                    proposal.arch,
                    fidelity,
                    host,
                    strategy_name,
                    repetition,
                ),
            };
            if limits.over_budget == OverBudget::Discard
                && let Some(reason) = self.exceeded_by(limits, &trial)
            {
                self.retired.push(worker);
                self.retired_reason.get_or_insert(reason);
                if self.running.is_empty() && self.retired.len() as u32 == self.worker_count() {
                    self.ended = Some(reason);
                }
                continue;
            }
            let (epochs, seconds) = trial.cost();
            let start = self.clock;
            self.started += 1;
            self.committed_epochs += epochs;
            self.running.push(Running {
                tie: derive_seed(trial.seed, "simulated-tie", u64::from(index)),
                trial,
                proposal: index,
                worker,
                start,
                end: start + seconds,
            });
        }
        Ok(None)
    }

    /// One ask-evaluate-tell step (see the module docs): returns when a trial finishes
    /// or the run stops. `strategy_name` and `repetition` label new trials.
    ///
    /// # Errors
    /// A [`StepError`]; the run cannot go on (the trials before are safe with the
    /// observers).
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        strategy: &mut dyn Strategy,
        space: &SearchSpace,
        limits: &Limits,
        host: &mut dyn TrialHost,
        observers: &mut [&mut dyn Observer],
        strategy_name: &str,
        repetition: u32,
    ) -> Result<Step, StepError> {
        if let Some(reason) =
            self.start_trials(strategy, space, limits, host, strategy_name, repetition)?
        {
            return Ok(Step::Stopped(reason));
        }
        let Some(next) = (0..self.running.len()).min_by(|&a, &b| {
            let (a, b) = (&self.running[a], &self.running[b]);
            a.end
                .total_cmp(&b.end)
                .then(a.tie.cmp(&b.tie))
                .then(a.proposal.cmp(&b.proposal))
        }) else {
            let reason = self
                .ended
                .or(self.retired_reason)
                .expect("a run with nothing in flight has stopped starting trials");
            return Ok(Step::Stopped(reason));
        };
        let done = self.running.swap_remove(next);
        let index = self.next_index();
        let mut trial = done.trial;
        trial.index = index;
        if self.workers.is_some() {
            trial.schedule = Some(Schedule {
                worker: done.worker,
                start: done.start,
                end: done.end,
            });
        }
        let replayed = match host.recorded(index) {
            Some(rec) => {
                check_replay(index, rec, &trial.arch, trial.seed, trial.fidelity.as_ref())?;
                trial = rec.clone();
                true
            }
            None => false,
        };
        self.clock = self.clock.max(done.end);
        let before = self.history.best().map(|t| t.index);
        self.spent.add(&trial);
        self.history.push(trial);
        let trial = self.history.trials().last().expect("just recorded");
        let event = TrialEvent {
            trial,
            replayed,
            new_best: self.history.best().map(|t| t.index) != before,
            state: self,
        };
        for observer in observers.iter_mut() {
            if observer.mode().selects(&event) {
                observer.observe(&event).map_err(StepError::Observer)?;
            }
        }
        let trial = trial.clone();
        strategy
            .tell(&trial)
            .map_err(|source| StepError::Tell { index, source })?;
        Ok(Step::Trial(index))
    }
}

/// Checks a replayed proposal against the journal's trial.
fn check_replay(
    index: u32,
    rec: &Trial,
    arch: &Architecture,
    seed: u64,
    fidelity: Option<&Fidelity>,
) -> Result<(), StepError> {
    let shape = |f: Option<&Fidelity>| f.map(|f| (f.epochs, f.continues));
    if &rec.arch != arch || rec.seed != seed || shape(rec.fidelity.as_ref()) != shape(fidelity) {
        return Err(StepError::ReplayMismatch {
            index,
            recorded: Box::new(rec.arch.clone()),
            recorded_seed: rec.seed,
            recorded_epochs: rec.fidelity.as_ref().map(|f| f.epochs),
            proposed: Box::new(arch.clone()),
            seed,
            epochs: fidelity.map(|f| f.epochs),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluator::Evaluation;
    use crate::fidelity::Proposal;
    use crate::trial::Metrics as M;

    /// Proposes the same two architectures in turn; counts tells.
    struct Alternate {
        archs: [Architecture; 2],
        next: usize,
        told: usize,
    }

    impl Strategy for Alternate {
        fn ask(&mut self, _history: &History) -> crate::Result<Architecture> {
            let a = self.archs[self.next % 2].clone();
            self.next += 1;
            Ok(a)
        }
        fn tell(&mut self, _trial: &Trial) -> crate::Result<()> {
            self.told += 1;
            Ok(())
        }
    }

    /// Scores by depth; every evaluation trains 1 epoch for 2 seconds.
    struct Host {
        evaluated: usize,
        recorded: Vec<Trial>,
        stop: bool,
    }

    impl TrialHost for Host {
        fn trial_seed(&self, index: u32, _arch: &Architecture) -> u64 {
            u64::from(index) * 10
        }
        fn continues(&self) -> bool {
            true
        }
        fn evaluate(&mut self, mut pending: Trial) -> Trial {
            self.evaluated += 1;
            pending.record(Ok(Evaluation {
                status: Status::Ok,
                reason: None,
                metrics: M {
                    val_acc: Some(pending.arch.as_chain().unwrap().depth() as f64 / 10.0),
                    epochs: 1.0,
                    train_seconds: 2.0,
                    ..M::default()
                },
            }));
            pending
        }
        fn recorded(&self, index: u32) -> Option<&Trial> {
            self.recorded.get(index as usize)
        }
        fn interrupted(&self) -> bool {
            self.stop
        }
    }

    struct Count(usize, ObserverMode);
    impl Observer for Count {
        fn observe(&mut self, _event: &TrialEvent<'_>) -> Result<(), ObserverError> {
            self.0 += 1;
            Ok(())
        }
        fn mode(&self) -> ObserverMode {
            self.1
        }
    }

    fn space() -> SearchSpace {
        use crate::layer::Activation;
        use crate::shape::InputShape;
        use crate::space::{ChainParams, DenseChoices, SearchSpaceParams};
        SearchSpaceParams::from(ChainParams {
            min_layers: 1,
            max_layers: 2,
            conv2d: None,
            maxpool2d: false,
            dense: Some(DenseChoices {
                units: vec![16],
                activations: vec![Activation::Relu],
            }),
            dropout: None,
        })
        .check(InputShape::new(1, 4, 4))
        .unwrap()
    }

    fn strategy() -> Alternate {
        Alternate {
            archs: [
                "dense16-relu".parse().unwrap(),
                "dense16-relu > dense16-relu".parse().unwrap(),
            ],
            next: 0,
            told: 0,
        }
    }

    fn run(limits: Limits, host: &mut Host) -> (RunState, StopReason, [usize; 3], usize) {
        let space = space();
        let mut s = strategy();
        let mut state = RunState::new();
        let (mut all, mut best, mut every2) = (
            Count(0, ObserverMode::Always),
            Count(0, ObserverMode::NewBest),
            Count(0, ObserverMode::Every(2)),
        );
        let reason = loop {
            let mut observers: [&mut dyn Observer; 3] = [&mut all, &mut best, &mut every2];
            match state
                .step(&mut s, &space, &limits, host, &mut observers, "t", 0)
                .unwrap()
            {
                Step::Trial(_) => {}
                Step::Stopped(r) => break r,
            }
        };
        (state, reason, [all.0, best.0, every2.0], s.told)
    }

    #[test]
    fn repeats_are_cached_and_limits_stop_the_run() {
        let mut host = Host {
            evaluated: 0,
            recorded: Vec::new(),
            stop: false,
        };
        let (state, reason, seen, told) = run(Limits::evaluations(5), &mut host);
        assert_eq!(reason, StopReason::Evaluations);
        assert_eq!(
            (host.evaluated, told),
            (2, 5),
            "repeats are not evaluated again"
        );
        let t = state.history().trials();
        assert!(t[2].cached && t[2].seed == 20 && t[2].index == 2);
        assert_eq!(t[2].metrics.as_ref().unwrap().train_seconds, 0.0);
        assert_eq!(state.spent().epochs, 2.0);
        assert_eq!(seen, [5, 2, 2], "always, new best, every second");

        let limits = Limits {
            max_train_seconds: Some(3.0),
            ..Limits::evaluations(5)
        };
        let mut host = Host {
            evaluated: 0,
            recorded: Vec::new(),
            stop: false,
        };
        let (state, reason, ..) = run(limits, &mut host);
        // Each new trial trains 2 s: the second takes the run to 4 s and counts.
        assert_eq!((reason, state.history().len()), (StopReason::Seconds, 2));
        assert_eq!(state.spent().seconds, 4.0);
        let discard = Limits {
            over_budget: OverBudget::Discard,
            ..limits
        };
        let mut host = Host {
            evaluated: 0,
            recorded: Vec::new(),
            stop: false,
        };
        let (state, reason, _, told) = run(discard, &mut host);
        // The second would take it to 4 s > 3 s: it is evaluated but neither recorded
        // nor told, and the run ends within its budget.
        assert_eq!(
            (reason, state.history().len(), told),
            (StopReason::Seconds, 1, 1)
        );
        assert_eq!((state.spent().seconds, host.evaluated), (2.0, 2));
    }

    #[test]
    fn recorded_trials_replay_and_interruptions_stop_before_new_trials() {
        let mut first = Host {
            evaluated: 0,
            recorded: Vec::new(),
            stop: false,
        };
        let (state, ..) = run(Limits::evaluations(3), &mut first);
        let mut resumed = Host {
            evaluated: 0,
            recorded: state.history().trials().to_vec(),
            stop: true,
        };
        let (again, reason, ..) = run(Limits::evaluations(5), &mut resumed);
        assert_eq!(reason, StopReason::Interrupted);
        assert_eq!(resumed.evaluated, 0);
        assert_eq!(again.history().trials(), state.history().trials());

        let mut wrong = Host {
            evaluated: 0,
            recorded: vec![state.history().trials()[1].clone()],
            stop: false,
        };
        let space = space();
        let err = RunState::new()
            .step(
                &mut strategy(),
                &space,
                &Limits::evaluations(1),
                &mut wrong,
                &mut [],
                "t",
                0,
            )
            .unwrap_err();
        assert!(
            matches!(err, StepError::ReplayMismatch { index: 0, .. }),
            "{err}"
        );
    }

    /// Proposes a fixed script (None: wait), then repeats its last entry; records tells.
    struct Scripted {
        script: Vec<Option<Proposal>>,
        next: usize,
        told: Vec<u32>,
    }

    impl Strategy for Scripted {
        fn ask(&mut self, _history: &History) -> crate::Result<Architecture> {
            unreachable!("the loop calls propose")
        }
        fn tell(&mut self, trial: &Trial) -> crate::Result<()> {
            self.told.push(trial.index);
            Ok(())
        }
        fn propose(&mut self, _history: &History) -> crate::Result<Option<Proposal>> {
            let p = self.script[self.next.min(self.script.len() - 1)].clone();
            self.next += 1;
            Ok(p)
        }
    }

    /// Trains `epochs` (the fidelity, else 1) at depth seconds per epoch; the score
    /// grows with depth and epochs; seeds are 100 + proposal number.
    struct Timed {
        evaluated: Vec<(Architecture, Option<u32>, u32)>,
        recorded: Vec<Trial>,
    }

    impl TrialHost for Timed {
        fn trial_seed(&self, index: u32, _arch: &Architecture) -> u64 {
            100 + u64::from(index)
        }
        fn continues(&self) -> bool {
            true
        }
        fn evaluate(&mut self, mut pending: Trial) -> Trial {
            let epochs = pending.fidelity.as_ref().map_or(1, |f| f.epochs);
            let prior = pending.fidelity.as_ref().map_or(0, |f| f.prior_epochs);
            self.evaluated.push((
                pending.arch.clone(),
                pending.fidelity.as_ref().map(|f| f.epochs),
                prior,
            ));
            let depth = pending.arch.as_chain().unwrap().depth() as f64;
            pending.record(Ok(Evaluation {
                status: Status::Ok,
                reason: None,
                metrics: M {
                    val_acc: Some(depth / 10.0 + f64::from(epochs) / 100.0),
                    epochs: f64::from(epochs),
                    train_seconds: depth * f64::from(epochs),
                    ..M::default()
                },
            }));
            pending
        }
        fn recorded(&self, index: u32) -> Option<&Trial> {
            self.recorded.get(index as usize)
        }
    }

    fn timed() -> Timed {
        Timed {
            evaluated: Vec::new(),
            recorded: Vec::new(),
        }
    }

    fn scripted(script: Vec<Option<Proposal>>) -> Scripted {
        Scripted {
            script,
            next: 0,
            told: Vec::new(),
        }
    }

    fn a() -> Architecture {
        "dense16-relu".parse().unwrap()
    }

    fn b() -> Architecture {
        "dense16-relu > dense16-relu".parse().unwrap()
    }

    /// Runs to the end; the stop reason or the step error.
    fn drive(
        state: &mut RunState,
        s: &mut Scripted,
        limits: Limits,
        host: &mut Timed,
    ) -> Result<StopReason, StepError> {
        let space = space();
        loop {
            match state.step(s, &space, &limits, host, &mut [], "t", 0)? {
                Step::Trial(_) => {}
                Step::Stopped(r) => return Ok(r),
            }
        }
    }

    #[test]
    fn a_continued_trial_keeps_its_seed_and_costs_its_new_epochs() {
        let mut s = scripted(vec![
            Some(Proposal::at(a(), 1)),
            Some(Proposal::continuing(a(), 0, 3)),
            Some(Proposal::at(b(), 3)),
            Some(Proposal::continuing(a(), 1, 9)),
            Some(Proposal::at(a(), 3)),
        ]);
        let mut host = timed();
        let mut state = RunState::new();
        let reason = drive(&mut state, &mut s, Limits::evaluations(5), &mut host).unwrap();
        assert_eq!(reason, StopReason::Evaluations);
        let t = state.history().trials();
        assert_eq!(t[0].seed, 100);
        assert_eq!(
            (t[1].seed, t[3].seed),
            (100, 100),
            "continuations keep the seed"
        );
        assert_eq!(t[2].seed, 102);
        let f = t[3].fidelity.as_ref().unwrap();
        assert_eq!((f.epochs, f.continues, f.prior_epochs), (9, Some(1), 3));
        assert_eq!(f.prior_seconds, 3.0, "trial 1 trained 3 epochs of 1 s");
        assert_eq!(t[3].cost(), (6.0, 6.0));
        // A@3 again: the run has it (trial 1), so it is cached and costs nothing.
        assert!(t[4].cached && t[4].cost() == (0.0, 0.0));
        assert_eq!(host.evaluated.len(), 4);
        assert_eq!(host.evaluated[1], (a(), Some(3), 1));
        // Spent: 1 + 2 + 3 + 6 epochs; seconds 1 + 2 + 6 + 6.
        assert_eq!(state.spent().epochs, 12.0);
        assert_eq!((state.spent().seconds, state.clock()), (15.0, 15.0));
        assert_eq!(s.told, vec![0, 1, 2, 3, 4]);
        assert!(
            t.iter().all(|t| t.schedule.is_none()),
            "one worker: no schedule"
        );

        // The epochs budget counts the continuation's cost only: 1 + 2 = 3 epochs.
        let mut s = scripted(vec![
            Some(Proposal::at(a(), 1)),
            Some(Proposal::continuing(a(), 0, 3)),
            Some(Proposal::at(b(), 3)),
        ]);
        let limits = Limits {
            max_train_epochs: Some(3.0),
            ..Limits::evaluations(10)
        };
        let mut state = RunState::new();
        let reason = drive(&mut state, &mut s, limits, &mut timed()).unwrap();
        assert_eq!((reason, state.history().len()), (StopReason::Epochs, 2));
    }

    #[test]
    fn impossible_fidelities_and_continuations_are_strategy_errors() {
        for (script, needle) in [
            (vec![Some(Proposal::at(a(), 0))], "0 epochs"),
            (
                vec![Some(Proposal::continuing(a(), 0, 3))],
                "has not finished",
            ),
            (
                vec![
                    Some(Proposal::at(b(), 1)),
                    Some(Proposal::continuing(a(), 0, 3)),
                ],
                "which is of",
            ),
            (
                vec![
                    Some(Proposal::at(a(), 3)),
                    Some(Proposal::continuing(a(), 0, 3)),
                ],
                "trains more",
            ),
            (
                vec![
                    Some(Proposal::new(a())),
                    Some(Proposal::continuing(a(), 0, 3)),
                ],
                "not made at a fidelity",
            ),
            (
                vec![
                    Some(Proposal::at(a(), 1)),
                    Some(Proposal {
                        continues: Some(0),
                        ..Proposal::new(a())
                    }),
                ],
                "without saying",
            ),
            (vec![None], "nothing to propose"),
        ] {
            let mut state = RunState::new();
            let err = drive(
                &mut state,
                &mut scripted(script),
                Limits::evaluations(2),
                &mut timed(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn simulated_workers_finish_trials_in_clock_order() {
        // Three workers: B@3 (6 s), A@1 (1 s), A@2 (2 s) start at 0; then B@1 (2 s)
        // starts at 1 when A@1 ends, A@3 (3 s) at 2, ...
        let script = vec![
            Some(Proposal::at(b(), 3)),
            Some(Proposal::at(a(), 1)),
            Some(Proposal::at(a(), 2)),
            Some(Proposal::at(b(), 1)),
            Some(Proposal::at(a(), 3)),
            Some(Proposal::at(b(), 2)),
        ];
        let mut s = scripted(script.clone());
        let mut host = timed();
        let mut state = RunState::simulated(3);
        let reason = drive(&mut state, &mut s, Limits::evaluations(6), &mut host).unwrap();
        assert_eq!(reason, StopReason::Evaluations);
        let t = state.history().trials();
        let order: Vec<(u64, u32, f64, f64)> = t
            .iter()
            .map(|t| {
                let sc = t.schedule.unwrap();
                (t.seed - 100, sc.worker, sc.start, sc.end)
            })
            .collect();
        assert_eq!(
            order,
            vec![
                (1, 1, 0.0, 1.0),
                (2, 2, 0.0, 2.0),
                (3, 1, 1.0, 3.0),
                (4, 2, 2.0, 5.0),
                (0, 0, 0.0, 6.0),
                (5, 1, 3.0, 7.0),
            ]
        );
        assert_eq!(state.clock(), 7.0);
        assert_eq!(state.spent().seconds, 18.0, "compute spent, not the clock");
        assert_eq!(s.told, vec![0, 1, 2, 3, 4, 5]);

        // Replayed from its record it gives the same trials; a wrong record is refused.
        let mut replay = timed();
        replay.recorded = t.to_vec();
        let mut again = RunState::simulated(3);
        drive(
            &mut again,
            &mut scripted(script.clone()),
            Limits::evaluations(6),
            &mut replay,
        )
        .unwrap();
        assert_eq!(again.history().trials(), t);
        let mut wrong = timed();
        wrong.recorded = t.to_vec();
        wrong.recorded.swap(0, 1);
        let err = drive(
            &mut RunState::simulated(3),
            &mut scripted(script.clone()),
            Limits::evaluations(6),
            &mut wrong,
        )
        .unwrap_err();
        assert!(
            matches!(err, StepError::ReplayMismatch { index: 0, .. }),
            "{err}"
        );

        // One simulated worker is the sequential loop, with a schedule.
        let mut one = RunState::simulated(1);
        drive(
            &mut one,
            &mut scripted(script.clone()),
            Limits::evaluations(6),
            &mut timed(),
        )
        .unwrap();
        let mut seq = RunState::new();
        drive(
            &mut seq,
            &mut scripted(script),
            Limits::evaluations(6),
            &mut timed(),
        )
        .unwrap();
        let strip = |h: &History| -> Vec<Trial> {
            h.trials()
                .iter()
                .map(|t| Trial {
                    schedule: None,
                    ..t.clone()
                })
                .collect()
        };
        assert_eq!(strip(one.history()), strip(seq.history()));
        assert_eq!(one.clock(), seq.clock());
    }

    #[test]
    fn a_waiting_strategy_idles_workers_and_discard_retires_them() {
        // Two workers; the strategy waits after its first two proposals until told.
        let mut s = scripted(vec![
            Some(Proposal::at(b(), 2)),
            Some(Proposal::at(a(), 1)),
            None,
            Some(Proposal::at(b(), 1)),
        ]);
        let mut state = RunState::simulated(2);
        drive(&mut state, &mut s, Limits::evaluations(4), &mut timed()).unwrap();
        let ends: Vec<f64> = state
            .history()
            .trials()
            .iter()
            .map(|t| t.schedule.unwrap().end)
            .collect();
        // A@1 ends at 1: the strategy waits (worker idle), and is asked again when B@2
        // ends at 4; B@1 then runs 4..6 and the repeated B@1 is cached.
        assert_eq!(ends, vec![1.0, 4.0, 6.0, 6.0]);

        // Discard: a trial that would end past 5 s is dropped and its worker retires;
        // the other worker goes on while its trials fit.
        let mut s = scripted(vec![
            Some(Proposal::at(b(), 3)),
            Some(Proposal::at(a(), 1)),
            Some(Proposal::at(a(), 2)),
            Some(Proposal::at(a(), 3)),
        ]);
        let limits = Limits {
            max_train_seconds: Some(5.0),
            over_budget: OverBudget::Discard,
            ..Limits::evaluations(10)
        };
        let mut state = RunState::simulated(2);
        let reason = drive(&mut state, &mut s, limits, &mut timed()).unwrap();
        let t = state.history().trials();
        assert_eq!(reason, StopReason::Seconds);
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(t.iter().all(|t| t.schedule.unwrap().end <= 5.0));
    }
}
