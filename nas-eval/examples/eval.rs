//! Trains one architecture and prints its metrics: the logic of `nas eval`, for
//! measuring the engine without the `nas` binary.
//!
//! ```text
//! cargo run --release -p nas-eval --example eval -- \
//!     --arch "conv3x3-16-relu > maxpool2 > conv3x3-32-relu > maxpool2" \
//!     --data-dir /work/shared/data/mnist --epochs 1 --threads 2 --seed 1 [--format table]
//! ```
//!
//! Options: `--arch TEXT`, `--dataset mnist|fashion-mnist|cifar10` (default mnist),
//! `--data-dir DIR` (default: the embedded mini MNIST), `--epochs N`, `--train-subset N`,
//! `--threads T`, `--seed S`, `--val-size N` (default 5000, 1000 on the mini set),
//! `--batch-size B`, `--micro-batch M`, `--optimizer adamw|sgd`, `--lr X`,
//! `--backend native|candle`, `--format json|table`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use nas_core::{Architecture, Budget};
use nas_eval::data::{self, DatasetKind};
use nas_eval::{BackendKind, OptimizerKind, TrainParams, eval_one};

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut arch = String::from("conv3x3-16-relu > maxpool2 > conv3x3-32-relu > maxpool2");
    let mut kind = DatasetKind::Mnist;
    let mut dir: Option<PathBuf> = None;
    let mut budget = Budget::default();
    let mut params = TrainParams::default();
    let mut seed = 1u64;
    let mut val_size: Option<usize> = None;
    let mut table = false;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let bad = |v: &str| format!("bad value `{v}` for {flag}");
        match flag.as_str() {
            "--arch" => arch = value()?,
            "--dataset" => {
                let v = value()?;
                kind = serde_json::from_str(&format!("\"{v}\"")).map_err(|_| bad(&v))?;
            }
            "--data-dir" => dir = Some(PathBuf::from(value()?)),
            "--epochs" => budget.epochs = value()?.parse().map_err(|_| bad("epochs"))?,
            "--train-subset" => {
                budget.train_subset = Some(value()?.parse().map_err(|_| bad("train-subset"))?)
            }
            "--threads" => params.threads = value()?.parse().map_err(|_| bad("threads"))?,
            "--seed" => seed = value()?.parse().map_err(|_| bad("seed"))?,
            "--val-size" => val_size = Some(value()?.parse().map_err(|_| bad("val-size"))?),
            "--batch-size" => {
                params.batch_size = value()?.parse().map_err(|_| bad("batch-size"))?
            }
            "--micro-batch" => {
                params.micro_batch = value()?.parse().map_err(|_| bad("micro-batch"))?
            }
            "--lr" => params.learning_rate = Some(value()?.parse().map_err(|_| bad("lr"))?),
            "--optimizer" => {
                params.optimizer = match value()?.as_str() {
                    "adamw" => OptimizerKind::Adamw,
                    "sgd" => OptimizerKind::Sgd,
                    v => return Err(bad(v)),
                }
            }
            "--backend" => {
                params.backend = match value()?.as_str() {
                    "native" => BackendKind::Native,
                    "candle" => BackendKind::Candle,
                    v => return Err(bad(v)),
                }
            }
            "--format" => {
                table = match value()?.as_str() {
                    "table" => true,
                    "json" => false,
                    v => return Err(bad(v)),
                }
            }
            other => return Err(format!("unknown option {other} (see the example's docs)")),
        }
    }
    let arch: Architecture = arch.parse().map_err(|e| format!("{e}"))?;
    let params = params.check().map_err(|e| e.to_string())?;
    let dataset = match &dir {
        Some(dir) => data::load(kind, dir),
        None => data::mini_mnist(),
    }
    .map_err(|e| e.to_string())?;
    let val_size = val_size.unwrap_or(if dir.is_some() { 5000 } else { 1000 });
    let report = eval_one(Arc::new(dataset), &arch, &budget, &params, seed, val_size)
        .map_err(|e| e.to_string())?;
    if table {
        print!("{}", report.to_table());
    } else {
        println!("{}", report.to_json());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
