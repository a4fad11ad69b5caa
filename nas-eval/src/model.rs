//! [`Network`]: a built, trainable network, for callers that drive training themselves
//! (benchmarks, custom loops). [`TrainingEvaluator`](crate::TrainingEvaluator) uses it.

use nas_core::{Architecture, InputShape};

use crate::backend::{Batch, Model};
use crate::data::Images;
use crate::engine::cellnet::{CellModel, CellPlan};
use crate::engine::network::Plan;
use crate::engine::{NativeModel, simd_path};
use crate::error::{Error, Result};
use crate::input::Normalizer;
use crate::params::{BackendKind, TrainValidParams};
use crate::reference::CandleModel;
use crate::seeds::{streams, trial_stream};

/// A network built from an architecture, initialised from a trial seed, with its
/// optimiser state, ready to train on batches of up to `params.batch_size` images.
pub struct Network {
    pub(crate) model: Box<dyn Model + Send>,
    params: usize,
    step: u64,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("params", &self.params)
            .field("step", &self.step)
            .finish()
    }
}

impl Network {
    /// Builds `arch` for inputs of `shape` and `classes` classes on `params.backend`,
    /// with weights and dropout from trial seed `seed` (streams [`streams::INIT`] and
    /// [`streams::DROPOUT`]), computing on the kernel family [`simd_path`] names (an
    /// invalid `NAS_SIMD` is an [`Error::Simd`]). A cell architecture is stacked in
    /// `params.cell_skeleton` (NAS-Bench-201's network), a macro architecture with
    /// `params.macro_skeleton`'s stem and head (NAS-Bench-Macro's network); both on the
    /// native engine only.
    pub fn new(
        arch: &Architecture,
        shape: InputShape,
        classes: u32,
        params: &TrainValidParams,
        seed: u64,
    ) -> Result<Self> {
        let path = simd_path()?;
        let build_error = |reason: String| Error::Build {
            arch: arch.to_string(),
            input: shape.to_string(),
            reason,
        };
        let batch = params.batch_size as usize;
        let threads = params.threads as usize;
        if let Some(plan) = CellPlan::of(arch, params, shape, classes) {
            if params.backend == BackendKind::Candle {
                return Err(build_error(format!(
                    "the candle reference backend trains chain architectures only; train {} networks on the native engine (backend = \"native\")",
                    arch.kind_name()
                )));
            }
            let plan = plan.map_err(build_error)?;
            let weights = plan.init_params(&mut trial_stream(seed, streams::INIT));
            let n = plan.params;
            let model = CellModel::new(
                path,
                plan,
                weights,
                params.optimizer(),
                batch,
                params.micro_batch as usize,
                threads,
            )?;
            return Ok(Network {
                model: Box::new(model),
                params: n,
                step: 0,
            });
        }
        let plan = Plan::new(arch, shape, classes).map_err(build_error)?;
        let weights = plan.init_params(&mut trial_stream(seed, streams::INIT));
        let dropout = trial_stream(seed, streams::DROPOUT);
        let n = plan.params;
        let model: Box<dyn Model + Send> = match params.backend {
            BackendKind::Native => Box::new(NativeModel::new(
                path,
                plan,
                weights,
                params.optimizer(),
                batch,
                params.micro_batch as usize,
                threads,
                dropout,
            )?),
            BackendKind::Candle => Box::new(CandleModel::new(
                path,
                plan,
                &weights,
                params.optimizer(),
                batch,
                threads,
                dropout,
            )?),
        };
        Ok(Network {
            model,
            params: n,
            step: 0,
        })
    }

    /// Number of trainable parameters.
    pub fn param_count(&self) -> usize {
        self.params
    }

    /// One optimisation step on images `indices` of `images`, at the configured learning
    /// rate (no schedule: a schedule needs the run's length, which the evaluator knows);
    /// returns the batch-mean loss before the update (NaN or infinite: the step was not
    /// applied).
    pub fn train_step(
        &mut self,
        images: &Images,
        norm: &Normalizer,
        indices: &[u32],
    ) -> Result<f64> {
        let sum = self.model.train_step(
            Batch {
                images,
                norm,
                indices,
            },
            self.step,
            1.0,
        )?;
        self.step += 1;
        Ok(sum / indices.len().max(1) as f64)
    }

    /// The trainable parameters, in the engine's layout (weights `in x out` per layer,
    /// each followed by its bias): to compare trained networks bit for bit.
    pub fn weights(&self) -> Vec<f32> {
        self.model.weights()
    }

    /// Accuracy and mean loss on images `indices` of `images` (no dropout, no update).
    pub fn evaluate(
        &mut self,
        images: &Images,
        norm: &Normalizer,
        indices: &[u32],
    ) -> Result<(f64, f64)> {
        let s = self.model.evaluate(Batch {
            images,
            norm,
            indices,
        })?;
        let n = indices.len().max(1) as f64;
        Ok((s.correct as f64 / n, s.loss / n))
    }
}
