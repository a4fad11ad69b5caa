//! Training steps and nothing else, for profilers: trains a reference model on the
//! embedded mini MNIST for a number of steps (batch 128) and prints the throughput.
//!
//! ```text
//! perf record -g cargo run --release -p nas-bench --example steps -- [cnn|mlp] [STEPS] [THREADS]
//! ```
//! (defaults: cnn, 400 steps, 1 thread). The kernel family is `NAS_SIMD`'s, or the best
//! the CPU has.

use std::time::Instant;

use nas_bench::REFERENCE_MODELS;
use nas_core::Architecture;
use nas_eval::data::mini_mnist;
use nas_eval::{Network, Normalizer, TrainParams, simd_path};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args.first().map_or("cnn", String::as_str);
    let steps: usize = args
        .get(1)
        .map_or(400, |s| s.parse().expect("a number of steps"));
    let threads: u32 = args
        .get(2)
        .map_or(1, |s| s.parse().expect("a thread count"));
    let (_, arch) = REFERENCE_MODELS
        .iter()
        .find(|(name, _)| *name == model)
        .expect("cnn or mlp");
    let arch: Architecture = arch.parse().expect("a reference model");
    let data = mini_mnist().expect("the embedded mini MNIST");
    let all: Vec<u32> = (0..data.train.len() as u32).collect();
    let norm = Normalizer::fit(&data.train, data.shape, &all);
    let params = TrainParams {
        threads,
        ..TrainParams::default()
    }
    .check()
    .expect("valid parameters");
    let mut net = Network::new(&arch, data.shape, data.classes, &params, 1).expect("a network");
    let batches: Vec<&[u32]> = all.chunks_exact(128).collect();
    let start = Instant::now();
    let mut loss = 0.0;
    for step in 0..steps {
        loss = net
            .train_step(&data.train, &norm, batches[step % batches.len()])
            .expect("a step");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{model}: {steps} steps of 128 on {threads} thread(s), {} kernels: {:.0} img/s (last loss {loss:.4})",
        simd_path().expect("a kernel family"),
        (steps * 128) as f64 / secs
    );
}
