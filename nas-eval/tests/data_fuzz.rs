//! Hostile input: random bytes and random mutations of valid IDX, gzip and CIFAR-10 data
//! never panic the readers, and whatever they accept is self-consistent. Bounded to run
//! in about a second.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use nas_eval::data::{DataError, Images, MAX_FILE_BYTES, cifar, file, idx};
use proptest::prelude::*;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A valid 3-image 28x28 IDX images file and its labels file.
fn valid_idx() -> (Vec<u8>, Vec<u8>) {
    let images = Images {
        pixels: (0..3 * 784).map(|i| (i % 253) as u8).collect(),
        labels: vec![3, 9, 0],
    };
    (
        idx::encode_images(&images, 28, 28).unwrap(),
        idx::encode_labels(&images).unwrap(),
    )
}

/// A valid 2-record CIFAR-10 batch.
fn valid_cifar() -> Vec<u8> {
    let mut out = Vec::new();
    for label in [4u8, 7] {
        out.push(label);
        out.extend((0..3072).map(|i| (i % 251) as u8));
    }
    out
}

/// Applies `edits` (position modulo the length, new byte) and then keeps `keep` per mille
/// of the length when `cut` is set.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<u16>) -> Vec<u8> {
    if !bytes.is_empty() {
        for &(at, b) in edits {
            let at = at % bytes.len();
            bytes[at] = b;
        }
    }
    if let Some(keep) = cut {
        let len = bytes.len() * usize::from(keep.min(1000)) / 1000;
        bytes.truncate(len);
    }
    bytes
}

/// Runs the parsers a data set goes through on `bytes`, checking what they accept.
fn parse_all(bytes: &[u8]) {
    let p = Path::new("fuzz");
    if let Ok((count, pixels)) = idx::parse_images(bytes.to_vec(), p, 28, 28) {
        assert_eq!(pixels.len(), count * 784);
        assert_eq!(bytes.len(), 16 + pixels.len());
    }
    if let Ok(labels) = idx::parse_labels(bytes.to_vec(), p, 10) {
        assert!(labels.iter().all(|&l| l < 10));
        assert_eq!(bytes.len(), 8 + labels.len());
    }
    let mut images = Images::default();
    match cifar::parse_batch(bytes, p, 10, &mut images) {
        Ok(n) => {
            assert_eq!(images.len(), n);
            assert_eq!(images.pixels.len(), n * 3072);
        }
        Err(_) => assert!(images.is_empty() && images.pixels.is_empty()),
    }
}

/// Gunzips `bytes` with a small bound and parses what comes out.
fn gunzip_and_parse(bytes: &[u8]) {
    match file::gunzip(bytes, Path::new("fuzz.gz"), 1 << 20) {
        Ok(out) => parse_all(&out),
        Err(e) => assert!(
            matches!(e, DataError::Gzip { .. } | DataError::TooLarge { .. }),
            "{e}"
        ),
    }
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>()), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4000)) {
        parse_all(&bytes);
        gunzip_and_parse(&bytes);
    }

    #[test]
    fn headers_with_random_fields_never_panic(
        magic in prop::sample::select(vec![0x0803u32, 0x0801, 0x0802, 0x0d03]),
        fields in prop::collection::vec(any::<u32>(), 0..4),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = magic.to_be_bytes().to_vec();
        for f in fields {
            bytes.extend_from_slice(&f.to_be_bytes());
        }
        bytes.extend(tail);
        parse_all(&bytes);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        which in 0..3usize,
        edits in edits(),
        cut in prop::option::of(0..1000u16),
    ) {
        let (images, labels) = valid_idx();
        let valid = [images, labels, valid_cifar()];
        let bytes = mutate(valid[which].clone(), &edits, cut);
        parse_all(&bytes);
    }

    #[test]
    fn mutated_gzip_never_panics(
        which in 0..3usize,
        edits in edits(),
        cut in prop::option::of(0..1000u16),
    ) {
        let (images, labels) = valid_idx();
        let valid = [images, labels, valid_cifar()];
        let bytes = mutate(gz(&valid[which]), &edits, cut);
        gunzip_and_parse(&bytes);
    }
}

#[test]
fn unmutated_inputs_parse() {
    // The fuzz seeds are valid: mutations start from files the readers accept.
    let (images, labels) = valid_idx();
    let p = Path::new("seed");
    assert_eq!(idx::parse_images(images.clone(), p, 28, 28).unwrap().0, 3);
    assert_eq!(idx::parse_labels(labels, p, 10).unwrap(), [3, 9, 0]);
    let out = file::gunzip(&gz(&images), p, MAX_FILE_BYTES).unwrap();
    assert_eq!(out, images);
    let mut into = Images::default();
    assert_eq!(
        cifar::parse_batch(&valid_cifar(), p, 10, &mut into).unwrap(),
        2
    );
}
