//! One evaluation for people and scripts: [`eval_one`] and its [`EvalReport`] (the logic
//! behind `nas eval`).

use std::fmt::Write as _;
use std::sync::Arc;

use nas_core::{Architecture, Budget, Status, derive_seed};
use serde::Serialize;

use crate::data::Dataset;
use crate::error::Result;
use crate::evaluator::TrainingEvaluator;
use crate::params::TrainValidParams;

/// Label of the validation-split seed derived from an evaluation seed.
pub const SPLIT_LABEL: &str = "validation-split";

/// What one evaluation measured. Serializes to JSON without NaN: absent scores are null.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Canonical text of the architecture.
    pub arch: String,
    /// What data it ran on ("official MNIST", "custom data"...).
    pub data: String,
    /// The trial seed.
    pub seed: u64,
    /// `ok` or `diverged`.
    pub status: Status,
    /// Why it diverged.
    pub reason: Option<String>,
    /// Validation accuracy.
    pub val_acc: Option<f64>,
    /// Validation mean cross-entropy.
    pub val_loss: Option<f64>,
    /// Test accuracy.
    pub test_acc: Option<f64>,
    /// Test mean cross-entropy.
    pub test_loss: Option<f64>,
    /// Trainable parameters.
    pub params: u64,
    /// Forward multiply-accumulates per example.
    pub macs: u64,
    /// Epochs done (fractional when stopped early).
    pub epochs: f64,
    /// Wall-clock seconds of training.
    pub train_seconds: f64,
    /// Training images per second.
    pub train_img_per_s: Option<f64>,
    /// Images trained on per epoch.
    pub train_images: usize,
    /// Validation images.
    pub val_images: usize,
    /// Test images.
    pub test_images: usize,
    /// The resolved training parameters.
    pub train: TrainValidParams,
}

/// Trains `arch` once on `dataset` and scores it on validation and test images.
///
/// The validation split holds out `val_size` training images, chosen by
/// [`Dataset::validation_split`] with seed `derive_seed(seed, "validation-split", 0)`;
/// `seed` is the trial seed (weights, batch order, dropout); the training subset, if
/// the budget asks for one, comes from `params.subset_seed`.
pub fn eval_one(
    dataset: Arc<Dataset>,
    arch: &Architecture,
    budget: &Budget,
    params: &TrainValidParams,
    seed: u64,
    val_size: usize,
) -> Result<EvalReport> {
    let split = dataset.validation_split(val_size, derive_seed(seed, SPLIT_LABEL, 0))?;
    let train_images = match budget.train_subset {
        Some(k) => k as usize,
        None => split.train.len(),
    };
    let val_images = split.val.len();
    let data = dataset.identity.describe();
    let test_images = dataset.test.len();
    let evaluator = TrainingEvaluator::new(dataset, split, params.clone())?;
    let r = evaluator.train(arch, budget, seed, test_images > 0)?;
    Ok(EvalReport {
        arch: arch.to_string(),
        data,
        seed,
        status: r.status,
        reason: r.reason,
        val_acc: r.metrics.val_acc,
        val_loss: r.metrics.val_loss,
        test_acc: r.metrics.test_acc,
        test_loss: r.metrics.test_loss,
        params: r.metrics.params,
        macs: r.metrics.macs,
        epochs: r.metrics.epochs,
        train_seconds: r.metrics.train_seconds,
        train_img_per_s: r.train_img_per_s,
        train_images,
        val_images,
        test_images,
        train: params.clone(),
    })
}

impl EvalReport {
    /// One JSON object on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an EvalReport always serializes")
    }

    /// An aligned two-column table for people.
    pub fn to_table(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v));
        let num = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |v| format!("{v:.d$}"));
        let t = &self.train;
        let rows: Vec<(&str, String)> = vec![
            ("arch", self.arch.clone()),
            ("data", self.data.clone()),
            ("status", self.status.to_string()),
            ("reason", self.reason.clone().unwrap_or_else(|| "-".into())),
            ("val_acc", pct(self.val_acc)),
            ("val_loss", num(self.val_loss, 4)),
            ("test_acc", pct(self.test_acc)),
            ("test_loss", num(self.test_loss, 4)),
            ("params", self.params.to_string()),
            ("macs", self.macs.to_string()),
            ("epochs", format!("{}", self.epochs)),
            ("train_seconds", format!("{:.2}", self.train_seconds)),
            ("train_img_per_s", num(self.train_img_per_s, 0)),
            (
                "images",
                format!(
                    "{} train / {} val / {} test",
                    self.train_images, self.val_images, self.test_images
                ),
            ),
            (
                "training",
                format!(
                    "{} lr {}{} wd {} batch {} threads {} backend {} seed {}",
                    match t.optimizer {
                        crate::OptimizerKind::Sgd => format!(
                            "sgd momentum {}{}",
                            t.momentum,
                            if t.nesterov { " nesterov" } else { "" }
                        ),
                        crate::OptimizerKind::Adamw => t.optimizer.name().to_string(),
                    },
                    t.learning_rate,
                    match t.lr_schedule {
                        crate::LrSchedule::Constant => String::new(),
                        schedule => format!(" {}", schedule.name()),
                    },
                    t.weight_decay,
                    t.batch_size,
                    t.threads,
                    t.backend.name(),
                    self.seed
                ),
            ),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "{k:<width$}  {v}");
        }
        out
    }
}
