//! Reading full MNIST from its gzipped IDX files (decompress, check, SHA-256 identity)
//! into a `Dataset`. Skipped, with a message, when the files are absent (see
//! `nas_bench::mnist_dir`).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use nas_bench::{MNIST_DIR_VAR, mnist_dir};
use nas_eval::data::{DatasetKind, load};

fn idx_gz(c: &mut Criterion) {
    let Some(dir) = mnist_dir() else {
        eprintln!(
            "loading/mnist: skipped: no MNIST directory (set {MNIST_DIR_VAR} or put the IDX files in ../shared/data/mnist next to the repository)"
        );
        return;
    };
    let probe = match load(DatasetKind::Mnist, &dir) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("loading/mnist: skipped: {e}");
            return;
        }
    };
    let images = (probe.train.len() + probe.test.len()) as u64;
    let mut group = c.benchmark_group("loading");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(images));
    group.bench_function(
        BenchmarkId::new("mnist", format!("idx-gz/images{images}")),
        |b| b.iter(|| load(DatasetKind::Mnist, &dir).expect("MNIST loads")),
    );
    group.finish();
}

criterion_group!(benches, idx_gz);
