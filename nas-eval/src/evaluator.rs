//! [`TrainingEvaluator`]: the [`Evaluator`] that trains architectures on real data.

use std::sync::Arc;

use nas_core::{
    Architecture, Budget, Cost, EvalError, EvalRequest, Evaluation, Evaluator, Metrics, Status,
    rng_from_seed,
};
use rand::seq::SliceRandom;

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::input::Normalizer;
use crate::memory::{self, MachineMemory, MemoryGate};
use crate::model::Network;
use crate::params::TrainValidParams;
use crate::seeds::{streams, trial_stream};
use crate::trainer::{self, RunData, Score};

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
        })
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
        let cost = self.cost(arch)?;
        if budget.epochs == 0 {
            return Err(Error::Budget(
                "budget.epochs = 0 (allowed: 1 or more)".into(),
            ));
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
        let mut shuffle = trial_stream(seed, streams::SHUFFLE);
        let out = trainer::train(
            network.model.as_mut(),
            &data,
            budget.epochs,
            batch,
            self.params.lr_schedule,
            &mut shuffle,
            self.params.curve,
        )?;
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
            train_seconds: out.train_seconds,
            curve: out.curve,
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
        // A multi-fidelity trial trains its fidelity's epochs from scratch with its seed
        // (this evaluator keeps no training state to continue).
        let budget = Budget {
            epochs: request.epochs(),
            ..request.budget.clone()
        };
        let report = self.train(request.arch, &budget, request.seed, request.test)?;
        Ok(Evaluation {
            status: report.status,
            reason: report.reason,
            metrics: report.metrics,
        })
    }
}
