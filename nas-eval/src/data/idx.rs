//! IDX files (MNIST, Fashion-MNIST): parsing, writing, and finding them in a directory.
//!
//! An IDX file is a big-endian header (`0x00 0x00 <type> <dims>`, then one `u32` per
//! dimension) followed by the data. nas reads unsigned-byte images (`0x00000803`: count,
//! rows, columns) and labels (`0x00000801`: count). Headers are checked against the data
//! set's shape and the file's actual length before anything is allocated from them.

use std::path::{Path, PathBuf};

use super::identity;
use super::{DataError, Dataset, DatasetKind, Images, file};

/// Magic number of an IDX images file: unsigned bytes, 3 dimensions.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX labels file: unsigned bytes, 1 dimension.
pub const LABELS_MAGIC: u32 = 0x0000_0801;
const IMAGES_HEADER: usize = 16;
const LABELS_HEADER: usize = 8;

/// The four files of an IDX data set, in identity order: `(canonical name, what it holds)`.
/// The canonical name is the official (uncompressed, dashed) file name.
pub const FILES: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte", "training images"),
    ("train-labels-idx1-ubyte", "training labels"),
    ("t10k-images-idx3-ubyte", "test images"),
    ("t10k-labels-idx1-ubyte", "test labels"),
];

/// The names accepted for a canonical IDX file name, in the order they are tried:
/// `train-images-idx3-ubyte`, `train-images-idx3-ubyte.gz`, `train-images.idx3-ubyte`,
/// `train-images.idx3-ubyte.gz`.
pub fn candidate_names(canonical: &str) -> Vec<String> {
    let dotted = match canonical.rfind("-idx") {
        Some(at) => format!("{}.{}", &canonical[..at], &canonical[at + 1..]),
        None => canonical.to_string(),
    };
    vec![
        canonical.to_string(),
        format!("{canonical}.gz"),
        dotted.clone(),
        format!("{dotted}.gz"),
    ]
}

/// The first existing file among the accepted names of `canonical` in `dir`.
fn find(dir: &Path, canonical: &str, what: &str) -> Result<PathBuf, DataError> {
    let tried = candidate_names(canonical);
    tried
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            what: what.to_string(),
            tried,
        })
}

/// One decompressed file, with the path that names it in errors.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) path: PathBuf,
    pub(crate) bytes: Vec<u8>,
}

/// Reads an IDX data set (MNIST or Fashion-MNIST layout) from `dir`.
pub(crate) fn load_dir(kind: DatasetKind, dir: &Path) -> Result<Dataset, DataError> {
    let read = |(canonical, what): (&str, &str)| -> Result<Decoded, DataError> {
        let path = find(dir, canonical, what)?;
        let bytes = file::read_file(&path)?;
        Ok(Decoded { path, bytes })
    };
    let [a, b, c, d] = FILES;
    assemble(kind, [read(a)?, read(b)?, read(c)?, read(d)?])
}

/// Builds a data set from the four decompressed files, in [`FILES`] order.
pub(crate) fn assemble(kind: DatasetKind, files: [Decoded; 4]) -> Result<Dataset, DataError> {
    let shape = kind.shape();
    let classes = kind.classes();
    let mut checksums = Vec::with_capacity(4);
    for ((canonical, _), f) in FILES.iter().zip(&files) {
        checksums.push((canonical.to_string(), identity::sha256_hex(&f.bytes)));
    }
    let [train_images, train_labels, test_images, test_labels] = files;
    let train = images_and_labels(train_images, train_labels, shape, classes)?;
    let test = images_and_labels(test_images, test_labels, shape, classes)?;
    Ok(Dataset {
        kind,
        shape,
        classes,
        train,
        test,
        identity: identity::identify(checksums),
    })
}

fn images_and_labels(
    images: Decoded,
    labels: Decoded,
    shape: nas_core::InputShape,
    classes: u32,
) -> Result<Images, DataError> {
    let labels_vec = parse_labels(labels.bytes, &labels.path, classes)?;
    let (count, pixels) = parse_images(images.bytes, &images.path, shape.height, shape.width)?;
    if count != labels_vec.len() {
        return Err(DataError::CountMismatch {
            images_path: images.path,
            images: count as u64,
            labels_path: labels.path,
            labels: labels_vec.len() as u64,
        });
    }
    Ok(Images {
        pixels,
        labels: labels_vec,
    })
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Checks the magic number and that the header is complete; returns nothing on success.
fn check_magic(
    bytes: &[u8],
    path: &Path,
    magic: u32,
    header: usize,
    what: &str,
) -> Result<(), DataError> {
    if bytes.len() >= 4 {
        let found = be_u32(bytes, 0);
        if found != magic {
            let hint = if found >> 16 == 0x1f8b {
                "; the file looks gzip-compressed but its name does not end in .gz"
            } else {
                ""
            };
            return Err(DataError::BadMagic {
                path: path.to_path_buf(),
                expected: magic,
                found,
                what: format!("{what}{hint}"),
            });
        }
    }
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: header as u64,
            found: bytes.len() as u64,
        });
    }
    Ok(())
}

/// Compares the actual length with the one the header calls for.
fn check_length(path: &Path, expected: u64, found: usize) -> Result<(), DataError> {
    let found = found as u64;
    match found.cmp(&expected) {
        std::cmp::Ordering::Less => Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected,
            found,
        }),
        std::cmp::Ordering::Greater => Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            found,
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Parses a decompressed IDX images file of `rows` x `cols` images; returns the number of
/// images and their pixels (the file's bytes after the header, reusing its buffer).
///
/// `path` only names the file in errors.
pub fn parse_images(
    mut bytes: Vec<u8>,
    path: &Path,
    rows: u32,
    cols: u32,
) -> Result<(usize, Vec<u8>), DataError> {
    check_magic(
        &bytes,
        path,
        IMAGES_MAGIC,
        IMAGES_HEADER,
        "IDX images: unsigned bytes, 3 dimensions",
    )?;
    let (count, r, c) = (be_u32(&bytes, 4), be_u32(&bytes, 8), be_u32(&bytes, 12));
    if (r, c) != (rows, cols) {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            reason: format!("images are {r}x{c}, expected {rows}x{cols}"),
        });
    }
    if count == 0 {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            reason: "the header says the file holds 0 images".to_string(),
        });
    }
    // u32^3 does not fit in u64 in general: an overflowing header cannot match any file.
    let expected = u64::from(count)
        .checked_mul(u64::from(r))
        .and_then(|n| n.checked_mul(u64::from(c)))
        .and_then(|n| n.checked_add(IMAGES_HEADER as u64))
        .unwrap_or(u64::MAX);
    check_length(path, expected, bytes.len())?;
    bytes.drain(..IMAGES_HEADER);
    Ok((count as usize, bytes))
}

/// Parses a decompressed IDX labels file whose labels must be below `classes`.
///
/// `path` only names the file in errors.
pub fn parse_labels(mut bytes: Vec<u8>, path: &Path, classes: u32) -> Result<Vec<u8>, DataError> {
    check_magic(
        &bytes,
        path,
        LABELS_MAGIC,
        LABELS_HEADER,
        "IDX labels: unsigned bytes, 1 dimension",
    )?;
    let count = be_u32(&bytes, 4);
    if count == 0 {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            reason: "the header says the file holds 0 labels".to_string(),
        });
    }
    check_length(path, u64::from(count) + LABELS_HEADER as u64, bytes.len())?;
    bytes.drain(..LABELS_HEADER);
    if let Some((index, &label)) = bytes
        .iter()
        .enumerate()
        .find(|&(_, &l)| u32::from(l) >= classes)
    {
        return Err(DataError::BadLabel {
            path: path.to_path_buf(),
            index,
            label,
            classes,
        });
    }
    Ok(bytes)
}

/// An IDX images file (header and pixels) for `images` of `rows` x `cols` grey pixels.
///
/// Returns None when the pixels are not a whole number of such images or a side or the
/// count does not fit the header's `u32`.
pub fn encode_images(images: &Images, rows: u32, cols: u32) -> Option<Vec<u8>> {
    let image_len = (rows as usize).checked_mul(cols as usize)?;
    if images.pixels.len() != images.len().checked_mul(image_len)? {
        return None;
    }
    let count = u32::try_from(images.len()).ok()?;
    let mut out = Vec::with_capacity(IMAGES_HEADER + images.pixels.len());
    for word in [IMAGES_MAGIC, count, rows, cols] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    Some(out)
}

/// An IDX labels file for the labels of `images`; None when there are more than
/// `u32::MAX` of them.
pub fn encode_labels(images: &Images) -> Option<Vec<u8>> {
    let count = u32::try_from(images.len()).ok()?;
    let mut out = Vec::with_capacity(LABELS_HEADER + images.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&images.labels);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("f")
    }

    #[test]
    fn candidate_names_cover_both_spellings() {
        assert_eq!(
            candidate_names("t10k-labels-idx1-ubyte"),
            [
                "t10k-labels-idx1-ubyte",
                "t10k-labels-idx1-ubyte.gz",
                "t10k-labels.idx1-ubyte",
                "t10k-labels.idx1-ubyte.gz"
            ]
        );
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let images = Images {
            pixels: (0..2 * 3 * 4).map(|i| i as u8).collect(),
            labels: vec![1, 0],
        };
        let raw = encode_images(&images, 3, 4).unwrap();
        assert_eq!(
            &raw[..16],
            &[0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]
        );
        assert_eq!(
            parse_images(raw, p(), 3, 4).unwrap(),
            (2, images.pixels.clone())
        );
        let raw = encode_labels(&images).unwrap();
        assert_eq!(raw, [0, 0, 8, 1, 0, 0, 0, 2, 1, 0]);
        assert_eq!(parse_labels(raw, p(), 2).unwrap(), [1, 0]);
        assert!(encode_images(&images, 5, 5).is_none());
    }

    #[test]
    fn headers_that_overflow_or_lie_are_rejected_without_allocating() {
        let mut raw = vec![0, 0, 8, 3];
        for word in [u32::MAX, 28, 28] {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        let err = parse_images(raw.clone(), p(), 28, 28).unwrap_err();
        assert!(
            matches!(err, DataError::Truncated { expected, found: 16, .. } if expected == 16 + u64::from(u32::MAX) * 784),
            "{err}"
        );
        let err = parse_images(raw[..10].to_vec(), p(), 28, 28).unwrap_err();
        assert!(matches!(
            err,
            DataError::Truncated {
                expected: 16,
                found: 10,
                ..
            }
        ));
        let err = parse_images(raw, p(), 32, 32).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f: bad header: images are 28x28, expected 32x32"
        );
    }

    #[test]
    fn gzip_magic_in_a_raw_file_gets_a_hint() {
        let err = parse_labels(vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0], p(), 10).unwrap_err();
        assert!(err.to_string().contains("looks gzip-compressed"), "{err}");
    }

    #[test]
    fn zero_counts_are_rejected() {
        let err = parse_labels(vec![0, 0, 8, 1, 0, 0, 0, 0], p(), 10).unwrap_err();
        assert!(matches!(err, DataError::BadHeader { .. }), "{err}");
    }
}
