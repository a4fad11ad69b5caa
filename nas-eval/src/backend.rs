//! The backend contract: what the training loop ([`crate::trainer`]) needs from a network
//! implementation. The native engine and the candle reference backend implement it; the
//! trainer and both backends depend on this module, and it depends on neither.

use crate::data::Images;
use crate::error::Result;
use crate::input::Normalizer;

/// Images to run: which ones, and how to turn them into inputs.
#[derive(Clone, Copy)]
pub(crate) struct Batch<'a> {
    /// Where the images are.
    pub images: &'a Images,
    /// Pixel standardisation.
    pub norm: &'a Normalizer,
    /// Which images, in order.
    pub indices: &'a [u32],
}

/// What a backend offers the trainer.
pub(crate) trait Model {
    /// One optimisation step on the batch (`step` counts steps from 0 over the whole
    /// run) with the learning rate multiplied by `lr_scale` (the schedule's factor,
    /// [`crate::LrSchedule::factor`]; exactly 1 for a constant rate). Returns the sum of
    /// the examples' losses before the update; a NaN or infinite sum means the step was
    /// not applied.
    fn train_step(&mut self, batch: Batch<'_>, step: u64, lr_scale: f64) -> Result<f64>;
    /// Summed loss and correct predictions over the batch (no dropout, no update).
    fn evaluate(&mut self, batch: Batch<'_>) -> Result<LossSum>;
    /// The trainable parameters, in the engine's layout.
    fn weights(&self) -> Vec<f32>;
    /// The training state after the steps taken so far, to continue the training later
    /// ([`Model::restore`]); None when the backend cannot continue a training.
    fn save(&self) -> Option<TrainState> {
        None
    }
    /// Continues from `state`, saved by [`Model::save`] of a model of the same network.
    /// Only called on models whose `save` gives a state.
    fn restore(&mut self, state: &TrainState) {
        let _ = state;
        unreachable!("restore on a backend that saves no state")
    }
}

/// What a training needs to go on exactly as if it had never stopped: the parameters, the
/// optimiser's moments and step count, and the batch norms' running statistics. The batch
/// order is not in it (the trainer replays the shuffles of the epochs done from the trial
/// seed), nor are dropout masks (drawn from the trial seed by step).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrainState {
    /// Trainable parameters, in the engine's layout.
    pub params: Vec<f32>,
    /// The optimiser's first moments (momentum for SGD).
    pub m: Vec<f32>,
    /// The optimiser's second moments (unused by SGD).
    pub v: Vec<f32>,
    /// Optimiser steps taken.
    pub t: u64,
    /// Running mean then variance of every batch norm, in order (empty without).
    pub running: Vec<f32>,
}

impl TrainState {
    /// Bytes the state holds.
    pub fn bytes(&self) -> usize {
        4 * (self.params.len() + self.m.len() + self.v.len() + self.running.len()) + 8
    }
}

/// What a loss pass over some images measured: the summed loss and the correct
/// predictions, accumulated in example order (so partial sums combine exactly).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct LossSum {
    /// Sum of the examples' cross-entropies (f64, summed in example order).
    pub loss: f64,
    /// Examples whose largest logit is the label (the first maximum on ties).
    pub correct: u64,
}
