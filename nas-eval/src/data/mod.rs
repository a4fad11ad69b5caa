//! Data sets in memory, their identity, and the validation split.
//!
//! Readers (IDX for MNIST/Fashion-MNIST, CIFAR-10 binary batches) live in submodules and
//! produce a [`Dataset`]: raw `u8` pixels (image-major, channels-first within an image) and
//! `u8` labels, the input shape, the number of classes and the data set's identity.
//!
//! - [`load`] reads a data set from a directory (the official file names, raw or `.gz`);
//! - [`mini_mnist`] is the stratified MNIST subset embedded in the binary, the default when
//!   no data directory is given;
//! - [`Dataset::validation_split`] holds out the seeded, stratified validation part that
//!   scores trials ([`split`] documents the exact rule);
//! - [`DataIdentity`] says what a result was computed on ("official MNIST", "custom
//!   data"...), from the SHA-256 of the decompressed files.
//!
//! The readers never panic and never allocate from an unchecked header: sizes are computed
//! with checked arithmetic and compared with the actual (decompressed, bounded) length
//! first, and every [`DataError`] names the file and what is wrong with it.
//!
//! ```
//! use nas_eval::data::{DatasetKind, mini_mnist};
//!
//! let data = mini_mnist()?;
//! assert_eq!(data.kind, DatasetKind::Mnist);
//! let split = data.validation_split(1000, 7)?;
//! assert_eq!((split.train.len(), split.val.len()), (data.train.len() - 1000, 1000));
//! println!("{}", data.identity.describe());
//! # Ok::<(), nas_eval::data::DataError>(())
//! ```

pub mod cifar;
mod error;
pub mod file;
pub mod identity;
pub mod idx;
mod mini;
pub mod split;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use nas_core::InputShape;
use serde::{Deserialize, Serialize};

pub use error::DataError;
pub use file::MAX_FILE_BYTES;
pub use mini::mini_mnist;
pub use split::{Split, stratified_split};

/// Reads data set `kind` (training and test sets) from `dir`.
///
/// MNIST and Fashion-MNIST: the four IDX files `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each raw
/// or gzipped (`.gz`) and also under the dotted names (`train-images.idx3-ubyte`...).
/// CIFAR-10: `data_batch_1.bin`..`data_batch_5.bin` and `test_batch.bin`, in `dir` or in
/// `dir/cifar-10-batches-bin`.
pub fn load(kind: DatasetKind, dir: &Path) -> Result<Dataset, DataError> {
    if !dir.is_dir() {
        let reason = if dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(DataError::MissingDir {
            path: dir.to_path_buf(),
            reason: reason.to_string(),
        });
    }
    match kind {
        DatasetKind::Mnist | DatasetKind::FashionMnist => idx::load_dir(kind, dir),
        DatasetKind::Cifar10 => cifar::load_dir(dir),
    }
}

/// The data sets nas knows how to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// MNIST handwritten digits (IDX files), 1x28x28, 10 classes.
    Mnist,
    /// Fashion-MNIST (IDX files), 1x28x28, 10 classes.
    FashionMnist,
    /// CIFAR-10 binary batches, 3x32x32, 10 classes.
    Cifar10,
}

impl DatasetKind {
    /// Every kind, in a fixed order.
    pub const ALL: [DatasetKind; 3] = [
        DatasetKind::Mnist,
        DatasetKind::FashionMnist,
        DatasetKind::Cifar10,
    ];

    /// The name used in configurations and on the command line (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar10",
        }
    }

    /// The name used in reports: "MNIST", "Fashion-MNIST", "CIFAR-10".
    pub fn title(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
            DatasetKind::Cifar10 => "CIFAR-10",
        }
    }

    /// The shape of one image.
    pub fn shape(self) -> InputShape {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => InputShape::new(1, 28, 28),
            DatasetKind::Cifar10 => InputShape::new(3, 32, 32),
        }
    }

    /// The number of classes.
    pub fn classes(self) -> u32 {
        10
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetKind {
    type Err = DataError;

    /// Parses the configuration names `mnist`, `fashion-mnist` and `cifar10`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatasetKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DataError::UnknownKind {
                value: s.to_string(),
            })
    }
}

/// Images and labels of one split.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Images {
    /// Pixels of every image, image after image; channels-first (CHW) within an image.
    pub pixels: Vec<u8>,
    /// One label per image, each below the data set's number of classes.
    pub labels: Vec<u8>,
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.pixels
            .len()
            .checked_div(self.labels.len())
            .unwrap_or(0)
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The images at `indices` (e.g. one side of a [`Split`]), in that order.
    ///
    /// # Panics
    /// If an index is not below [`len`](Self::len): indices come from this data set.
    pub fn select(&self, indices: &[u32]) -> Images {
        let n = self.image_len();
        let mut out = Images {
            pixels: Vec::with_capacity(indices.len() * n),
            labels: Vec::with_capacity(indices.len()),
        };
        for &i in indices {
            let i = i as usize;
            out.labels.push(self.labels[i]);
            out.pixels
                .extend_from_slice(&self.pixels[i * n..(i + 1) * n]);
        }
        out
    }

    /// How many images each class `0..classes` has (labels not below `classes` are not
    /// counted).
    pub fn class_counts(&self, classes: u32) -> Vec<usize> {
        let mut counts = vec![0; classes as usize];
        for &label in &self.labels {
            if let Some(c) = counts.get_mut(usize::from(label)) {
                *c += 1;
            }
        }
        counts
    }
}

/// What data a result was computed on: the SHA-256 of each decompressed file, and whether
/// they are the official release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataIdentity {
    /// `(file name, sha256 hex of its decompressed bytes)`, in a fixed order.
    pub files: Vec<(String, String)>,
    /// E.g. `"official MNIST"` when every checksum matches a known release, else None
    /// ("custom data").
    pub official: Option<String>,
}

impl DataIdentity {
    /// One line for reports: "official MNIST", a known subset such as "mnist-mini
    /// (stratified subset of official MNIST)", or "custom data".
    pub fn describe(&self) -> String {
        self.official
            .clone()
            .or_else(|| self.known_subset().map(str::to_string))
            .unwrap_or_else(|| "custom data".to_string())
    }
}

/// A data set in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Which format/data set it is.
    pub kind: DatasetKind,
    /// Shape of one image.
    pub shape: InputShape,
    /// Number of classes (labels are below it).
    pub classes: u32,
    /// The training set (searching splits it into train and validation).
    pub train: Images,
    /// The test set, used only for the final evaluation of chosen architectures.
    pub test: Images,
    /// Checksums and provenance.
    pub identity: DataIdentity,
}

impl Dataset {
    /// Holds out `val_size` training images, stratified by class and fixed by `seed`, to
    /// score trials on; the rest trains them. See [`split`] for the exact rule.
    ///
    /// Errors when `val_size` is 0 or not below the size of the training set.
    pub fn validation_split(&self, val_size: usize, seed: u64) -> Result<Split, DataError> {
        stratified_split(&self.train.labels, val_size, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_print_like_serde() {
        for kind in DatasetKind::ALL {
            assert_eq!(kind.to_string().parse::<DatasetKind>().unwrap(), kind);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert_eq!(DatasetKind::Cifar10.shape().len(), 3072);
        assert_eq!(DatasetKind::FashionMnist.shape().to_string(), "1x28x28");
        let err = "MNIST".parse::<DatasetKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown data set `MNIST`: allowed values are mnist, fashion-mnist, cifar10"
        );
    }

    #[test]
    fn select_and_class_counts() {
        let images = Images {
            pixels: vec![0, 0, 1, 1, 2, 2],
            labels: vec![2, 0, 2],
        };
        let picked = images.select(&[2, 0]);
        assert_eq!(picked.pixels, [2, 2, 0, 0]);
        assert_eq!(picked.labels, [2, 2]);
        assert_eq!(images.class_counts(3), [1, 0, 2]);
        assert_eq!(images.class_counts(1), [1]);
    }
}
