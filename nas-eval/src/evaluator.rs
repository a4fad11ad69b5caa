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
pub struct TrainingEvaluator {
    dataset: Arc<Dataset>,
    split: Split,
    params: TrainValidParams,
    norm: Normalizer,
    subset_order: Vec<u32>,
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
    /// statistics of the training part (see [`Normalizer`]) and the subset permutation.
    pub fn new(dataset: Arc<Dataset>, split: Split, params: TrainValidParams) -> Result<Self> {
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
        let norm = Normalizer::fit(&dataset.train, dataset.shape, &split.train);
        let mut subset_order = split.train.clone();
        subset_order.shuffle(&mut rng_from_seed(params.subset_seed));
        Ok(TrainingEvaluator {
            dataset,
            split,
            params,
            norm,
            subset_order,
        })
    }

    /// The pixel standardisation in use.
    pub fn normalizer(&self) -> &Normalizer {
        &self.norm
    }

    /// The checked parameters.
    pub fn params(&self) -> &TrainValidParams {
        &self.params
    }

    /// Parameters and forward MACs of `arch` on this data set (nas-core's analytic count).
    pub fn cost(&self, arch: &Architecture) -> Result<Cost> {
        arch.as_chain()
            .ok_or_else(|| crate::engine::network::untrainable(arch))
            .and_then(|chain| chain.cost(self.dataset.shape, self.dataset.classes))
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
            &mut shuffle,
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

impl Evaluator for TrainingEvaluator {
    fn evaluate(&self, request: &EvalRequest<'_>) -> Result<Evaluation, EvalError> {
        let report = self.train(request.arch, request.budget, request.seed, request.test)?;
        Ok(Evaluation {
            status: report.status,
            reason: report.reason,
            metrics: report.metrics,
        })
    }
}
