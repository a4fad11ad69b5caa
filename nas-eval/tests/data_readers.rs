//! The IDX and CIFAR-10 readers on files generated here, byte by byte, in the official
//! formats: round trips under every accepted name, and one specific error per defect.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;
use nas_eval::data::{DataError, Dataset, DatasetKind, identity, load};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "nas-eval-data-readers-{}-{test}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Pixel `p` of image `i` in generated sets: distinct enough to catch any reordering.
fn pixel(i: usize, p: usize) -> u8 {
    ((i * 31 + p * 7) % 256) as u8
}

fn idx_images(count: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [0x0000_0803u32, count, rows, cols] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    let n = (rows * cols) as usize;
    for i in 0..count as usize {
        out.extend((0..n).map(|p| pixel(i, p)));
    }
    out
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 1];
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

fn labels(count: usize) -> Vec<u8> {
    (0..count).map(|i| (i * 7 % 10) as u8).collect()
}

/// The four raw files of a small MNIST-shaped set: 30 training and 12 test images.
fn small_idx() -> [(&'static str, Vec<u8>); 4] {
    [
        ("train-images-idx3-ubyte", idx_images(30, 28, 28)),
        ("train-labels-idx1-ubyte", idx_labels(&labels(30))),
        ("t10k-images-idx3-ubyte", idx_images(12, 28, 28)),
        ("t10k-labels-idx1-ubyte", idx_labels(&labels(12))),
    ]
}

fn dotted(name: &str) -> String {
    name.replacen("-idx", ".idx", 1)
}

/// Writes the small IDX set with `name(canonical)` names, gzipped when `gzip`.
fn write_idx(dir: &TempDir, files: &[(&str, Vec<u8>)], gzip: bool, dots: bool) {
    for (name, raw) in files {
        let mut name = if dots { dotted(name) } else { name.to_string() };
        let bytes = if gzip {
            name.push_str(".gz");
            gz(raw)
        } else {
            raw.clone()
        };
        dir.write(&name, &bytes);
    }
}

fn check_small_idx(data: &Dataset, files: &[(&str, Vec<u8>)]) {
    assert_eq!(data.kind, DatasetKind::Mnist);
    assert_eq!(data.shape.to_string(), "1x28x28");
    assert_eq!(data.classes, 10);
    assert_eq!((data.train.len(), data.test.len()), (30, 12));
    assert_eq!(data.train.labels, labels(30));
    assert_eq!(data.test.labels, labels(12));
    assert_eq!(data.train.image_len(), 784);
    for i in [0, 17, 29] {
        assert!(
            data.train
                .image(i)
                .iter()
                .enumerate()
                .all(|(p, &v)| v == pixel(i, p))
        );
    }
    assert_eq!(data.test.image(11)[5], pixel(11, 5));
    let expected: Vec<(String, String)> = files
        .iter()
        .map(|(name, raw)| (name.to_string(), identity::sha256_hex(raw)))
        .collect();
    assert_eq!(data.identity.files, expected);
    assert_eq!(data.identity.official, None);
    assert_eq!(data.identity.describe(), "custom data");
}

#[test]
fn idx_round_trips_raw_and_gz_under_both_names() {
    let files = small_idx();
    let mut identities = Vec::new();
    for gzip in [false, true] {
        for dots in [false, true] {
            let dir = TempDir::new("round-trip");
            write_idx(&dir, &files, gzip, dots);
            let data = load(DatasetKind::Mnist, dir.path()).unwrap();
            check_small_idx(&data, &files);
            identities.push(data.identity);
        }
    }
    // The identity is of the decompressed bytes: the same whatever the file names.
    assert!(identities.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn idx_mixed_compression_and_fashion_kind() {
    let files = small_idx();
    let dir = TempDir::new("mixed");
    write_idx(&dir, &files[..2], true, false);
    write_idx(&dir, &files[2..], false, true);
    let data = load(DatasetKind::FashionMnist, dir.path()).unwrap();
    assert_eq!(data.kind, DatasetKind::FashionMnist);
    assert_eq!(data.train.len(), 30);
}

/// Writes the small set with file `target` replaced by `bytes` (under the name `as_name`),
/// then loads it.
fn load_with(test: &str, target: usize, as_name: &str, bytes: &[u8]) -> (TempDir, DataError) {
    let mut files = small_idx();
    let dir = TempDir::new(test);
    files[target].1 = Vec::new();
    for (i, (name, raw)) in files.iter().enumerate() {
        if i != target {
            dir.write(name, raw);
        }
    }
    dir.write(as_name, bytes);
    let err = load(DatasetKind::Mnist, dir.path()).unwrap_err();
    (dir, err)
}

#[test]
fn truncated_idx_files_say_how_long_they_should_be() {
    let raw = idx_images(30, 28, 28);
    let cut = &raw[..raw.len() - 100];
    for (name, bytes) in [
        ("train-images-idx3-ubyte", cut.to_vec()),
        ("train-images-idx3-ubyte.gz", gz(cut)),
    ] {
        let (dir, err) = load_with("truncated", 0, name, &bytes);
        let path = dir.path().join(name);
        assert!(
            matches!(&err, DataError::Truncated { path: p, expected: 23536, found: 23436 } if *p == path),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{}: truncated: expected 23536 bytes, found 23436",
                path.display()
            )
        );
    }
    // Shorter than the header.
    let (_dir, err) = load_with(
        "short-header",
        1,
        "train-labels-idx1-ubyte",
        &[0, 0, 8, 1, 0],
    );
    assert!(
        matches!(
            err,
            DataError::Truncated {
                expected: 8,
                found: 5,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn wrong_magic_names_expected_and_found() {
    let (dir, err) = load_with(
        "magic",
        0,
        "train-images-idx3-ubyte",
        &idx_labels(&labels(30)),
    );
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                expected: 0x803,
                found: 0x801,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: wrong magic number: expected 0x00000803",
            dir.path().join("train-images-idx3-ubyte").display()
        )) && msg.ends_with("found 0x00000801"),
        "{msg}"
    );
}

#[test]
fn trailing_bytes_are_a_wrong_length() {
    let mut raw = idx_labels(&labels(30));
    raw.extend_from_slice(&[0, 0, 0]);
    let (_dir, err) = load_with("trailing", 1, "train-labels-idx1-ubyte.gz", &gz(&raw));
    assert!(
        matches!(
            err,
            DataError::TrailingBytes {
                expected: 38,
                found: 41,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("wrong length: expected 38 bytes, found 41")
    );
}

#[test]
fn bad_label_is_named_with_its_index() {
    let mut l = labels(12);
    l[4] = 12;
    let (dir, err) = load_with("label", 3, "t10k-labels-idx1-ubyte", &idx_labels(&l));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: label 12 of image 4 is out of range 0..10",
            dir.path().join("t10k-labels-idx1-ubyte").display()
        )
    );
}

#[test]
fn images_and_labels_must_agree_on_the_count() {
    let (dir, err) = load_with(
        "count",
        3,
        "t10k-labels-idx1-ubyte",
        &idx_labels(&labels(11)),
    );
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 12,
                labels: 11,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "image count mismatch: {} holds 12 images but {} holds 11 labels",
            dir.path().join("t10k-images-idx3-ubyte").display(),
            dir.path().join("t10k-labels-idx1-ubyte").display()
        )
    );
}

#[test]
fn images_of_the_wrong_size_are_a_bad_header() {
    let (_dir, err) = load_with("size", 2, "t10k-images-idx3-ubyte", &idx_images(12, 32, 32));
    assert!(matches!(err, DataError::BadHeader { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with("bad header: images are 32x32, expected 28x28")
    );
}

#[test]
fn gz_garbage_and_cut_gz_streams_are_gzip_errors() {
    let good = gz(&idx_images(30, 28, 28));
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    for bytes in [
        b"this is not gzip".to_vec(),
        good[..good.len() / 2].to_vec(),
        flipped,
        Vec::new(),
    ] {
        let (dir, err) = load_with("gz", 0, "train-images-idx3-ubyte.gz", &bytes);
        assert!(matches!(err, DataError::Gzip { .. }), "{err}");
        let prefix = format!(
            "{}: gzip error: ",
            dir.path().join("train-images-idx3-ubyte.gz").display()
        );
        assert!(err.to_string().starts_with(&prefix), "{err}");
    }
}

#[test]
fn missing_files_and_directories_are_named() {
    let files = small_idx();
    let dir = TempDir::new("missing");
    write_idx(&dir, &files[1..], false, false);
    let err = load(DatasetKind::Mnist, dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no training images file in {}: tried train-images-idx3-ubyte, \
             train-images-idx3-ubyte.gz, train-images.idx3-ubyte, train-images.idx3-ubyte.gz",
            dir.path().display()
        )
    );

    let nowhere = dir.path().join("nowhere");
    let err = load(DatasetKind::Mnist, &nowhere).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("data directory {}: does not exist", nowhere.display())
    );
    let a_file = dir.path().join("t10k-images-idx3-ubyte");
    let err = load(DatasetKind::Cifar10, &a_file).unwrap_err();
    assert!(matches!(err, DataError::MissingDir { .. }), "{err}");
    assert!(err.to_string().ends_with("is not a directory"));
}

// CIFAR-10.

const RECORD: usize = 3073;

/// A batch of `count` records whose first image has index `first` in the whole set.
fn cifar_batch(first: usize, count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * RECORD);
    for i in first..first + count {
        out.push((i % 10) as u8);
        out.extend((0..3072).map(|p| pixel(i, p)));
    }
    out
}

/// Writes batches of 1..=5 records and a 3-record test batch under `prefix`.
fn write_cifar(dir: &TempDir, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut first = 0;
    for b in 1..=5 {
        files.push((format!("data_batch_{b}.bin"), cifar_batch(first, b)));
        first += b;
    }
    files.push(("test_batch.bin".to_string(), cifar_batch(100, 3)));
    for (name, bytes) in &files {
        dir.write(&format!("{prefix}{name}"), bytes);
    }
    files
}

#[test]
fn cifar_round_trips_in_the_dir_and_its_subdir() {
    for prefix in ["", "cifar-10-batches-bin/"] {
        let dir = TempDir::new("cifar");
        let files = write_cifar(&dir, prefix);
        let data = load(DatasetKind::Cifar10, dir.path()).unwrap();
        assert_eq!(data.shape.to_string(), "3x32x32");
        assert_eq!((data.train.len(), data.test.len()), (15, 3));
        assert_eq!(data.train.image_len(), 3072);
        for i in 0..15 {
            assert_eq!(usize::from(data.train.labels[i]), i % 10);
            assert!(
                data.train
                    .image(i)
                    .iter()
                    .enumerate()
                    .all(|(p, &v)| v == pixel(i, p))
            );
        }
        assert_eq!(data.test.labels, [0, 1, 2]);
        assert_eq!(data.test.image(2)[3071], pixel(102, 3071));
        let expected: Vec<(String, String)> = files
            .iter()
            .map(|(n, b)| (n.clone(), identity::sha256_hex(b)))
            .collect();
        assert_eq!(data.identity.files, expected);
        assert_eq!(data.identity.describe(), "custom data");
    }
}

#[test]
fn cifar_requires_every_batch() {
    let dir = TempDir::new("cifar-missing");
    write_cifar(&dir, "");
    std::fs::remove_file(dir.path().join("data_batch_4.bin")).unwrap();
    let err = load(DatasetKind::Cifar10, dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no CIFAR-10 batch data_batch_4.bin file in {}: tried data_batch_4.bin, \
             cifar-10-batches-bin/data_batch_4.bin",
            dir.path().display()
        )
    );
}

#[test]
fn cifar_wrong_length_and_bad_label() {
    let dir = TempDir::new("cifar-bad");
    write_cifar(&dir, "");
    let mut batch = cifar_batch(0, 3);
    batch.truncate(2 * RECORD + 100);
    let path = dir.write("data_batch_2.bin", &batch);
    let err = load(DatasetKind::Cifar10, dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::RecordLength {
                len: 6246,
                record_size: 3073,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: wrong length: 6246 bytes is not a positive multiple of the 3073-byte CIFAR-10 \
             record (2 whole records and 100 bytes left over): truncated or not a CIFAR-10 batch",
            path.display()
        )
    );
    dir.write("data_batch_2.bin", &[]);
    let err = load(DatasetKind::Cifar10, dir.path()).unwrap_err();
    assert!(
        matches!(err, DataError::RecordLength { len: 0, .. }),
        "{err}"
    );

    dir.write("data_batch_2.bin", &cifar_batch(0, 2));
    let mut test = cifar_batch(0, 3);
    test[2 * RECORD] = 200;
    let path = dir.write("test_batch.bin", &test);
    let err = load(DatasetKind::Cifar10, dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: label 200 of image 2 is out of range 0..10",
            path.display()
        )
    );
}
