//! Data sets in memory, their identity, and the validation split.
//!
//! Readers (IDX for MNIST/Fashion-MNIST, CIFAR-10 binary batches) live in submodules and
//! produce a [`Dataset`]: raw `u8` pixels (image-major, channels-first within an image) and
//! `u8` labels, the input shape, the number of classes and the data set's identity.

use nas_core::InputShape;
use serde::{Deserialize, Serialize};

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
        self.pixels.len().checked_div(self.labels.len()).unwrap_or(0)
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
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
    /// One line for reports: "official MNIST" or "custom data".
    pub fn describe(&self) -> String {
        self.official
            .clone()
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
