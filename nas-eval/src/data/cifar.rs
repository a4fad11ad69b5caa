//! CIFAR-10 binary batches: parsing and finding them in a directory.
//!
//! A batch is a sequence of records, each 1 label byte followed by 3072 pixel bytes
//! (1024 red, 1024 green, 1024 blue, each a row-major 32x32 plane): exactly the CHW layout
//! of [`Images`]. The official batches hold 10,000 records each; any positive whole number
//! of records is accepted, so small generated batches work too.

use std::path::{Path, PathBuf};

use super::{DataError, Dataset, DatasetKind, Images, file, identity};

/// Pixel bytes of one CIFAR-10 image (3x32x32).
pub const IMAGE_BYTES: usize = 3 * 32 * 32;
/// Bytes of one record: the label, then the pixels.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// The training batches, in the order their records are concatenated.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch.
pub const TEST_FILE: &str = "test_batch.bin";
/// The subdirectory the official archive unpacks to; batches are looked for in the data
/// directory first, then there.
pub const SUBDIR: &str = "cifar-10-batches-bin";

/// The path of batch `name` in `dir` or `dir/cifar-10-batches-bin`.
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let tried = vec![name.to_string(), format!("{SUBDIR}/{name}")];
    tried
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            what: format!("CIFAR-10 batch {name}"),
            tried,
        })
}

/// Appends the records of one decompressed batch to `into`, checking every label is below
/// `classes`; returns the number of records. `path` only names the file in errors.
///
/// Nothing is appended when the batch is rejected.
pub fn parse_batch(
    bytes: &[u8],
    path: &Path,
    classes: u32,
    into: &mut Images,
) -> Result<usize, DataError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(DataError::RecordLength {
            path: path.to_path_buf(),
            len: bytes.len() as u64,
            record_size: RECORD_BYTES as u64,
        });
    }
    let records = bytes.len() / RECORD_BYTES;
    if let Some((index, &label)) = bytes
        .iter()
        .step_by(RECORD_BYTES)
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
    // Sizes come from the actual length, which the file reader bounds.
    into.labels.reserve(records);
    into.pixels.reserve(records * IMAGE_BYTES);
    for record in bytes.chunks_exact(RECORD_BYTES) {
        into.labels.push(record[0]);
        into.pixels.extend_from_slice(&record[1..]);
    }
    Ok(records)
}

/// Reads CIFAR-10 (all five training batches and the test batch) from `dir`.
pub(crate) fn load_dir(dir: &Path) -> Result<Dataset, DataError> {
    let kind = DatasetKind::Cifar10;
    let classes = kind.classes();
    // Find every file first, so a missing batch is reported before minutes of reading.
    let train_paths = TRAIN_FILES
        .iter()
        .map(|name| find(dir, name))
        .collect::<Result<Vec<_>, _>>()?;
    let test_path = find(dir, TEST_FILE)?;

    let mut checksums = Vec::with_capacity(TRAIN_FILES.len() + 1);
    let mut train = Images::default();
    for (name, path) in TRAIN_FILES.iter().zip(&train_paths) {
        let bytes = file::read_file(path)?;
        checksums.push((name.to_string(), identity::sha256_hex(&bytes)));
        parse_batch(&bytes, path, classes, &mut train)?;
    }
    let mut test = Images::default();
    let bytes = file::read_file(&test_path)?;
    checksums.push((TEST_FILE.to_string(), identity::sha256_hex(&bytes)));
    parse_batch(&bytes, &test_path, classes, &mut test)?;

    Ok(Dataset {
        kind,
        shape: kind.shape(),
        classes,
        train,
        test,
        identity: identity::identify(checksums),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_into_labels_and_chw_pixels() {
        let mut bytes = vec![3u8];
        bytes.extend((0..IMAGE_BYTES).map(|i| (i % 256) as u8));
        bytes.push(9);
        bytes.extend(std::iter::repeat_n(7u8, IMAGE_BYTES));
        let mut images = Images::default();
        assert_eq!(
            parse_batch(&bytes, Path::new("b"), 10, &mut images).unwrap(),
            2
        );
        assert_eq!(images.labels, [3, 9]);
        assert_eq!(images.image(0)[1024], 0);
        assert_eq!(images.image(0)[1025], 1);
        assert!(images.image(1).iter().all(|&p| p == 7));
    }

    #[test]
    fn rejected_batches_append_nothing() {
        let mut bytes = vec![0u8; 2 * RECORD_BYTES];
        bytes[RECORD_BYTES] = 10;
        let mut images = Images::default();
        let err = parse_batch(&bytes, Path::new("b"), 10, &mut images).unwrap_err();
        assert_eq!(
            err.to_string(),
            "b: label 10 of image 1 is out of range 0..10"
        );
        assert!(images.is_empty() && images.pixels.is_empty());
        let err = parse_batch(&bytes[..5000], Path::new("b"), 10, &mut images).unwrap_err();
        assert!(
            err.to_string()
                .contains("1 whole records and 1927 bytes left over"),
            "{err}"
        );
    }
}
