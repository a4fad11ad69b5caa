//! Writes `data/mnist-mini`: a stratified, deterministic subset of MNIST as gzipped IDX
//! files, plus a README with its provenance, selection rule, class counts and checksums.
//!
//! ```sh
//! cargo run --release -p nas-eval --example make_mnist_mini -- /work/shared/data/mnist data/mnist-mini
//! # optional sizes (defaults 10000 2000):
//! cargo run --release -p nas-eval --example make_mnist_mini -- SRC OUT 10000 2000
//! ```
//!
//! The selection is `stratified_split(labels, size, seed).val` (see `nas_eval::data::split`)
//! with seed 1 for the training images and seed 2 for the test images, kept in their
//! original order. Files are gzipped at level 9 with a gzip header holding no file name and
//! no time stamp, so every run writes the same bytes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use flate2::{Compression, GzBuilder};
use nas_eval::data::{Dataset, DatasetKind, Images, identity, idx, load, stratified_split};

/// Seed of the training subset; the test subset uses `SEED + 1`.
const SEED: u64 = 1;
const DEFAULT_TRAIN: usize = 10_000;
const DEFAULT_TEST: usize = 2_000;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> String {
    "usage: make_mnist_mini <source dir> <output dir> [train size] [test size]".to_string()
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    // GzBuilder writes mtime 0, no file name and OS byte 255: reproducible bytes.
    let mut enc = GzBuilder::new().write(Vec::new(), Compression::best());
    enc.write_all(bytes).map_err(|e| e.to_string())?;
    enc.finish().map_err(|e| e.to_string())
}

/// One output file: canonical name, decompressed bytes.
struct Out {
    name: &'static str,
    raw: Vec<u8>,
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(2..=4).contains(&args.len()) {
        return Err(usage());
    }
    let src = PathBuf::from(&args[0]);
    let out_dir = PathBuf::from(&args[1]);
    let size = |i: usize, default: usize, what: &str| -> Result<usize, String> {
        args.get(i).map_or(Ok(default), |s| {
            s.parse()
                .map_err(|_| format!("{what} size `{s}` is not a number; {}", usage()))
        })
    };
    let train_size = size(2, DEFAULT_TRAIN, "train")?;
    let test_size = size(3, DEFAULT_TEST, "test")?;

    let start = Instant::now();
    let full = load(DatasetKind::Mnist, &src).map_err(|e| e.to_string())?;
    let load_time = start.elapsed();
    println!(
        "loaded {} ({} train + {} test images, {}) in {:.1} ms",
        src.display(),
        full.train.len(),
        full.test.len(),
        full.identity.describe(),
        load_time.as_secs_f64() * 1e3
    );

    let train_idx = stratified_split(&full.train.labels, train_size, SEED)
        .map_err(|e| format!("train size: {e}"))?
        .val;
    let test_idx = stratified_split(&full.test.labels, test_size, SEED + 1)
        .map_err(|e| format!("test size: {e}"))?
        .val;
    let train = full.train.select(&train_idx);
    let test = full.test.select(&test_idx);

    let (rows, cols) = (full.shape.height, full.shape.width);
    let encode_err = || "cannot encode the subset as IDX".to_string();
    let outs = [
        Out {
            name: idx::FILES[0].0,
            raw: idx::encode_images(&train, rows, cols).ok_or_else(encode_err)?,
        },
        Out {
            name: idx::FILES[1].0,
            raw: idx::encode_labels(&train).ok_or_else(encode_err)?,
        },
        Out {
            name: idx::FILES[2].0,
            raw: idx::encode_images(&test, rows, cols).ok_or_else(encode_err)?,
        },
        Out {
            name: idx::FILES[3].0,
            raw: idx::encode_labels(&test).ok_or_else(encode_err)?,
        },
    ];

    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let mut gz_sizes = Vec::new();
    for out in &outs {
        let path = out_dir.join(format!("{}.gz", out.name));
        let gz = gzip(&out.raw)?;
        std::fs::write(&path, &gz).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        gz_sizes.push(gz.len());
    }

    // Read the result back through the library, as users will.
    let mini = load(DatasetKind::Mnist, &out_dir).map_err(|e| e.to_string())?;
    if mini.train != train || mini.test != test {
        return Err("the written files do not read back to the subset".to_string());
    }

    let readme = readme(
        &src, &args, &full, &mini, &train_idx, &test_idx, &outs, &gz_sizes,
    );
    let readme_path = out_dir.join("README.md");
    std::fs::write(&readme_path, readme)
        .map_err(|e| format!("cannot write {}: {e}", readme_path.display()))?;
    println!(
        "wrote {} ({} train + {} test images, {} bytes gzipped)",
        out_dir.display(),
        mini.train.len(),
        mini.test.len(),
        gz_sizes.iter().sum::<usize>()
    );
    Ok(())
}

fn counts_line(images: &Images, classes: u32) -> String {
    images
        .class_counts(classes)
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[allow(clippy::too_many_arguments)]
fn readme(
    src: &Path,
    args: &[String],
    full: &Dataset,
    mini: &Dataset,
    train_idx: &[u32],
    test_idx: &[u32],
    outs: &[Out],
    gz_sizes: &[usize],
) -> String {
    let mut r = String::new();
    let classes = full.classes;
    let sizes = if args.len() > 2 {
        format!(" {}", args[2..].join(" "))
    } else {
        String::new()
    };
    // Writing to a String cannot fail.
    let _ = writeln!(
        r,
        "# mnist-mini\n\n\
         A stratified subset of MNIST: {} training and {} test images (28x28 grey, labels \
         0-9), as gzipped IDX files with the standard names. nas embeds it in the binary \
         (`nas_eval::data::mini_mnist()`); tests, benchmarks and the quickstart use it when \
         no data directory is given. Its identity is reported as \"{}\".\n",
        mini.train.len(),
        mini.test.len(),
        mini.identity.describe()
    );
    let _ = writeln!(
        r,
        "## License and credit\n\n\
         MNIST is by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, distributed under \
         the Creative Commons Attribution-Share Alike 3.0 license (CC BY-SA 3.0). This subset \
         is a derivative work under the same license.\n"
    );
    let _ = writeln!(
        r,
        "## Provenance\n\n\
         Made from the full MNIST files in `{}` (identity: {}), whose decompressed SHA-256 \
         checksums are:\n\n```",
        src.display(),
        full.identity.describe()
    );
    for (name, sum) in &full.identity.files {
        let _ = writeln!(r, "{sum}  {name}");
    }
    let _ = writeln!(
        r,
        "```\n\n\
         Remade, byte for byte, by this command from the repository root (it also writes this \
         README):\n\n```sh\n\
         cargo run --release -p nas-eval --example make_mnist_mini -- {} {}{sizes}\n```\n",
        src.display(),
        args[1]
    );
    let _ = writeln!(
        r,
        "## Selection rule\n\n\
         Training images: `stratified_split(train_labels, {}, seed {SEED}).val`; test images: \
         `stratified_split(test_labels, {}, seed {}).val` (`nas_eval::data::split`). Each class \
         gets `floor(size * class_count / total)` images, the leftover ones going to the \
         classes with the largest remainders (ties to the smaller label); within a class the \
         images are drawn by a partial Fisher-Yates shuffle driven by ChaCha8 seeded with the \
         seed. Chosen images keep their original relative order. Training indices (into the \
         original 60,000) start {:?}; test indices (into the original 10,000) start {:?}.\n",
        train_idx.len(),
        test_idx.len(),
        SEED + 1,
        &train_idx[..train_idx.len().min(5)],
        &test_idx[..test_idx.len().min(5)],
    );
    let _ = writeln!(
        r,
        "## Class counts (labels 0-9)\n\n\
         | split | images | per class |\n|---|---|---|\n\
         | train | {} | {} |\n| test | {} | {} |\n\n\
         The full set: train {}; test {}.\n",
        mini.train.len(),
        counts_line(&mini.train, classes),
        mini.test.len(),
        counts_line(&mini.test, classes),
        counts_line(&full.train, classes),
        counts_line(&full.test, classes),
    );
    let _ = writeln!(
        r,
        "## Files\n\n\
         Gzip level 9 (flate2, miniz_oxide backend), no file name or time stamp in the gzip \
         header. nas \
         identifies data by the SHA-256 of the *decompressed* files, so recompressing \
         changes nothing.\n\n\
         | file | bytes (gzipped) | bytes (decompressed) | SHA-256 of the decompressed file |\n\
         |---|---|---|---|"
    );
    for (out, gz) in outs.iter().zip(gz_sizes) {
        let _ = writeln!(
            r,
            "| `{}.gz` | {gz} | {} | `{}` |",
            out.name,
            out.raw.len(),
            identity::sha256_hex(&out.raw)
        );
    }
    let _ = writeln!(
        r,
        "\nTotal: {} bytes gzipped.",
        gz_sizes.iter().sum::<usize>()
    );
    r
}
