//! The MNIST subset shipped in `data/mnist-mini`, embedded in the binary.

use std::path::PathBuf;

use super::idx::{self, Decoded};
use super::{DataError, Dataset, DatasetKind, MAX_FILE_BYTES, file};

/// The gzipped files of `data/mnist-mini`, in [`idx::FILES`] order.
const FILES: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../../../data/mnist-mini/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../../../data/mnist-mini/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../../../data/mnist-mini/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../../data/mnist-mini/t10k-labels-idx1-ubyte.gz"),
    ),
];

/// The MNIST subset shipped with nas (`data/mnist-mini`: 10,000 training and 2,000 test
/// images, stratified by class), read from the copy embedded in the binary, so it works
/// from any working directory and without a data directory.
///
/// Its identity holds the checksums of its own files; it is not official (`official` is
/// None) and [`describe`](super::DataIdentity::describe) calls it "mnist-mini (stratified
/// subset of official MNIST)". Each call decompresses and checks it again (tens of
/// milliseconds); keep the result if you need it twice.
pub fn mini_mnist() -> Result<Dataset, DataError> {
    let decode = |(name, gz): (&str, &[u8])| -> Result<Decoded, DataError> {
        let path = PathBuf::from(format!("<embedded data/mnist-mini>/{name}"));
        let bytes = file::gunzip(gz, &path, MAX_FILE_BYTES)?;
        Ok(Decoded { path, bytes })
    };
    let [a, b, c, d] = FILES;
    idx::assemble(
        DatasetKind::Mnist,
        [decode(a)?, decode(b)?, decode(c)?, decode(d)?],
    )
}
