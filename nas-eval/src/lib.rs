//! # nas-eval
//!
//! Turns a nas [`Architecture`](nas_core::Architecture) into a network, trains it and
//! scores it on real data (MNIST, Fashion-MNIST, CIFAR-10), implementing the core
//! [`Evaluator`](nas_core::Evaluator) trait.
//!
//! - [`data`]: the readers and the in-memory [`Dataset`](data::Dataset);
//! - [`TrainParams`] → [`TrainValidParams`]: batch size, optimiser, threads, backend;
//! - [`TrainingEvaluator`]: the evaluator a search runs; [`eval_one`] and
//!   [`EvalReport`]: one evaluation for `nas eval`; [`Network`]: a built network for
//!   custom loops and benchmarks;
//! - [`memory`]: a trial's memory estimated before it is built, and the limit that turns
//!   a network too large for the machine into a failed trial instead of an abort;
//! - the native engine (private): a purpose-built CPU trainer for the search space's
//!   layers, bit-identical for any thread count and on every x86-64 CPU (numeric
//!   contract [`NUMERIC_CONTRACT`]; kernel family [`simd_path`], forced with
//!   `NAS_SIMD`); the candle backend builds the same network from stock candle ops as
//!   a reference.

mod backend;
pub mod data;
mod engine;
pub mod error;
pub mod evaluator;
pub mod input;
pub mod memory;
pub mod model;
pub mod params;
mod reference;
pub mod report;
pub mod seeds;
mod trainer;

pub use engine::{NUMERIC_CONTRACT, SimdPath, simd_path};
pub use error::{Error, Result};
pub use evaluator::{KEPT_STATES_BYTES, TrainReport, TrainingEvaluator};
pub use input::Normalizer;
pub use model::Network;
pub use params::{BackendKind, LrSchedule, OptimizerKind, TrainParams, TrainValidParams};
pub use report::{EvalReport, eval_one};
