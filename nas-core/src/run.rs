//! The ask-evaluate-tell loop of one run, written once: [`RunState::step`] is what the
//! experiment runner (`nas run`, `nas tabulate`) and the strategy test harness
//! ([`crate::testutil::Run`]) both call, so they cannot drift apart.
//!
//! The split follows argmin's Executor/Solver: a [`Strategy`] only proposes and learns; the
//! loop owns the budget ([`Limits`] against what the run has [`Spent`]), the cache of
//! architectures already evaluated in the run, the replay of a journal on resume, and
//! the [`Observer`]s (journal writing, progress display) that see every finished trial.
//! What is specific to the caller (how a trial's seed is derived, how a new trial is
//! evaluated, which trials a journal already holds, whether the user interrupted) comes
//! through the [`TrialHost`] trait.
//!
//! One step:
//!
//! 1. stop if the run has spent its budget ([`StopReason::Evaluations`],
//!    [`StopReason::Epochs`], [`StopReason::Seconds`]), or if the host reports an
//!    interruption and the next trial is not already recorded
//!    ([`StopReason::Interrupted`]);
//! 2. ask the strategy for trial `i` (the number of trials so far) and check that the
//!    proposal is in the space;
//! 3. take the trial the journal recorded for `i` (checking that it is the same
//!    architecture and seed), or else, if the run evaluated this architecture before,
//!    reuse that result (`cached`, no training time), or else have the host evaluate it;
//! 4. with [`OverBudget::Discard`], end the run instead if the trial would take it past
//!    `max_train_epochs` or `max_train_seconds`;
//! 5. add it to the history and to what the run has spent, show it to every observer,
//!    and tell the strategy.
//!
//! A later per-trial fidelity (a strategy asking for an architecture *at a budget*) fits
//! here: the proposal and the pending [`Trial`] handed to [`TrialHost::evaluate`] are the
//! places that would carry it.

use std::error::Error as StdError;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::architecture::Architecture;
use crate::error::Error;
use crate::history::History;
use crate::space::SearchSpace;
use crate::strategy::Strategy;
use crate::trial::{Metrics, Status, Trial};

/// What happens to the trial that takes a run past `max_train_epochs` or
/// `max_train_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverBudget {
    /// It counts: the run stops after it, so its spending may exceed the limit by up to one
    /// trial.
    #[default]
    Keep,
    /// It does not count: it is not recorded, the strategy is not told, and the run ends
    /// before it, so spending never exceeds the limit (NAS-Bench-201's protocol: "if
    /// total_time_cost + time_cost > time_budget: return").
    Discard,
}

/// The budget of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Most trials (every proposal counts: failed, diverged and cached ones too).
    pub evaluations: u32,
    /// Stop once the trials trained this many epochs in total (cached trials cost
    /// nothing); the last trial may overrun it.
    pub max_train_epochs: Option<f64>,
    /// Stop once the trials' recorded training seconds reach this (a simulated clock for
    /// tabular evaluators); the last trial may overrun it.
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

/// What a run has spent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    /// Trials made.
    pub evaluations: u32,
    /// Training epochs of the trials that trained (cached trials cost nothing).
    pub epochs: f64,
    /// Recorded training seconds of the trials that trained.
    pub seconds: f64,
}

impl Spent {
    fn add(&mut self, trial: &Trial) {
        self.evaluations += 1;
        if let Some(m) = trial.metrics.as_ref().filter(|_| !trial.cached) {
            self.epochs += m.epochs;
            self.seconds += m.train_seconds;
        }
    }
}

/// What the loop needs from its caller.
pub trait TrialHost {
    /// The seed of trial `index`, which proposes `arch`.
    fn trial_seed(&self, index: u32, arch: &Architecture) -> u64;

    /// Evaluates a new trial. `pending` has its index, seed and architecture, status
    /// [`Status::Killed`] ("interrupted while training") and no metrics; the host
    /// records the evaluation's outcome into it ([`Trial::record`]) and returns it.
    fn evaluate(&mut self, pending: Trial) -> Trial;

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
        /// The trial.
        index: u32,
        /// The strategy's error.
        source: Error,
    },
    /// The strategy proposed an architecture outside the space (a bug in the strategy).
    #[error("proposed an architecture outside the space (a bug in the strategy): {source}")]
    OutsideSpace {
        /// The trial.
        index: u32,
        /// Why the architecture is not in the space.
        source: Error,
    },
    /// A replayed proposal differs from the recorded trial: the record belongs to another
    /// config or version.
    #[error(
        "trial {index} was `{recorded}` (seed {recorded_seed}), the strategy now proposes `{proposed}` (seed {seed})"
    )]
    ReplayMismatch {
        /// The trial.
        index: u32,
        /// The architecture recorded.
        recorded: Box<Architecture>,
        /// The seed recorded.
        recorded_seed: u64,
        /// The architecture proposed now.
        proposed: Box<Architecture>,
        /// The seed derived now.
        seed: u64,
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

/// The state of one run: its history and what it has spent (argmin's `State`).
#[derive(Debug, Clone, Default)]
pub struct RunState {
    history: History,
    spent: Spent,
}

impl RunState {
    /// A run before its first trial.
    pub fn new() -> Self {
        RunState::default()
    }

    /// The finished trials, in order.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// What the run has spent.
    pub fn spent(&self) -> Spent {
        self.spent
    }

    /// Index of the next trial.
    pub fn next_index(&self) -> u32 {
        self.spent.evaluations
    }

    /// Why the run must stop before its next trial, if it must (evaluations are checked
    /// first, then epochs, then seconds).
    pub fn exhausted(&self, limits: &Limits) -> Option<StopReason> {
        let s = &self.spent;
        if s.evaluations >= limits.evaluations {
            Some(StopReason::Evaluations)
        } else if limits.max_train_epochs.is_some_and(|m| s.epochs >= m) {
            Some(StopReason::Epochs)
        } else if limits.max_train_seconds.is_some_and(|m| s.seconds >= m) {
            Some(StopReason::Seconds)
        } else {
            None
        }
    }

    /// Why `trial` would take the run past a limit (with [`OverBudget::Discard`], such a
    /// trial is not recorded and the run ends).
    pub fn exceeded_by(&self, limits: &Limits, trial: &Trial) -> Option<StopReason> {
        let m = trial.metrics.as_ref().filter(|_| !trial.cached)?;
        let s = &self.spent;
        if limits
            .max_train_epochs
            .is_some_and(|max| s.epochs + m.epochs > max)
        {
            Some(StopReason::Epochs)
        } else if limits
            .max_train_seconds
            .is_some_and(|max| s.seconds + m.train_seconds > max)
        {
            Some(StopReason::Seconds)
        } else {
            None
        }
    }

    /// The trial the loop makes of `arch` as trial `index` with `seed`, without recording
    /// it: a copy of the run's earlier trial of the same architecture (`cached`, its
    /// training seconds 0: nothing was trained), or a new evaluation by `host`.
    pub fn new_trial(
        &self,
        index: u32,
        seed: u64,
        arch: Architecture,
        host: &mut dyn TrialHost,
        strategy: &str,
        repetition: u32,
    ) -> Trial {
        if let Some(prev) = self.history.lookup(&arch) {
            return Trial {
                index,
                seed,
                cached: true,
                metrics: prev.metrics.clone().map(|m| Metrics {
                    train_seconds: 0.0,
                    ..m
                }),
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
        })
    }

    /// Adds a finished trial to the history and to what the run has spent.
    pub fn record(&mut self, trial: Trial) {
        self.spent.add(&trial);
        self.history.push(trial);
    }

    /// One ask-evaluate-tell step (see the module docs). `strategy_name` and
    /// `repetition` label new trials.
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
        if let Some(reason) = self.exhausted(limits) {
            return Ok(Step::Stopped(reason));
        }
        let index = self.next_index();
        let replayed = host.recorded(index).is_some();
        if !replayed && host.interrupted() {
            return Ok(Step::Stopped(StopReason::Interrupted));
        }
        let arch = strategy
            .ask(&self.history)
            .map_err(|source| StepError::Ask { index, source })?;
        space
            .contains(&arch)
            .map_err(|source| StepError::OutsideSpace { index, source })?;
        let seed = host.trial_seed(index, &arch);
        let trial = match host.recorded(index) {
            Some(rec) => {
                if rec.arch != arch || rec.seed != seed {
                    return Err(StepError::ReplayMismatch {
                        index,
                        recorded: Box::new(rec.arch.clone()),
                        recorded_seed: rec.seed,
                        proposed: Box::new(arch),
                        seed,
                    });
                }
                rec.clone()
            }
            None => self.new_trial(index, seed, arch, host, strategy_name, repetition),
        };
        if limits.over_budget == OverBudget::Discard
            && let Some(reason) = self.exceeded_by(limits, &trial)
        {
            return Ok(Step::Stopped(reason));
        }
        let before = self.history.best().map(|t| t.index);
        self.record(trial);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluator::Evaluation;
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
}
