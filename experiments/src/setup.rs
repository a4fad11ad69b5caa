//! From a config to the things a run needs: the data (or table), the bound search space,
//! the evaluator.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nas_core::{Evaluator, InputShape, SearchSpace, derive_seed, rng_from_seed};
use nas_eval::TrainingEvaluator;
use nas_eval::data::{self, Dataset};

use crate::config::{Config, EvaluatorKind, LoadedConfig, core_error};
use crate::error::BadInput;
use crate::manifest::{MemoryRecord, TableSummary};
use crate::tabular::TabularEvaluator;

/// A path from a config, relative to the config file.
fn relative_to_config(loaded: &LoadedConfig, path: &Path) -> PathBuf {
    if path.is_relative() {
        loaded
            .path
            .parent()
            .map_or_else(|| path.to_path_buf(), |p| p.join(path))
    } else {
        path.to_path_buf()
    }
}

/// Loads the config's data set: its directory, or the shipped mini MNIST when none is
/// given. `dir_override` (`--data-dir`) wins over the config.
pub fn load_dataset(
    loaded: &LoadedConfig,
    dir_override: Option<&Path>,
) -> Result<Dataset, BadInput> {
    let section = &loaded.config.data;
    let dir = match (dir_override, &section.dir) {
        (Some(d), _) => Some(d.to_path_buf()),
        (None, Some(d)) => Some(relative_to_config(loaded, d)),
        (None, None) => None,
    };
    match dir {
        Some(dir) => data::load(section.dataset, &dir).map_err(|e| {
            let mut err = loaded.error("data.dir", e.to_string());
            err.path = Some(dir.clone());
            err.position = None;
            err
        }),
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

/// The search space bound to an input shape.
pub fn bind_space(loaded: &LoadedConfig, input: InputShape) -> Result<SearchSpace, BadInput> {
    loaded.config.space.check(input).map_err(|e| match e {
        nas_core::Error::EmptySpace { .. } => loaded.error("space", e.to_string()),
        other => {
            let (field, message) = core_error("", other);
            loaded.error(&field, message)
        }
    })
}

/// Builds every strategy once on the bound `space` (but external processes, which start
/// with their runs), so that what only a run can check (a multi-fidelity strategy's rungs
/// against `budget.epochs`, BOHB's `min_points_in_model` against the space's genes) is
/// refused before any run starts, naming the config's field.
pub fn check_strategies(loaded: &LoadedConfig, space: &SearchSpace) -> Result<(), BadInput> {
    let config = &loaded.config;
    for (i, s) in config.strategies.iter().enumerate() {
        if s.command.is_some() {
            continue;
        }
        let spec = s.spec()?;
        let built = spec.build(crate::registry::BuildContext {
            space: space.clone(),
            rng: rng_from_seed(0),
            seed: 0,
            run: format!("{}/check", s.name()),
            limits: config.experiment.limits(),
            external: None,
            budget_epochs: config.budget.epochs,
        });
        if let Err(err) = built {
            let (field, message) = core_error(&format!("strategy[{i}].params"), err);
            return Err(loaded.error(&field, message));
        }
    }
    Ok(())
}

/// The seed of the validation split: fixed by the experiment seed alone.
pub fn split_seed(config: &Config) -> u64 {
    derive_seed(config.experiment.seed, "validation-split", 0)
}

/// The seed of the permutation whose first `budget.train_subset` images every trial of
/// an experiment trains on: fixed by the experiment seed alone.
pub fn subset_seed(config: &Config) -> u64 {
    derive_seed(config.experiment.seed, "train-subset", 0)
}

/// The evaluator that trains trials on the data.
pub fn training_evaluator(
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
    let mut params = config.training.check().map_err(|e| {
        let (field, message) = core_error("training", e);
        loaded.error(&field, message)
    })?;
    params.subset_seed = subset_seed(config);
    match &config.space {
        nas_core::SearchSpaceParams::Cell(cell) => params.cell_skeleton = cell.skeleton.clone(),
        nas_core::SearchSpaceParams::Macro(m) => params.macro_skeleton = m.skeleton.clone(),
        _ => {}
    }
    TrainingEvaluator::new(dataset, split, params).map_err(|e| match e {
        nas_eval::Error::MemoryLimit { .. } => loaded.error("training.max_memory", e.to_string()),
        other => loaded.error("training", other.to_string()),
    })
}

/// What scores the trials of a config, with the space bound to its input and a
/// description of the data for the manifest.
pub struct Scorer {
    /// The evaluator.
    pub evaluator: Box<dyn Evaluator>,
    /// The space, bound to the data's input shape.
    pub space: SearchSpace,
    /// Data set name.
    pub dataset: String,
    /// "official MNIST", ...
    pub identity: String,
    /// SHA-256 of each data file.
    pub files: Vec<(String, String)>,
    /// For a tabular evaluator: the table's summary.
    pub table: Option<TableSummary>,
    /// For an evaluator that trains: the memory limit of one trial.
    pub memory: Option<MemoryRecord>,
    /// For trials the native engine trains: its numeric contract.
    pub numeric_contract: Option<u32>,
}

/// Default longest wait for one evaluation of an external evaluator, in seconds.
pub const EVALUATOR_TIMEOUT: f64 = 3600.0;

/// The folder external processes of a config run in: the config file's.
pub fn workdir(loaded: &LoadedConfig) -> PathBuf {
    match loaded.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks that the program of every external command exists before anything runs: a
/// path (with a `/`) relative to the config's folder, or a name found on `PATH`.
///
/// # Errors
/// [`BadInput`] naming the field (`strategy[i].command` or `evaluator.command`), the
/// program and where it was looked for.
pub fn check_programs(loaded: &LoadedConfig) -> Result<(), BadInput> {
    let config = &loaded.config;
    let commands = config
        .strategies
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((format!("strategy[{i}].command"), s.command.as_ref()?)))
        .chain(
            config
                .evaluator
                .command
                .as_ref()
                .map(|c| ("evaluator.command".to_string(), c)),
        );
    let dir = workdir(loaded);
    for (field, command) in commands {
        let Some(program) = command.first() else {
            continue;
        };
        let found = if program.contains('/') {
            dir.join(program).is_file()
        } else {
            std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
        };
        if !found {
            let looked = if program.contains('/') {
                format!("relative to the config's folder {}", dir.display())
            } else {
                "on PATH".to_string()
            };
            return Err(loaded.error(&field, format!("program `{program}` not found ({looked})")));
        }
    }
    Ok(())
}

/// Builds the evaluator the config asks for. An external evaluator's stderr goes to
/// `logs/evaluator.log`.
pub fn scorer(
    loaded: &LoadedConfig,
    data_dir: Option<&Path>,
    logs: &Path,
) -> Result<Scorer, BadInput> {
    let config = &loaded.config;
    match config.evaluator.kind {
        EvaluatorKind::External => {
            let space = bind_space(loaded, config.data.dataset.shape())?;
            let command = config
                .evaluator
                .command
                .clone()
                .expect("checked: an external evaluator has a command");
            let params = serde_json::to_value(config.evaluator.params.clone().unwrap_or_default())
                .map_err(|e| loaded.error("evaluator.params", e.to_string()))?;
            let launch = nas_external::Launch {
                command: command.clone(),
                workdir: workdir(loaded),
                log: logs.join("evaluator.log"),
                timeout: std::time::Duration::from_secs_f64(
                    config.evaluator.timeout.unwrap_or(EVALUATOR_TIMEOUT),
                ),
            };
            let evaluator = nas_external::ExternalEvaluator::new(
                launch,
                space.clone(),
                params,
                config.data.dataset.classes(),
            );
            Ok(Scorer {
                evaluator: Box::new(evaluator),
                space,
                dataset: config.data.dataset.to_string(),
                identity: format!("external evaluator `{}`", command.join(" ")),
                files: Vec::new(),
                table: None,
                memory: None,
                numeric_contract: None,
            })
        }
        EvaluatorKind::Train => {
            let dataset = Arc::new(load_dataset(loaded, data_dir)?);
            let space = bind_space(loaded, dataset.shape)?;
            let evaluator = training_evaluator(loaded, dataset.clone())?;
            let limit = evaluator.memory_limit();
            Ok(Scorer {
                evaluator: Box::new(evaluator),
                space,
                dataset: dataset.kind.to_string(),
                identity: dataset.identity.describe(),
                files: dataset.identity.files.clone(),
                table: None,
                memory: Some(MemoryRecord {
                    bytes: limit.bytes,
                    configured: limit.configured,
                    source: limit.source,
                }),
                numeric_contract: (config.training.backend == nas_eval::BackendKind::Native)
                    .then_some(nas_eval::NUMERIC_CONTRACT),
            })
        }
        EvaluatorKind::Tabular => {
            let given = config
                .evaluator
                .table
                .as_ref()
                .expect("checked: a tabular evaluator has a table");
            let dir = relative_to_config(loaded, given);
            let table = TabularEvaluator::open(&dir)?
                .with_picks(config.evaluator.signal, config.evaluator.report)
                .map_err(|e| {
                    let field = if e.starts_with("report") {
                        "evaluator.report"
                    } else {
                        "evaluator.signal"
                    };
                    loaded.error(field, e)
                })?;
            let info = table.info();
            if info.space != config.space {
                return Err(loaded.error(
                    "space",
                    format!(
                        "differs from the space of the table {} (a tabular run searches the table's space: copy its [space] from {})",
                        dir.display(),
                        dir.join(crate::tabular::TABLE_JSON).display()
                    ),
                ));
            }
            if let Some(budget) = &info.budget {
                let curve = info.curve_epochs.unwrap_or(0);
                let early = budget.train_subset == config.budget.train_subset
                    && (1..=curve).contains(&config.budget.epochs);
                if budget != &config.budget && !early {
                    let subset = budget
                        .train_subset
                        .map_or_else(String::new, |n| format!(", train_subset = {n}"));
                    let allowed = if curve > 0 {
                        format!(
                            "; set the same [budget], with epochs from 1 to {curve} (the table holds learning curves)"
                        )
                    } else {
                        "; set the same [budget]".into()
                    };
                    return Err(loaded.error(
                        "budget",
                        format!(
                            "the table {} was recorded with epochs = {}{subset}{allowed}",
                            dir.display(),
                            budget.epochs,
                        ),
                    ));
                }
            }
            let space = bind_space(loaded, info.input)?;
            let identity = match info.budget {
                Some(_) => format!("{} (tabulated)", info.identity),
                None => format!("{} (imported)", info.identity),
            };
            Ok(Scorer {
                space,
                dataset: info.dataset.clone(),
                identity,
                files: info.files.clone(),
                table: Some(table.summary(&given.to_string_lossy())),
                evaluator: Box::new(table),
                memory: None,
                numeric_contract: None,
            })
        }
    }
}
