//! The one error type of the data layer.

use std::io;
use std::path::PathBuf;

/// Why a data set could not be read or split.
///
/// Every message names the file (or the parameter) and what is wrong with it, so that a
/// user can fix the input without reading the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The data directory does not exist or is not a directory.
    #[error("data directory {}: {reason}", path.display())]
    MissingDir {
        /// The directory asked for.
        path: PathBuf,
        /// E.g. "does not exist".
        reason: String,
    },
    /// None of the accepted names of a file exists.
    #[error("no {what} file in {}: tried {}", dir.display(), tried.join(", "))]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// What the file holds, e.g. "training images".
        what: String,
        /// Every name tried, relative to `dir`.
        tried: Vec<String>,
    },
    /// Reading a file failed at the OS level.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A `.gz` file is not valid gzip (bad header, corrupt deflate stream, bad CRC, cut short).
    #[error("{}: gzip error: {source}", path.display())]
    Gzip {
        /// The file.
        path: PathBuf,
        /// What flate2 reported.
        source: io::Error,
    },
    /// A file decompresses to more than the reader accepts (a gzip bomb or a foreign file).
    #[error("{}: decompressed size exceeds {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit ([`MAX_FILE_BYTES`](crate::data::MAX_FILE_BYTES)).
        limit: u64,
    },
    /// An IDX file starts with the wrong magic number.
    #[error("{}: wrong magic number: expected {expected:#010x} ({what}), found {found:#010x}", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number of the expected IDX type.
        expected: u32,
        /// The first four bytes of the file, big endian.
        found: u32,
        /// What the expected magic means, e.g. "unsigned bytes, 3 dimensions".
        what: String,
    },
    /// An IDX header is well formed but describes data this data set cannot hold.
    #[error("{}: bad header: {reason}", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// E.g. "images are 32x32, expected 28x28 for mnist".
        reason: String,
    },
    /// The file is shorter than its header (or the format) says.
    #[error("{}: truncated: expected {expected} bytes, found {found}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header calls for (decompressed).
        expected: u64,
        /// Bytes present (decompressed).
        found: u64,
    },
    /// The file is longer than its header says.
    #[error("{}: wrong length: expected {expected} bytes, found {found} (trailing bytes after the data)", path.display())]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes the header calls for (decompressed).
        expected: u64,
        /// Bytes present (decompressed).
        found: u64,
    },
    /// A CIFAR-10 batch is not a whole, positive number of records.
    #[error(
        "{}: wrong length: {len} bytes is not a positive multiple of the {record_size}-byte \
         CIFAR-10 record ({} whole records and {} bytes left over): truncated or not a CIFAR-10 batch",
        path.display(), len / record_size, len % record_size
    )]
    RecordLength {
        /// The file.
        path: PathBuf,
        /// Its (decompressed) length.
        len: u64,
        /// Bytes per record (1 label + the pixels).
        record_size: u64,
    },
    /// A label is not below the number of classes.
    #[error("{}: label {label} of image {index} is out of range 0..{classes}", path.display())]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// 0-based index of the image (record) in the file.
        index: usize,
        /// The label found.
        label: u8,
        /// The number of classes.
        classes: u32,
    },
    /// An images file and its labels file disagree on the number of images.
    #[error(
        "image count mismatch: {} holds {images} images but {} holds {labels} labels",
        images_path.display(), labels_path.display()
    )]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// Images it holds.
        images: u64,
        /// The labels file.
        labels_path: PathBuf,
        /// Labels it holds.
        labels: u64,
    },
    /// A data set name that nas does not know.
    #[error("unknown data set `{value}`: allowed values are mnist, fashion-mnist, cifar10")]
    UnknownKind {
        /// The string given.
        value: String,
    },
    /// A parameter (e.g. `validation_size`) is out of its allowed range.
    #[error("{field} = {value} is out of range: allowed {allowed}")]
    InvalidParam {
        /// The parameter's name, as in the configuration.
        field: &'static str,
        /// The value given.
        value: String,
        /// The allowed values and why.
        allowed: String,
    },
}
