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
