//! Training-step throughput of the reference models: one optimisation step (gather and
//! standardise the batch, forward, backward, AdamW) per iteration, on the embedded mini
//! MNIST, for batch sizes 64 and 128 and 1 or 2 threads; the candle reference backend
//! once, for scale. The native engine's kernel family (`NAS_SIMD`, or the best the CPU
//! has) is the last part of each benchmark id.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use nas_bench::{REFERENCE_CNN, REFERENCE_MODELS};
use nas_core::Architecture;
use nas_eval::data::mini_mnist;
use nas_eval::{BackendKind, Network, Normalizer, TrainParams, simd_path};

/// The trial seed of every benchmarked network.
const SEED: u64 = 1;

fn train_step(c: &mut Criterion) {
    let data = mini_mnist().expect("the embedded mini MNIST");
    let all: Vec<u32> = (0..data.train.len() as u32).collect();
    let norm = Normalizer::fit(&data.train, data.shape, &all);
    let kernels = simd_path().expect("a valid NAS_SIMD");
    let mut group = c.benchmark_group("train_step");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut cases = Vec::new();
    for (name, arch) in REFERENCE_MODELS {
        for batch in [64u32, 128] {
            for threads in [1u32, 2] {
                cases.push((name, arch, batch, threads, BackendKind::Native));
            }
        }
    }
    cases.push(("cnn", REFERENCE_CNN, 128, 2, BackendKind::Candle));
    for (name, arch, batch, threads, backend) in cases {
        let arch: Architecture = arch.parse().expect("a reference model");
        let params = TrainParams {
            batch_size: batch,
            threads,
            backend,
            ..TrainParams::default()
        }
        .check()
        .expect("valid parameters");
        let mut net = Network::new(&arch, data.shape, data.classes, &params, SEED)
            .expect("the reference models build on MNIST");
        let batches: Vec<&[u32]> = all.chunks_exact(batch as usize).collect();
        let id = BenchmarkId::new(
            name,
            match backend {
                BackendKind::Native => format!("batch{batch}/threads{threads}/native/{kernels}"),
                _ => format!("batch{batch}/threads{threads}/{}", backend.name()),
            },
        );
        if backend == BackendKind::Candle {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(5));
        }
        group.throughput(Throughput::Elements(u64::from(batch)));
        let mut step = 0usize;
        group.bench_function(id, |b| {
            b.iter(|| {
                let idx = batches[step % batches.len()];
                step += 1;
                net.train_step(&data.train, &norm, idx)
                    .expect("a training step")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, train_step);
