//! Atomic file output: every derived file is written to a temporary name in the same
//! directory, synced, then renamed over the old one, so a crash never leaves a half-written
//! table; a failure (a full disk) leaves the previous version in place.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_name(path);
    let result = (|| -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// A temporary name beside `path`.
pub fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Runs `draw` against temporary paths of `files` (in `dir`), then renames each into place.
pub fn replace_files(
    dir: &Path,
    files: &[&str],
    draw: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let staging = dir.join(format!(".staging-{}", std::process::id()));
    fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let result = draw(&staging).and_then(|()| {
        for f in files {
            let from = staging.join(f);
            // Make the content durable before it becomes visible under its real name.
            File::open(&from)
                .and_then(|file| file.sync_all())
                .with_context(|| format!("cannot sync {}", from.display()))?;
            fs::rename(&from, dir.join(f))
                .with_context(|| format!("cannot write {}", dir.join(f).display()))?;
        }
        Ok(())
    });
    let _ = fs::remove_dir_all(&staging);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp left");
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        write_atomic(&p, b"old").unwrap();
        let err = replace_files(dir.path(), &["a.csv"], |_| anyhow::bail!("disk full"));
        assert!(err.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
    }
}
