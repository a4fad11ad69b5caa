//! [`TrainingEvaluator`]: the [`Evaluator`] that trains architectures on real data.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use nas_core::{
    ArchId, Architecture, Budget, Cost, EpochScore, EvalError, EvalRequest, Evaluation, Evaluator,
    Metrics, Status, rng_from_seed,
};
use rand::seq::SliceRandom;

use crate::backend::TrainState;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::input::Normalizer;
use crate::memory::{self, MachineMemory, MemoryGate};
use crate::model::Network;
use crate::params::TrainValidParams;
use crate::seeds::{streams, trial_stream};
use crate::trainer::{self, RunData, Score, Span};

/// Most bytes of training states a [`TrainingEvaluator`] keeps for continuing trainings
/// (512 MiB); the oldest are dropped first (a continuation without its state retrains
/// the epochs before it, with the same result).
pub const KEPT_STATES_BYTES: usize = 512 << 20;

/// A training stopped at a fidelity below its budget, kept to be continued.
struct Kept {
    /// Architecture, trial seed and the budget (whose epochs the schedule spans).
    key: (ArchId, u64, String),
    /// Epochs trained.
    epochs: u32,
    state: TrainState,
    /// Training seconds up to `epochs`.
    seconds: f64,
    /// The learning curve up to `epochs`.
    curve: Vec<EpochScore>,
}

/// The kept trainings, oldest first, and how many continuations used one.
#[derive(Default)]
struct KeptStates {
    states: VecDeque<Kept>,
    bytes: usize,
    continued: u64,
}

impl KeptStates {
    /// The most advanced kept training of `key` below `epochs`.
    fn best_below(&self, key: &(ArchId, u64, String), epochs: u32) -> Option<&Kept> {
        self.states
            .iter()
            .filter(|k| &k.key == key && k.epochs < epochs)
            .max_by_key(|k| k.epochs)
    }

    fn keep(&mut self, kept: Kept) {
        if self
            .states
            .iter()
            .any(|k| k.key == kept.key && k.epochs == kept.epochs)
        {
            return;
        }
        self.bytes += kept.state.bytes();
        self.states.push_back(kept);
        while self.bytes > KEPT_STATES_BYTES {
            match self.states.pop_front() {
                Some(old) => self.bytes -= old.state.bytes(),
                None => break,
            }
        }
    }
}

/// Everything one training run measured (the evaluator's [`Metrics`] plus throughput).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// `Ok` or `Diverged`.
    pub status: Status,
    /// Why it diverged.
    pub reason: Option<String>,
    /// The metrics.
    pub metrics: Metrics,
    /// Training images per second of training wall-clock time.
    pub train_img_per_s: Option<f64>,
}

/// Trains and scores architectures: train on `split.train` (or the first
/// `budget.train_subset` images of a fixed permutation of it), score on `split.val`,
/// and on the test set only when a request asks for it.
///
/// Determinism: everything but `train_seconds` is a function of (architecture, budget,
/// trial seed, parameters, data). The trial seed feeds [`streams`] for weight
/// initialisation, batch order and dropout; the training subset comes from
/// `params.subset_seed`, the same for every trial. With the native backend the result
/// does not depend on `params.threads`.
///
/// Memory: every trial's need is estimated before its network is built
/// ([`memory::estimate`]); a trial above the limit ([`TrainingEvaluator::memory_limit`])
/// is refused with an error naming both, and trials running at once share the machine's
/// budget through a [`MemoryGate`] (see [`crate::memory`]).
pub struct TrainingEvaluator {
    dataset: Arc<Dataset>,
    split: Split,
    params: TrainValidParams,
    norm: Normalizer,
    subset_order: Vec<u32>,
    machine: MachineMemory,
    gate: MemoryGate,
    kept: Mutex<KeptStates>,
}

/// The memory limit of one trial and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Bytes.
    pub bytes: u64,
    /// True when it comes from `max_memory` (the same on every machine), false when it is
    /// the machine's budget.
    pub configured: bool,
    /// Where it comes from, for messages and manifests.
    pub source: String,
}

impl std::fmt::Debug for TrainingEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingEvaluator")
            .field("train", &self.split.train.len())
            .field("val", &self.split.val.len())
            .field("params", &self.params)
            .finish()
    }
}

impl TrainingEvaluator {
    /// An evaluator over `dataset` split by `split`. Computes the per-channel pixel
    /// statistics of the training part (see [`Normalizer`]) and the subset permutation,
    /// and reads how much memory the machine can give trials ([`MachineMemory::probe`]).
    ///
    /// # Errors
    /// On data that do not fit together, and when `params.max_memory` is more than the
    /// machine can give a trial ([`Error::MemoryLimit`]).
    pub fn new(dataset: Arc<Dataset>, split: Split, params: TrainValidParams) -> Result<Self> {
        Self::with_machine(dataset, split, params, MachineMemory::probe())
    }

    /// [`TrainingEvaluator::new`] with the machine's memory given (tests, and callers
    /// that probe once for several evaluators).
    ///
    /// # Errors
    /// As [`TrainingEvaluator::new`].
    pub fn with_machine(
        dataset: Arc<Dataset>,
        split: Split,
        params: TrainValidParams,
        machine: MachineMemory,
    ) -> Result<Self> {
        let n = dataset.train.len();
        if dataset.train.image_len() != dataset.shape.len() && n > 0 {
            return Err(Error::Data(format!(
                "training images have {} values, the shape {} needs {}",
                dataset.train.image_len(),
                dataset.shape,
                dataset.shape.len()
            )));
        }
        if split.train.is_empty() || split.val.is_empty() {
            return Err(Error::Data(format!(
                "the split has {} training and {} validation images; both need at least one",
                split.train.len(),
                split.val.len()
            )));
        }
        if let Some(&bad) = split
            .train
            .iter()
            .chain(&split.val)
            .find(|&&i| i as usize >= n)
        {
            return Err(Error::Data(format!(
                "split index {bad} is outside the training set of {n} images"
            )));
        }
        if let Some(&bad) = dataset
            .train
            .labels
            .iter()
            .chain(&dataset.test.labels)
            .find(|&&l| u32::from(l) >= dataset.classes)
        {
            return Err(Error::Data(format!(
                "label {bad} is not below the {} classes",
                dataset.classes
            )));
        }
        if let Some(limit) = params.max_memory
            && limit > machine.budget
        {
            return Err(Error::MemoryLimit {
                limit: memory::ByteSize(limit).to_string(),
                budget: memory::human(machine.budget),
                why: machine.source,
            });
        }
        let norm = Normalizer::fit(&dataset.train, dataset.shape, &split.train);
        let mut subset_order = split.train.clone();
        subset_order.shuffle(&mut rng_from_seed(params.subset_seed));
        Ok(TrainingEvaluator {
            gate: MemoryGate::new(machine.budget),
            machine,
            dataset,
            split,
            params,
            norm,
            subset_order,
            kept: Mutex::new(KeptStates::default()),
        })
    }

    /// True when this evaluator continues trainings from their saved state (the native
    /// engine; the candle reference backend keeps none).
    pub fn keeps_states(&self) -> bool {
        self.params.backend == crate::params::BackendKind::Native
    }

    /// Trainings continued from a kept state so far (not counting continuations whose
    /// state was dropped or made by another evaluator, which retrain the epochs before).
    pub fn continued_trainings(&self) -> u64 {
        self.kept.lock().map_or(0, |k| k.continued)
    }

    /// The most memory one trial may need: `max_memory` when configured, else the
    /// machine's budget.
    pub fn memory_limit(&self) -> MemoryLimit {
        match self.params.max_memory {
            Some(bytes) => MemoryLimit {
                bytes,
                configured: true,
                source: format!("training.max_memory = \"{}\"", memory::ByteSize(bytes)),
            },
            None => MemoryLimit {
                bytes: self.machine.budget,
                configured: false,
                source: self.machine.source.clone(),
            },
        }
    }

    /// The memory a trial of `arch` under `budget` is estimated to need.
    ///
    /// # Errors
    /// When `arch` cannot be built on the data, or the budget's subset is impossible.
    pub fn memory_estimate(
        &self,
        arch: &Architecture,
        budget: &Budget,
        test: bool,
    ) -> Result<memory::MemoryEstimate> {
        let train = self.train_images(budget)?.len();
        let test = if test { self.dataset.test.len() } else { 0 };
        memory::estimate(
            arch,
            self.dataset.shape,
            self.dataset.classes,
            &self.params,
            train,
            test,
        )
        .map_err(|reason| self.build_error(arch, reason))
    }

    /// The pixel standardisation in use.
    pub fn normalizer(&self) -> &Normalizer {
        &self.norm
    }

    /// The checked parameters.
    pub fn params(&self) -> &TrainValidParams {
        &self.params
    }

    /// Parameters and forward MACs of `arch` on this data set (nas-core's analytic count;
    /// a cell in `params.cell_skeleton`).
    pub fn cost(&self, arch: &Architecture) -> Result<Cost> {
        cost(arch, self.dataset.shape, self.dataset.classes, &self.params)
            .map_err(|reason| self.build_error(arch, reason))
    }

    fn build_error(&self, arch: &Architecture, reason: String) -> Error {
        Error::Build {
            arch: arch.to_string(),
            input: self.dataset.shape.to_string(),
            reason,
        }
    }

    /// The training images (indices into `dataset.train`) a trial under `budget` trains
    /// on: the whole training split, or the first `budget.train_subset` images of a
    /// permutation of it fixed by `params.subset_seed` (so a smaller subset is a prefix
    /// of a larger one, and every trial of an experiment sees the same images).
    pub fn train_images(&self, budget: &Budget) -> Result<&[u32]> {
        match budget.train_subset {
            None => Ok(&self.split.train),
            Some(k) if k == 0 || k as usize > self.subset_order.len() => {
                Err(Error::Budget(format!(
                    "budget.train_subset = {k}, but the training split has {n} images (allowed: 1 to {n})",
                    n = self.subset_order.len(),
                )))
            }
            Some(k) => Ok(&self.subset_order[..k as usize]),
        }
    }

    /// Trains `arch` under `budget` from trial seed `seed`, scoring the test set too when
    /// `test` is set.
    pub fn train(
        &self,
        arch: &Architecture,
        budget: &Budget,
        seed: u64,
        test: bool,
    ) -> Result<TrainReport> {
        self.train_to(arch, budget, seed, test, budget.epochs)
    }

    /// Trains `arch` for the first `epochs` epochs of `budget`'s training (a
    /// multi-fidelity trial: the learning-rate schedule spans `budget.epochs`, so that
    /// the scores are those an uninterrupted training of the budget would have after
    /// `epochs`, the curve a table records), from trial seed `seed`.
    ///
    /// With the native engine a training stopped below `budget.epochs` is kept (weights,
    /// optimiser state, running statistics, curve; at most [`KEPT_STATES_BYTES`], oldest
    /// dropped first), and a later call for the same architecture, seed and budget at
    /// more epochs continues the most advanced kept one instead of starting again: its
    /// results, weights included, are the same bits as a training from scratch (tested),
    /// and its `train_seconds` are the kept training's plus the new epochs'. Without a
    /// kept state the epochs before are trained again.
    ///
    /// # Errors
    /// As [`TrainingEvaluator::train`]; [`Error::Budget`] when `epochs` is 0 or above
    /// `budget.epochs`.
    pub fn train_to(
        &self,
        arch: &Architecture,
        budget: &Budget,
        seed: u64,
        test: bool,
        epochs: u32,
    ) -> Result<TrainReport> {
        let cost = self.cost(arch)?;
        if budget.epochs == 0 {
            return Err(Error::Budget(
                "budget.epochs = 0 (allowed: 1 or more)".into(),
            ));
        }
        if epochs == 0 || epochs > budget.epochs {
            return Err(Error::Budget(format!(
                "a fidelity of {epochs} epochs (allowed: 1 to budget.epochs = {})",
                budget.epochs
            )));
        }
        let train = self.train_images(budget)?;
        let need = self.memory_estimate(arch, budget, test)?;
        let limit = self.memory_limit();
        if need.bytes > limit.bytes {
            return Err(Error::Memory {
                estimate: memory::human(need.bytes),
                details: need.details(),
                limit: memory::human(limit.bytes),
                why: if limit.configured {
                    limit.source
                } else {
                    format!(
                        "this machine's: {}; set training.max_memory for a limit that does not depend on the machine",
                        limit.source
                    )
                },
            });
        }
        // Held until the trial's buffers are freed (end of this function).
        let _memory = self.gate.acquire(need.bytes);
        let batch = self.params.batch_size as usize;
        let mut network = Network::new(
            arch,
            self.dataset.shape,
            self.dataset.classes,
            &self.params,
            seed,
        )?;
        debug_assert_eq!(network.param_count() as u64, cost.params);
        let data = RunData {
            train_images: &self.dataset.train,
            train,
            val: &self.split.val,
            test: test.then_some(&self.dataset.test),
            norm: &self.norm,
        };
        let key = (arch.id(), seed, format!("{budget:?}"));
        let keeps = self.keeps_states();
        let (from, before_seconds, mut curve) = match keeps
            .then(|| self.kept.lock().ok())
            .flatten()
            .as_deref_mut()
            .and_then(|k| {
                let found = k.best_below(&key, epochs).map(|kept| {
                    network.model.restore(&kept.state);
                    (kept.epochs, kept.seconds, kept.curve.clone())
                });
                if found.is_some() {
                    k.continued += 1;
                }
                found
            }) {
            Some(found) => found,
            None => (0, 0.0, Vec::new()),
        };
        let span = Span {
            from,
            to: epochs,
            schedule: budget.epochs,
        };
        let mut shuffle = trial_stream(seed, streams::SHUFFLE);
        let out = trainer::train(
            network.model.as_mut(),
            &data,
            span,
            batch,
            self.params.lr_schedule,
            &mut shuffle,
            self.params.curve,
        )?;
        let train_seconds = before_seconds + out.train_seconds;
        curve.extend(out.curve.iter().map(|p| EpochScore {
            train_seconds: before_seconds + p.train_seconds,
            ..*p
        }));
        if keeps
            && out.diverged.is_none()
            && epochs < budget.epochs
            && let Some(state) = network.model.save()
            && let Ok(mut k) = self.kept.lock()
        {
            k.keep(Kept {
                key,
                epochs,
                state,
                seconds: train_seconds,
                curve: curve.clone(),
            });
        }
        let split = |s: Option<Score>| (s.map(|s| s.acc), s.map(|s| s.loss));
        let (val_acc, val_loss) = split(out.val);
        let (test_acc, test_loss) = split(out.test);
        let metrics = Metrics {
            val_acc,
            val_loss,
            test_acc,
            test_loss,
            params: cost.params,
            macs: cost.macs,
            epochs: out.epochs,
            train_seconds,
            curve,
        };
        let train_img_per_s = (out.train_seconds > 0.0 && out.images_seen > 0)
            .then(|| out.images_seen as f64 / out.train_seconds);
        Ok(TrainReport {
            status: if out.diverged.is_some() {
                Status::Diverged
            } else {
                Status::Ok
            },
            reason: out.diverged,
            metrics,
            train_img_per_s,
        })
    }
}

/// Parameters and forward MACs of `arch` on `input` with `classes` classes, a cell in
/// `params.cell_skeleton`, a macro network with `params.macro_skeleton`'s stem and head,
/// or why it cannot be trained.
pub(crate) fn cost(
    arch: &Architecture,
    input: nas_core::InputShape,
    classes: u32,
    params: &TrainValidParams,
) -> std::result::Result<Cost, String> {
    match arch {
        Architecture::Chain(chain) => chain.cost(input, classes),
        Architecture::Cell(cell) => {
            let space = nas_core::space::CellParams::holding(cell, params.cell_skeleton.clone())
                .check(input)
                .map_err(|e| e.to_string())?;
            Ok(space.cost(cell, classes))
        }
        Architecture::Macro(net) => {
            let space = nas_core::space::MacroParams::holding(net, params.macro_skeleton.clone())
                .check(input)
                .map_err(|e| e.to_string())?;
            Ok(space.cost(net, classes))
        }
    }
}

impl Evaluator for TrainingEvaluator {
    fn evaluate(&self, request: &EvalRequest<'_>) -> Result<Evaluation, EvalError> {
        // A multi-fidelity trial trains the first `fidelity` epochs of the budget's
        // training, continuing a kept training of its architecture and seed when there is
        // one ([`TrainingEvaluator::train_to`]).
        let report = self.train_to(
            request.arch,
            request.budget,
            request.seed,
            request.test,
            request.epochs(),
        )?;
        Ok(Evaluation {
            status: report.status,
            reason: report.reason,
            metrics: report.metrics,
        })
    }

    /// True on the native engine: a continued trial's training goes on from the kept
    /// state of the trial it continues, so it costs the new epochs.
    fn continues(&self) -> bool {
        self.keeps_states()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::mini_mnist;
    use crate::{LrSchedule, OptimizerKind, TrainParams};

    /// The weights (parameters, and a cell's running statistics) after training epochs
    /// `from..to` of a `schedule`-epoch run of `arch` with trial seed 3, starting from
    /// `state` (None: from scratch), and the state at the end.
    fn trained(
        e: &TrainingEvaluator,
        arch: &Architecture,
        span: Span,
        state: Option<&TrainState>,
    ) -> (Vec<f32>, TrainState) {
        let budget = Budget {
            epochs: span.schedule,
            train_subset: Some(256),
        };
        let mut network =
            Network::new(arch, e.dataset.shape, e.dataset.classes, &e.params, 3).unwrap();
        if let Some(s) = state {
            network.model.restore(s);
        }
        let data = RunData {
            train_images: &e.dataset.train,
            train: e.train_images(&budget).unwrap(),
            val: &e.split.val,
            test: None,
            norm: &e.norm,
        };
        let mut shuffle = trial_stream(3, streams::SHUFFLE);
        let batch = e.params.batch_size as usize;
        let schedule = e.params.lr_schedule;
        let out = trainer::train(
            network.model.as_mut(),
            &data,
            span,
            batch,
            schedule,
            &mut shuffle,
            false,
        )
        .unwrap();
        assert!(out.diverged.is_none());
        (network.weights(), network.model.save().unwrap())
    }

    #[test]
    fn a_continued_training_ends_with_the_weights_of_an_uninterrupted_one() {
        let data = Arc::new(mini_mnist().unwrap());
        let split = data.validation_split(1000, 7).unwrap();
        let sgd = TrainParams {
            optimizer: OptimizerKind::Sgd,
            learning_rate: Some(0.05),
            weight_decay: Some(5e-4),
            nesterov: true,
            lr_schedule: LrSchedule::Cosine,
            ..TrainParams::default()
        };
        let adamw = TrainParams {
            lr_schedule: LrSchedule::Cosine,
            ..TrainParams::default()
        };
        let mut cell_params = sgd.check().unwrap();
        cell_params.cell_skeleton = nas_core::space::CellSkeleton {
            stem_channels: 4,
            cells_per_stage: 1,
            stages: 2,
        };
        for (arch, params) in [
            (
                "conv3x3-4-relu > maxpool2 > dropout0.25 > dense16-relu",
                adamw.check().unwrap(),
            ),
            (
                "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
                cell_params,
            ),
        ] {
            let arch: Architecture = arch.parse().unwrap();
            let e = TrainingEvaluator::new(data.clone(), split.clone(), params).unwrap();
            let span = |from, to| Span {
                from,
                to,
                schedule: 3,
            };
            let (whole, _) = trained(&e, &arch, span(0, 3), None);
            let (_, after_one) = trained(&e, &arch, span(0, 1), None);
            let (continued, _) = trained(&e, &arch, span(1, 3), Some(&after_one));
            let bits = |w: &[f32]| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&whole), bits(&continued), "{arch}");
            // Continuing from the initial state instead is another training.
            let (_, initial) = {
                let n =
                    Network::new(&arch, e.dataset.shape, e.dataset.classes, &e.params, 3).unwrap();
                (n.weights(), n.model.save().unwrap())
            };
            let (wrong, _) = trained(&e, &arch, span(1, 3), Some(&initial));
            assert_ne!(bits(&whole), bits(&wrong), "{arch}");
        }
    }
}
