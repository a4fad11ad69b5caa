//! Forward-only throughput (no dropout, no gradients): scoring 1,024 images, the work of
//! validating a trial. The kernel family (`NAS_SIMD`, or the best the CPU has) is the
//! last part of each benchmark id.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use nas_bench::REFERENCE_MODELS;
use nas_core::Architecture;
use nas_eval::data::mini_mnist;
use nas_eval::{Network, Normalizer, TrainParams, simd_path};

/// Images scored per iteration.
const IMAGES: usize = 1024;

fn forward(c: &mut Criterion) {
    let data = mini_mnist().expect("the embedded mini MNIST");
    let all: Vec<u32> = (0..data.train.len() as u32).collect();
    let norm = Normalizer::fit(&data.train, data.shape, &all);
    let images: Vec<u32> = (0..IMAGES as u32).collect();
    let kernels = simd_path().expect("a valid NAS_SIMD");
    let mut group = c.benchmark_group("inference");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(IMAGES as u64));
    for (name, arch) in REFERENCE_MODELS {
        for threads in [1u32, 2] {
            let arch: Architecture = arch.parse().expect("a reference model");
            let params = TrainParams {
                threads,
                ..TrainParams::default()
            }
            .check()
            .expect("valid parameters");
            let mut net = Network::new(&arch, data.shape, data.classes, &params, 1)
                .expect("the reference models build on MNIST");
            let id = BenchmarkId::new(name, format!("images{IMAGES}/threads{threads}/{kernels}"));
            group.bench_function(id, |b| {
                b.iter(|| net.evaluate(&data.test, &norm, &images).expect("scoring"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, forward);
