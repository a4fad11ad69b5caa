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
use nas_core::EpochScore;

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
    /// The validation score after each completed epoch, when asked for (see [`train`]).
    pub curve: Vec<EpochScore>,
}

/// Which epochs of a training run to train: epochs `from + 1` to `to` (counting from 1)
/// of a run whose learning-rate schedule spans `schedule` epochs. A whole run is
/// `Span::whole(epochs)`; a multi-fidelity trial at `e` of a budget of `R` epochs trains
/// `0..e` of `R` (the first `e` epochs of the budget's run, the learning curve a table
/// records), and continuing it to `e'` trains `e..e'` of `R` from its saved state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Epochs done before (0 from scratch).
    pub from: u32,
    /// The epoch it stops after.
    pub to: u32,
    /// Epochs the schedule spans (at least `to`).
    pub schedule: u32,
}

#[cfg(test)]
impl Span {
    /// All `epochs` epochs of a run of that length.
    pub fn whole(epochs: u32) -> Self {
        Span {
            from: 0,
            to: epochs,
            schedule: epochs,
        }
    }
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

/// Trains `model` for the epochs of `span` in batches of `batch_size` with the learning
/// rate following `schedule` over the steps of `span.schedule` epochs, shuffling the
/// training images every epoch with `shuffle_rng`, then scores it.
///
/// `shuffle_rng` is the trial's fresh shuffle stream: for a span that starts after
/// epoch `from`, the shuffles of the epochs done are replayed (without training), so the
/// batches and steps (and with them the schedule's factors and the dropout masks) are
/// those of the uninterrupted run; a model restored to the state saved after epoch
/// `from` then ends with the same bits as one trained from scratch (tested).
///
/// With `curve`, the validation images are also scored after every epoch but the last
/// (whose score is the final one) and the scores recorded in [`Outcome::curve`]. Scoring
/// reads the model without changing it, so the training, its final weights and its final
/// scores are the same bits with and without the curve; the schedule still spans all
/// `epochs` (the curve of one run, as NAS-Bench-201 records it, not a series of shorter
/// runs). A validation loss that is not finite after an epoch ends the run as diverged.
pub(crate) fn train(
    model: &mut dyn Model,
    data: &RunData<'_>,
    span: Span,
    batch_size: usize,
    schedule: LrSchedule,
    shuffle_rng: &mut NasRng,
    curve: bool,
) -> Result<Outcome> {
    debug_assert!(span.from < span.to && span.to <= span.schedule, "{span:?}");
    let epochs = span.to;
    let mut order = data.train.to_vec();
    for _ in 0..span.from {
        order.shuffle(shuffle_rng);
    }
    let steps_per_epoch = order.len().div_ceil(batch_size);
    let total_steps = steps_per_epoch as u64 * u64::from(span.schedule);
    let mut step = steps_per_epoch as u64 * u64::from(span.from);
    let mut seen = 0u64;
    let mut train_seconds = 0.0;
    let mut points = Vec::new();
    let mut diverged = None;
    'epochs: for epoch in span.from..epochs {
        let start = Instant::now();
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
        train_seconds += start.elapsed().as_secs_f64();
        if curve && epoch + 1 < epochs {
            let val = score(model, data.train_images, data.val, data.norm)?;
            if !val.loss.is_finite() {
                diverged = Some((
                    format!("validation loss is not finite after epoch {}", epoch + 1),
                    f64::from(epoch + 1),
                ));
                break 'epochs;
            }
            points.push(EpochScore {
                val_acc: val.acc,
                val_loss: val.loss,
                train_seconds,
            });
        }
    }
    if let Some((reason, epochs_done)) = diverged {
        return Ok(Outcome {
            diverged: Some(reason),
            val: None,
            test: None,
            epochs: epochs_done,
            train_seconds,
            images_seen: seen,
            curve: points,
        });
    }
    let mut outcome = Outcome {
        diverged: None,
        val: None,
        test: None,
        epochs: f64::from(epochs),
        train_seconds,
        images_seen: seen,
        curve: Vec::new(),
    };
    let val = score(model, data.train_images, data.val, data.norm)?;
    if !val.loss.is_finite() {
        outcome.diverged = Some(format!(
            "validation loss is not finite after epoch {epochs}"
        ));
        outcome.curve = points;
        return Ok(outcome);
    }
    if curve {
        points.push(EpochScore {
            val_acc: val.acc,
            val_loss: val.loss,
            train_seconds,
        });
    }
    outcome.curve = points;
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
            train(
                &mut model,
                &data,
                Span::whole(3),
                4,
                schedule,
                &mut rng,
                false,
            )
            .unwrap();
            assert_eq!(model.0, want, "{schedule:?}");
        }
        let cosine = LrSchedule::Cosine;
        assert_eq!(cosine.factor(0, 9), 1.0);
        assert!(cosine.factor(8, 9) > 0.0 && cosine.factor(8, 9) < 0.05);
    }

    /// Counts its steps; its n-th evaluation (from 0) has `correct[n]` right answers and
    /// mean loss `losses[n]` per image.
    struct Scripted {
        steps: u64,
        correct: Vec<u64>,
        losses: Vec<f64>,
        evaluations: usize,
    }

    impl Model for Scripted {
        fn train_step(&mut self, _: Batch<'_>, _: u64, _: f64) -> Result<f64> {
            self.steps += 1;
            Ok(1.0)
        }
        fn evaluate(&mut self, batch: Batch<'_>) -> Result<LossSum> {
            let n = self.evaluations;
            self.evaluations += 1;
            Ok(LossSum {
                loss: self.losses[n] * batch.indices.len() as f64,
                correct: self.correct[n],
            })
        }
        fn weights(&self) -> Vec<f32> {
            Vec::new()
        }
    }

    #[test]
    fn the_curve_holds_the_validation_score_after_every_epoch_and_ends_at_a_divergence() {
        let images = Images {
            pixels: vec![0; 40],
            labels: vec![0; 10],
        };
        let norm = Normalizer::new(vec![0.0], vec![1.0]);
        let all: Vec<u32> = (0..10).collect();
        let data = RunData {
            train_images: &images,
            train: &all,
            val: &all[..4],
            test: None,
            norm: &norm,
        };
        let run = |curve: bool, losses: Vec<f64>| {
            let mut model = Scripted {
                steps: 0,
                correct: vec![1, 2, 3, 4],
                losses,
                evaluations: 0,
            };
            let mut rng = crate::seeds::trial_stream(1, 0);
            let out = train(
                &mut model,
                &data,
                Span::whole(3),
                4,
                LrSchedule::Constant,
                &mut rng,
                curve,
            );
            (out.unwrap(), model.steps)
        };
        // Without the curve: one validation pass at the end; with it, one per epoch,
        // the last of which is the final score.
        let (plain, steps) = run(false, vec![0.5, 0.4, 0.3]);
        assert_eq!((steps, plain.curve.len()), (9, 0));
        assert_eq!(plain.val.unwrap().acc, 0.25);
        let (out, steps) = run(true, vec![0.5, 0.4, 0.3]);
        assert_eq!(steps, 9);
        let accs: Vec<f64> = out.curve.iter().map(|p| p.val_acc).collect();
        let losses: Vec<f64> = out.curve.iter().map(|p| p.val_loss).collect();
        assert_eq!(accs, [0.25, 0.5, 0.75]);
        assert_eq!(losses, [0.5, 0.4, 0.3]);
        assert_eq!(out.val.unwrap().acc, 0.75);
        assert!(
            out.curve
                .windows(2)
                .all(|w| w[0].train_seconds <= w[1].train_seconds)
        );
        assert_eq!(out.curve[2].train_seconds, out.train_seconds);
        // A validation loss that is not finite after epoch 2 ends the run there.
        let (out, steps) = run(true, vec![0.5, f64::NAN, 0.3]);
        assert_eq!(steps, 6);
        assert_eq!(out.curve.len(), 1);
        assert_eq!(out.epochs, 2.0);
        assert_eq!(
            out.diverged.as_deref(),
            Some("validation loss is not finite after epoch 2")
        );
        assert_eq!(out.val, None);
    }
}
