//! Reading a data file whole, gunzipping it when its name ends in `.gz`, within a size bound.
//!
//! Every reader of the data layer goes through here, so no file (compressed or not) can
//! make nas hold more than [`MAX_FILE_BYTES`] of it in memory: a gzip bomb or a wrong file
//! is reported as [`DataError::TooLarge`] instead of eating memory. Allocation follows the
//! bytes actually read, never a size a header claims.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::DataError;

/// The largest file (after decompression) the readers accept: 256 MiB.
///
/// Five times the largest file of the supported data sets (MNIST's training images,
/// 47,040,016 bytes), small enough that a hostile file cannot exhaust memory.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Compression ratio above which the gzip size trailer is not trusted as a capacity hint.
const MAX_HINT_RATIO: u64 = 16;

/// True when `path` names a gzip file (its name ends in `.gz`).
pub fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// The decompressed bytes of the file at `path`: gunzipped when the name ends in `.gz`,
/// as is otherwise.
pub fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    if len > MAX_FILE_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_FILE_BYTES,
        });
    }
    // The length comes from the file system, not from the file's content, and is bounded.
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_FILE_BYTES,
        });
    }
    if is_gz(path) {
        gunzip(&bytes, path, MAX_FILE_BYTES)
    } else {
        Ok(bytes)
    }
}

/// Decompresses gzip data (one or more members) of at most `limit` decompressed bytes;
/// `path` only names the data in errors.
///
/// flate2 checks each member's CRC-32 and length, so garbled data is reported as
/// [`DataError::Gzip`] rather than returned.
pub fn gunzip(gz: &[u8], path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let gzip_err = |source| DataError::Gzip {
        path: path.to_path_buf(),
        source,
    };
    if gz.is_empty() {
        return Err(gzip_err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "empty file, expected a gzip header",
        )));
    }
    let mut out = Vec::with_capacity(capacity_hint(gz, limit));
    MultiGzDecoder::new(gz)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(gzip_err)?;
    if out.len() as u64 > limit {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(out)
}

/// Bytes to reserve before decompressing: the gzip trailer's size field (the decompressed
/// length modulo 2^32 of the last member), believed only up to a plausible compression
/// ratio and the limit. A wrong hint costs reallocations, never correctness.
fn capacity_hint(gz: &[u8], limit: u64) -> usize {
    let Some(trailer) = gz.len().checked_sub(4).and_then(|at| gz.get(at..)) else {
        return 0;
    };
    let isize = u64::from(u32::from_le_bytes([
        trailer[0], trailer[1], trailer[2], trailer[3],
    ]));
    let plausible = (gz.len() as u64).saturating_mul(MAX_HINT_RATIO);
    isize.min(plausible).min(limit) as usize
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gunzip_round_trips_and_bounds_the_output() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let p = Path::new("x.gz");
        assert_eq!(gunzip(&gz(&data), p, 10_000).unwrap(), data);
        assert!(matches!(
            gunzip(&gz(&data), p, 9_999),
            Err(DataError::TooLarge { limit: 9_999, .. })
        ));
    }

    #[test]
    fn gunzip_reports_garbage_truncation_and_bad_crc() {
        let p = Path::new("x.gz");
        let good = gz(b"hello hello hello hello");
        for bad in [
            Vec::new(),
            b"not gzip at all".to_vec(),
            good[..good.len() - 6].to_vec(),
            {
                let mut b = good.clone();
                let crc_at = b.len() - 8;
                b[crc_at] ^= 0xff;
                b
            },
        ] {
            let err = gunzip(&bad, p, 1000).unwrap_err();
            assert!(matches!(err, DataError::Gzip { .. }), "{err}");
            assert!(err.to_string().starts_with("x.gz: gzip error"), "{err}");
        }
    }

    #[test]
    fn hint_is_bounded_by_ratio_and_limit() {
        let mut fake = vec![0u8; 10];
        fake.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(capacity_hint(&fake, 1 << 30), 14 * 16);
        assert_eq!(capacity_hint(&fake, 100), 100);
        assert_eq!(capacity_hint(&[1, 2], 100), 0);
    }
}
