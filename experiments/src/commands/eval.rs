//! `nas eval`: train and score one architecture, printed as JSON or a table.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::{Args, ValueEnum};
use nas_core::space::{CellParams, CellSkeleton, MacroParams, MacroSkeleton};
use nas_core::{Architecture, Budget, InputShape, SearchSpaceParams};
use nas_eval::data::{self, DatasetKind};
use nas_eval::{BackendKind, LrSchedule, OptimizerKind, TrainParams, eval_one};

use crate::error::BadInput;

/// Output format of `nas eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object.
    Json,
    /// A table for people.
    Table,
}

/// Arguments of `nas eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// The architecture, e.g. "conv3x3-16-relu > maxpool2 > dense128-relu".
    #[arg(long)]
    pub arch: String,
    /// mnist, fashion-mnist or cifar10.
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// Folder of the data set's files [default for mnist: the shipped mini MNIST].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Training epochs.
    #[arg(long, default_value_t = 1)]
    pub epochs: u32,
    /// Train on this many images of the training split (default: all of it).
    #[arg(long)]
    pub train_subset: Option<u32>,
    /// Training images held out for validation.
    #[arg(long, default_value_t = 5000)]
    pub validation_size: usize,
    /// Threads for the trial.
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// Examples per step.
    #[arg(long, default_value_t = 128)]
    pub batch_size: u32,
    /// adamw or sgd.
    #[arg(long, default_value = "adamw")]
    pub optimizer: String,
    /// Learning rate [default: 1e-3 for AdamW, 0.01 for SGD].
    #[arg(long)]
    pub lr: Option<f64>,
    /// native or candle (the slower reference implementation).
    #[arg(long, default_value = "native")]
    pub backend: String,
    /// Most memory the trial may need, e.g. 4GiB [default: 3/4 of what the machine has
    /// free]; a network estimated to need more is refused before it is built.
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// Output channels of the stem [default: 16 for a cell, as NAS-Bench-201; 32 for a
    /// macro network, as NAS-Bench-Macro].
    #[arg(long)]
    pub stem_channels: Option<u32>,
    /// For a macro network: channels of the 1x1 convolution before pooling
    /// (NAS-Bench-Macro: 1280).
    #[arg(long, default_value_t = 1280)]
    pub head_channels: u32,
    /// For a cell: cells per stage (NAS-Bench-201: 5).
    #[arg(long, default_value_t = 5)]
    pub cells_per_stage: u32,
    /// For a cell: stages, each after the first starting with a reduction block
    /// (NAS-Bench-201: 3).
    #[arg(long, default_value_t = 3)]
    pub stages: u32,
    /// SGD momentum [default: 0.9 for SGD].
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Weight decay [default: 0.01 for AdamW, 0 for SGD].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Nesterov momentum (SGD only).
    #[arg(long)]
    pub nesterov: bool,
    /// Learning-rate schedule: constant or cosine.
    #[arg(long, default_value = "constant")]
    pub lr_schedule: String,
    /// Trial seed: weights, batch order, dropout and the validation split.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// json or table.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

fn parse_value<T: serde::de::DeserializeOwned>(
    flag: &str,
    value: &str,
    allowed: &str,
) -> Result<T, BadInput> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|_| BadInput::new(format!("{flag}: `{value}` is not one of {allowed}")))
}

/// A space error's field names as `nas eval`'s flags.
fn flag_names(message: &str) -> String {
    message
        .replace("space.skeleton.stem_channels", "--stem-channels")
        .replace("space.skeleton.cells_per_stage", "--cells-per-stage")
        .replace("space.skeleton.stages", "--stages")
        .replace("space.skeleton.head_channels", "--head-channels")
}

/// The architecture of `--arch`: any kind's canonical text, or a NAS-Bench-Macro key (8
/// digits) of the default macro space.
fn parse_arch(text: &str) -> Result<Architecture, BadInput> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()) {
        let space = SearchSpaceParams::Macro(MacroParams::default())
            .check(InputShape::new(3, 32, 32))
            .map_err(|e| BadInput::new(e.to_string()))?;
        return space
            .parse(trimmed)
            .map_err(|e| BadInput::new(format!("--arch: {e}")));
    }
    trimmed
        .parse()
        .map_err(|e: nas_core::Error| BadInput::new(format!("--arch: {e}")))
}

/// `nas eval`.
pub fn exec(args: &EvalArgs) -> Result<()> {
    let arch = parse_arch(&args.arch)?;
    let kind: DatasetKind = args
        .dataset
        .parse()
        .map_err(|e| BadInput::new(format!("--dataset: {e}")))?;
    let optimizer: OptimizerKind = parse_value("--optimizer", &args.optimizer, "adamw, sgd")?;
    let backend: BackendKind = parse_value("--backend", &args.backend, "native, candle")?;
    let max_memory = args
        .max_memory
        .as_deref()
        .map(|m| m.parse::<nas_eval::memory::ByteSize>())
        .transpose()
        .map_err(|e| BadInput::new(format!("--max-memory: {e}")))?;
    let lr_schedule: LrSchedule =
        parse_value("--lr-schedule", &args.lr_schedule, "constant, cosine")?;
    let mut params = TrainParams {
        batch_size: args.batch_size,
        optimizer,
        learning_rate: args.lr,
        momentum: args.momentum,
        weight_decay: args.weight_decay,
        nesterov: args.nesterov,
        lr_schedule,
        threads: args.threads,
        backend,
        max_memory,
        ..TrainParams::default()
    }
    .check()
    .map_err(|e| BadInput::new(format!("invalid training settings: {e}")))?;
    // A cell's or macro network's space: the skeleton's bounds are checked before the
    // data are loaded, the feature maps after (errors named by flag).
    let graph_space = match &arch {
        Architecture::Chain(_) => None,
        Architecture::Cell(cell) => {
            let skeleton = CellSkeleton {
                stem_channels: args.stem_channels.unwrap_or(16),
                cells_per_stage: args.cells_per_stage,
                stages: args.stages,
            };
            params.cell_skeleton = skeleton.clone();
            Some(SearchSpaceParams::Cell(CellParams::holding(cell, skeleton)))
        }
        Architecture::Macro(net) => {
            let skeleton = MacroSkeleton {
                stem_channels: args.stem_channels.unwrap_or(32),
                head_channels: args.head_channels,
                ..MacroSkeleton::default()
            };
            let space = MacroParams::holding(net, skeleton);
            params.macro_skeleton = space.skeleton.clone();
            Some(SearchSpaceParams::Macro(space))
        }
    };
    if let Some(space) = &graph_space {
        space
            .validate()
            .map_err(|e| BadInput::new(flag_names(&e.to_string())))?;
    }
    if args.epochs == 0 {
        return Err(BadInput::new("--epochs must be at least 1").into());
    }
    let dataset = match &args.data_dir {
        Some(dir) => data::load(kind, dir).map_err(|e| BadInput::at(dir, e.to_string()))?,
        None if kind == DatasetKind::Mnist => data::mini_mnist()?,
        None => {
            return Err(BadInput::new(format!(
                "--data-dir is required for {kind} (only a mini MNIST ships with nas)"
            ))
            .into());
        }
    };
    if let Architecture::Chain(chain) = &arch {
        chain.geometries(dataset.shape).map_err(|e| {
            BadInput::new(format!("--arch does not fit {} images: {e}", dataset.shape))
        })?;
    }
    if let Some(space) = &graph_space {
        space.check(dataset.shape).map_err(|e| {
            BadInput::new(format!(
                "--arch does not fit {} images: {}",
                dataset.shape,
                flag_names(&e.to_string())
            ))
        })?;
    }
    let budget = Budget {
        epochs: args.epochs,
        train_subset: args.train_subset,
    };
    let report = eval_one(
        Arc::new(dataset),
        &arch,
        &budget,
        &params,
        args.seed,
        args.validation_size,
    )
    .map_err(|e| BadInput::new(e.to_string()))?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&report)?),
        Format::Table => print!("{}", report.to_table()),
    }
    Ok(())
}
