//! From a config to the things a run needs: the data, the bound search space, the
//! evaluator.

use std::path::Path;
use std::sync::Arc;

use nas_core::{SearchSpace, derive_seed};
use nas_eval::TrainingEvaluator;
use nas_eval::data::{self, Dataset};

use crate::config::{Config, LoadedConfig, core_error};
use crate::error::BadInput;

/// Loads the config's data set: its directory, or the shipped mini MNIST when none is
/// given. `dir_override` (`--data-dir`) wins over the config.
pub fn load_dataset(
    loaded: &LoadedConfig,
    dir_override: Option<&Path>,
) -> Result<Dataset, BadInput> {
    let section = &loaded.config.data;
    let dir = dir_override.or(section.dir.as_deref());
    match dir {
        Some(dir) => {
            // Relative paths in a config are relative to the config file.
            let dir = if dir_override.is_none() && dir.is_relative() {
                loaded
                    .path
                    .parent()
                    .map_or_else(|| dir.to_path_buf(), |p| p.join(dir))
            } else {
                dir.to_path_buf()
            };
            data::load(section.dataset, &dir).map_err(|e| {
                let mut err = loaded.error("data.dir", e.to_string());
                err.path = Some(dir.clone());
                err.position = None;
                err
            })
        }
        None if section.dataset == data::DatasetKind::Mnist => data::mini_mnist()
            .map_err(|e| BadInput::new(format!("the shipped mini MNIST is unreadable: {e}"))),
        None => Err(loaded.error(
            "data.dir",
            format!(
                "missing: {} is not shipped with nas; set `dir` to the folder holding its files (or pass --data-dir)",
                section.dataset
            ),
        )),
    }
}

/// The search space bound to the data's input shape.
pub fn space(loaded: &LoadedConfig, dataset: &Dataset) -> Result<SearchSpace, BadInput> {
    loaded
        .config
        .space
        .check(dataset.shape)
        .map_err(|e| match e {
            nas_core::Error::EmptySpace { .. } => loaded.error("space", e.to_string()),
            other => {
                let (field, message) = core_error("", other);
                loaded.error(&field, message)
            }
        })
}

/// The seed of the validation split: fixed by the experiment seed alone.
pub fn split_seed(config: &Config) -> u64 {
    derive_seed(config.experiment.seed, "validation-split", 0)
}

/// The evaluator that trains trials on the data.
pub fn evaluator(
    loaded: &LoadedConfig,
    dataset: Arc<Dataset>,
) -> Result<TrainingEvaluator, BadInput> {
    let config = &loaded.config;
    let split = dataset
        .validation_split(config.data.validation_size, split_seed(config))
        .map_err(|e| loaded.error("data.validation_size", e.to_string()))?;
    if let Some(subset) = config.budget.train_subset
        && subset as usize > split.train.len()
    {
        return Err(loaded.error(
            "budget.train_subset",
            format!(
                "invalid value {subset} (allowed: 1 to {}, the training images left after the validation split)",
                split.train.len()
            ),
        ));
    }
    let params = config.training.check().map_err(|e| {
        let (field, message) = core_error("training", e);
        loaded.error(&field, message)
    })?;
    TrainingEvaluator::new(dataset, split, params)
        .map_err(|e| loaded.error("training", e.to_string()))
}
