//! The output directory of `nas run`, `nas tabulate` and `nas merge`: its lock, the
//! journal opened fresh or for resume (and checked against the config), the resolved
//! config and the manifest.

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::error::BadInput;
use crate::exec::Shard;
use crate::journal::{self, Contents, Header, Journal, JournalKind};
use crate::manifest::{self, Manifest};
use crate::records;
use crate::runner;
use crate::setup;

/// Name of the resolved config in an output directory.
pub const RESOLVED_CONFIG: &str = "config.resolved.toml";
/// Name of the manifest in an output directory.
pub const MANIFEST: &str = "manifest.json";
/// Name of the lock file in an output directory.
pub const LOCK: &str = ".lock";

/// Takes the lock of a directory (created if needed): the returned file holds it until it
/// is dropped. Refuses a directory another nas process is writing to.
pub fn lock(out: &Path) -> Result<File, BadInput> {
    if out.exists() && !out.is_dir() {
        return Err(BadInput::at(
            out,
            "the output path exists and is not a directory",
        ));
    }
    fs::create_dir_all(out)
        .map_err(|e| BadInput::at(out, format!("cannot create the output directory: {e}")))?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(out.join(LOCK))
        .map_err(|e| BadInput::at(out, format!("the output directory is not writable: {e}")))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(fs::TryLockError::WouldBlock) => Err(BadInput::at(
            out,
            "another nas process is writing to this directory; wait for it or choose another --out",
        )),
        Err(fs::TryLockError::Error(e)) => Err(BadInput::at(
            out,
            format!("cannot lock the output directory: {e}"),
        )),
    }
}

/// Creates (or checks) the output directory of a run and takes its lock: a directory that
/// already holds a journal needs `resume`.
pub fn prepare(out: &Path, resume: bool) -> Result<File, BadInput> {
    let lock = lock(out)?;
    if out.join(journal::FILE_NAME).exists() && !resume {
        return Err(BadInput::at(
            out,
            "already holds an experiment (journal.jsonl); pass --resume to continue it, or choose another --out",
        ));
    }
    Ok(lock)
}

/// Lines of two resolved configs that differ, for a clear refusal on resume.
fn config_diff(old: &str, new: &str) -> String {
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let removed: Vec<&str> = old_lines
        .iter()
        .filter(|l| !new_lines.contains(l))
        .copied()
        .collect();
    let added: Vec<&str> = new_lines
        .iter()
        .filter(|l| !old_lines.contains(l))
        .copied()
        .collect();
    let mut out = String::new();
    for l in removed.iter().take(6) {
        out.push_str(&format!("\n  - {l}"));
    }
    for l in added.iter().take(6) {
        out.push_str(&format!("\n  + {l}"));
    }
    out
}

/// Opens the journal: a new one, or the existing one when resuming (checked against the
/// config).
pub fn open_journal(
    out: &Path,
    config: &Config,
    kind: JournalKind,
    units: &[runner::Unit],
    resume: bool,
    shard: Option<Shard>,
) -> Result<(Journal, Option<Contents>), BadInput> {
    let shard = shard.map(Shard::pair);
    let path = out.join(journal::FILE_NAME);
    let hash = config.journal_hash(kind);
    if resume && path.exists() && !has_complete_line(&path) {
        // Killed while writing the header: nothing was recorded yet; start the journal anew.
        fs::remove_file(&path)
            .map_err(|e| BadInput::at(&path, format!("cannot replace the torn journal: {e}")))?;
    }
    if resume && path.exists() {
        let contents = journal::read(&path)?;
        if contents.header.kind != kind {
            return Err(BadInput::at(
                &path,
                format!(
                    "records a {:?} journal, not a {kind:?} one: use another --out",
                    contents.header.kind
                ),
            ));
        }
        if contents.header.config_hash != hash {
            let old = fs::read_to_string(out.join(RESOLVED_CONFIG)).unwrap_or_default();
            return Err(BadInput::at(
                &path,
                format!(
                    "was written by a different config (only `experiment.workers` and `training.threads` may change on resume); changed lines:{}",
                    config_diff(&old, &config.to_toml())
                ),
            ));
        }
        if contents.header.shard != shard {
            let show = |s: Option<(u32, u32)>| {
                s.map_or("the whole experiment".to_string(), |(i, n)| {
                    format!("shard {i}/{n}")
                })
            };
            return Err(BadInput::at(
                &path,
                format!("holds {}, not {}", show(contents.header.shard), show(shard)),
            ));
        }
        let foreign = records::foreign_runs(units, &contents.events);
        if !foreign.is_empty() {
            return Err(BadInput::at(
                &path,
                format!(
                    "holds runs the config does not have: {}",
                    foreign.join(", ")
                ),
            ));
        }
        let journal = Journal::append_to(&path, &contents)?;
        return Ok((journal, Some(contents)));
    }
    let header = Header {
        kind,
        schema: journal::SCHEMA,
        nas_version: env!("CARGO_PKG_VERSION").to_string(),
        config_hash: hash,
        shard,
    };
    Ok((Journal::create(&path, &header)?, None))
}

/// True when a journal's header line is complete (it is short: 4 KiB is plenty).
fn has_complete_line(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .is_ok_and(|_| head.contains(&b'\n'))
}

/// The manifest of a run starting now: versions, machine, data and config hash.
pub fn base(config: &Config, scorer: &setup::Scorer) -> Manifest {
    let (nas_version, git_revision, rustc) = manifest::build_info();
    Manifest {
        nas_version,
        git_revision,
        rustc,
        cpu: manifest::cpu_model(),
        cores: manifest::cores(),
        os: std::env::consts::OS.to_string(),
        dataset: scorer.dataset.clone(),
        data_identity: scorer.identity.clone(),
        data_files: scorer.files.clone(),
        config_hash: config.result_hash(),
        workers: config.experiment.workers,
        threads: config.training.threads as usize,
        started: manifest::now_utc(),
        finished: None,
        partial: false,
        table: scorer.table.clone(),
    }
}

/// Reads the manifest of an output directory.
pub fn read_manifest(out: &Path) -> Result<Manifest> {
    let path = out.join(MANIFEST);
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a nas manifest", path.display()))
}

/// Writes the manifest of an output directory (atomically).
pub fn write_manifest(out: &Path, manifest: &Manifest) -> Result<()> {
    let mut text = serde_json::to_string_pretty(manifest).expect("manifest serializes");
    text.push('\n');
    crate::outputs::write_atomic(&out.join(MANIFEST), text.as_bytes())
}

/// Writes the resolved config of an output directory (atomically).
pub fn write_config(out: &Path, config: &Config) -> Result<()> {
    crate::outputs::write_atomic(&out.join(RESOLVED_CONFIG), config.to_toml().as_bytes())
}
