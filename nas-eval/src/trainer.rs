//! The training loop, common to every backend: epochs over a shuffled training set,
//! divergence detection, and scoring on held-out images.

use std::time::Instant;

use rand::seq::SliceRandom;

use crate::backend::{Batch, Model};
use crate::data::Images;
use crate::engine::NasRng;
use crate::error::Result;
use crate::input::Normalizer;
use crate::params::LrSchedule;

/// Accuracy and mean loss on a set of images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Score {
    /// Fraction classified correctly.
    pub acc: f64,
    /// Mean cross-entropy.
    pub loss: f64,
}

/// How a training run ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    /// Why the run stopped early (non-finite loss), or None.
    pub diverged: Option<String>,
    /// Score on the validation images (None when diverged).
    pub val: Option<Score>,
    /// Score on the test images, when asked (None when diverged).
    pub test: Option<Score>,
    /// Epochs done, fractional when stopped early.
    pub epochs: f64,
    /// Wall-clock seconds spent in training steps.
    pub train_seconds: f64,
    /// Training images processed.
    pub images_seen: u64,
}

/// The data of one training run.
pub(crate) struct RunData<'a> {
    /// Training images (the data set's training set).
    pub train_images: &'a Images,
    /// Which training images to train on.
    pub train: &'a [u32],
    /// Which training images to validate on.
    pub val: &'a [u32],
    /// The test set, when it is to be scored.
    pub test: Option<&'a Images>,
    /// Pixel standardisation.
    pub norm: &'a Normalizer,
}

/// Trains `model` for `epochs` epochs in batches of `batch_size` with the learning rate
/// following `schedule` over the run's steps, shuffling the training images every epoch
/// with `shuffle_rng`, then scores it.
pub(crate) fn train(
    model: &mut dyn Model,
    data: &RunData<'_>,
    epochs: u32,
    batch_size: usize,
    schedule: LrSchedule,
    shuffle_rng: &mut NasRng,
) -> Result<Outcome> {
    let mut order = data.train.to_vec();
    let steps_per_epoch = order.len().div_ceil(batch_size);
    let total_steps = steps_per_epoch as u64 * u64::from(epochs);
    let mut step = 0u64;
    let mut seen = 0u64;
    let start = Instant::now();
    let mut diverged = None;
    'epochs: for epoch in 0..epochs {
        order.shuffle(shuffle_rng);
        for (s, idx) in order.chunks(batch_size).enumerate() {
            let batch = Batch {
                images: data.train_images,
                norm: data.norm,
                indices: idx,
            };
            let loss = model.train_step(batch, step, schedule.factor(step, total_steps))?;
            if !loss.is_finite() {
                let what = if loss.is_nan() { "NaN" } else { "infinite" };
                diverged = Some((
                    format!("loss {what} at epoch {}, step {}", epoch + 1, s + 1),
                    f64::from(epoch) + s as f64 / steps_per_epoch as f64,
                ));
                break 'epochs;
            }
            step += 1;
            seen += idx.len() as u64;
        }
    }
    let train_seconds = start.elapsed().as_secs_f64();
    if let Some((reason, epochs_done)) = diverged {
        return Ok(Outcome {
            diverged: Some(reason),
            val: None,
            test: None,
            epochs: epochs_done,
            train_seconds,
            images_seen: seen,
        });
    }
    let mut outcome = Outcome {
        diverged: None,
        val: None,
        test: None,
        epochs: f64::from(epochs),
        train_seconds,
        images_seen: seen,
    };
    let val = score(model, data.train_images, data.val, data.norm)?;
    if !val.loss.is_finite() {
        outcome.diverged = Some(format!(
            "validation loss is not finite after epoch {epochs}"
        ));
        return Ok(outcome);
    }
    outcome.val = Some(val);
    if let Some(test) = data.test {
        let all: Vec<u32> = (0..test.len() as u32).collect();
        let t = score(model, test, &all, data.norm)?;
        if !t.loss.is_finite() {
            outcome.diverged = Some(format!("test loss is not finite after epoch {epochs}"));
            outcome.val = None;
            return Ok(outcome);
        }
        outcome.test = Some(t);
    }
    Ok(outcome)
}

fn score(
    model: &mut dyn Model,
    images: &Images,
    indices: &[u32],
    norm: &Normalizer,
) -> Result<Score> {
    let sum = model.evaluate(Batch {
        images,
        norm,
        indices,
    })?;
    let n = indices.len().max(1) as f64;
    Ok(Score {
        acc: sum.correct as f64 / n,
        loss: sum.loss / n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::LossSum;

    /// Records the learning-rate factor of every step.
    struct Recorder(Vec<f64>);

    impl Model for Recorder {
        fn train_step(&mut self, _: Batch<'_>, step: u64, lr_scale: f64) -> Result<f64> {
            assert_eq!(step, self.0.len() as u64);
            self.0.push(lr_scale);
            Ok(0.0)
        }
        fn evaluate(&mut self, _: Batch<'_>) -> Result<LossSum> {
            Ok(LossSum::default())
        }
        fn weights(&self) -> Vec<f32> {
            Vec::new()
        }
    }

    #[test]
    fn the_schedule_spans_every_step_of_the_run() {
        let images = Images {
            pixels: vec![0; 40],
            labels: vec![0; 10],
        };
        let norm = Normalizer::new(vec![0.0], vec![1.0]);
        let all: Vec<u32> = (0..10).collect();
        let data = RunData {
            train_images: &images,
            train: &all,
            val: &all[..2],
            test: None,
            norm: &norm,
        };
        let mut rng = crate::seeds::trial_stream(1, 0);
        // 10 images in batches of 4: 3 steps per epoch, 9 over 3 epochs.
        for (schedule, want) in [
            (LrSchedule::Constant, vec![1.0; 9]),
            (
                LrSchedule::Cosine,
                (0..9).map(|t| LrSchedule::Cosine.factor(t, 9)).collect(),
            ),
        ] {
            let mut model = Recorder(Vec::new());
            train(&mut model, &data, 3, 4, schedule, &mut rng).unwrap();
            assert_eq!(model.0, want, "{schedule:?}");
        }
        let cosine = LrSchedule::Cosine;
        assert_eq!(cosine.factor(0, 9), 1.0);
        assert!(cosine.factor(8, 9) > 0.0 && cosine.factor(8, 9) < 0.05);
    }
}
