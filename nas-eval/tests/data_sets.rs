//! The shipped mini set, the official data sets (when present), and the validation split.

use std::path::PathBuf;

use nas_eval::data::{
    DataError, Dataset, DatasetKind, identity, load, mini_mnist, stratified_split,
};

/// Class counts of the shipped subset, as recorded in data/mnist-mini/README.md.
const MINI_TRAIN_COUNTS: [usize; 10] = [987, 1124, 993, 1022, 974, 904, 986, 1044, 975, 991];
const MINI_TEST_COUNTS: [usize; 10] = [196, 227, 206, 202, 196, 178, 192, 206, 195, 202];
/// Official label counts (see ../shared/data/README.md).
const MNIST_TRAIN_COUNTS: [usize; 10] =
    [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const MNIST_TEST_COUNTS: [usize; 10] = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared data folder next to the repository, if this machine has it.
fn shared_data(name: &str) -> Option<PathBuf> {
    let dir = repo_root().join("../shared/data").join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: {} not found", dir.display());
        None
    }
}

#[test]
fn mini_mnist_has_its_sizes_balance_and_identity() {
    let mini = mini_mnist().unwrap();
    assert_eq!(mini.kind, DatasetKind::Mnist);
    assert_eq!(mini.shape.to_string(), "1x28x28");
    assert_eq!((mini.train.len(), mini.test.len()), (10_000, 2_000));
    assert_eq!(mini.train.pixels.len(), 10_000 * 784);
    assert_eq!(mini.train.class_counts(10), MINI_TRAIN_COUNTS);
    assert_eq!(mini.test.class_counts(10), MINI_TEST_COUNTS);
    // Stratified: every class within one image of its share of the full set.
    for (counts, full, size, total) in [
        (MINI_TRAIN_COUNTS, MNIST_TRAIN_COUNTS, 10_000, 60_000),
        (MINI_TEST_COUNTS, MNIST_TEST_COUNTS, 2_000, 10_000),
    ] {
        for (c, f) in counts.iter().zip(full) {
            let share = (f * size) as f64 / total as f64;
            assert!((*c as f64 - share).abs() < 1.0, "{c} vs {share}");
        }
    }
    assert_eq!(mini.identity.official, None);
    assert_eq!(
        mini.identity.describe(),
        "mnist-mini (stratified subset of official MNIST)"
    );
    assert!(identity::MNIST_MINI.matches(&mini.identity.files));
}

#[test]
fn mini_on_disk_is_the_embedded_copy() {
    let on_disk = load(DatasetKind::Mnist, &repo_root().join("data/mnist-mini")).unwrap();
    assert_eq!(on_disk, mini_mnist().unwrap());
}

fn check_official(kind: DatasetKind, dir: PathBuf, description: &str) -> Dataset {
    let data = load(kind, &dir).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (60_000, 10_000));
    assert_eq!(data.identity.official.as_deref(), Some(description));
    assert_eq!(data.identity.describe(), description);
    assert_eq!(data.identity.files.len(), 4);
    data
}

#[test]
fn official_mnist_is_recognised_and_the_mini_set_derives_from_it() {
    let Some(dir) = shared_data("mnist") else {
        return;
    };
    let full = check_official(DatasetKind::Mnist, dir, "official MNIST");
    assert_eq!(full.train.class_counts(10), MNIST_TRAIN_COUNTS);
    assert_eq!(full.test.class_counts(10), MNIST_TEST_COUNTS);
    // The documented selection rule of data/mnist-mini/README.md reproduces the shipped set.
    let mini = mini_mnist().unwrap();
    let train = stratified_split(&full.train.labels, 10_000, 1).unwrap().val;
    let test = stratified_split(&full.test.labels, 2_000, 2).unwrap().val;
    assert_eq!(full.train.select(&train), mini.train);
    assert_eq!(full.test.select(&test), mini.test);
}

#[test]
fn official_fashion_mnist_is_recognised() {
    let Some(dir) = shared_data("fashion-mnist") else {
        return;
    };
    let data = check_official(DatasetKind::FashionMnist, dir, "official Fashion-MNIST");
    assert_eq!(data.train.class_counts(10), [6000; 10]);
}

#[test]
fn validation_split_is_deterministic_stratified_disjoint_and_covering() {
    let data = mini_mnist().unwrap();
    let n = data.train.len();
    let split = data.validation_split(1_000, 7).unwrap();
    assert_eq!(split, data.validation_split(1_000, 7).unwrap());
    assert_ne!(split.val, data.validation_split(1_000, 8).unwrap().val);
    assert_eq!((split.train.len(), split.val.len()), (n - 1_000, 1_000));
    assert!(split.train.windows(2).all(|w| w[0] < w[1]));
    assert!(split.val.windows(2).all(|w| w[0] < w[1]));
    let mut all: Vec<u32> = split.train.iter().chain(&split.val).copied().collect();
    all.sort_unstable();
    assert!(all.iter().enumerate().all(|(i, &x)| i as u32 == x));
    // Per class: floor or ceil of the class's proportional share.
    let val_counts = data.train.select(&split.val).class_counts(10);
    for (v, c) in val_counts.iter().zip(data.train.class_counts(10)) {
        let share = c * 1_000;
        assert!(*v == share / n || *v == share.div_ceil(n), "{v} of {c}");
    }
    // Pinned: these indices are part of every published result on the mini set.
    assert_eq!(&split.val[..8], &[0, 9, 22, 39, 53, 65, 69, 80]);
}

#[test]
fn validation_size_is_checked() {
    let data = mini_mnist().unwrap();
    for bad in [0, 10_000, 20_000] {
        let err = data.validation_split(bad, 0).unwrap_err();
        assert!(matches!(
            err,
            DataError::InvalidParam {
                field: "validation_size",
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            format!(
                "validation_size = {bad} is out of range: allowed 1..=9999 (the training set holds 10000 images)"
            )
        );
    }
    let tiny = data.validation_split(1, 0).unwrap();
    assert_eq!(tiny.val.len(), 1);
}
