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
use crate::manifest::{self, Manifest, TableSummary};
use crate::records;
use crate::runner;
use crate::setup;
use crate::tabular::TABLE_JSON;

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

/// Creates (or checks) the directory a run writes into (`out`, `root` itself or one of its
/// shards) and takes its lock, then refuses a `root` that holds another experiment
/// ([`refuse_other_experiment`]); a directory that already holds a journal needs
/// `resume`; one that holds a table (`table.json` without a journal: an imported table)
/// is refused.
pub fn prepare(
    out: &Path,
    resume: bool,
    root: &Path,
    config: &Config,
    kind: JournalKind,
) -> Result<File, BadInput> {
    // Before anything is created (a refused run leaves no trace), and again under the
    // lock (another process may have written meanwhile).
    refuse_other_experiment(root, config, kind)?;
    let lock = lock(out)?;
    refuse_other_experiment(root, config, kind)?;
    if out.join(TABLE_JSON).exists() && !out.join(journal::FILE_NAME).exists() {
        return Err(BadInput::at(
            out,
            "holds a table (table.json) that no journal here made: choose another --out",
        ));
    }
    if out.join(journal::FILE_NAME).exists() && !resume {
        return Err(BadInput::at(
            out,
            "already holds an experiment (journal.jsonl); pass --resume to continue it, or choose another --out",
        ));
    }
    Ok(lock)
}

/// The header of the journal at `path`, if it has a complete one.
fn read_header(path: &Path) -> Option<Header> {
    use std::io::{BufRead, BufReader, Read};
    let mut line = String::new();
    BufReader::new(File::open(path).ok()?.take(1 << 16))
        .read_line(&mut line)
        .ok()?;
    if !line.ends_with('\n') {
        return None;
    }
    serde_json::from_str(&line).ok()
}

/// Refuses an output directory (`root`, the one given as `--out`) that holds another
/// experiment: a journal at its top or in any of its shards whose config hash or kind
/// differs from the one about to write there. Called by every command that writes into
/// `root` before it writes anything.
pub fn refuse_other_experiment(
    root: &Path,
    config: &Config,
    kind: JournalKind,
) -> Result<(), BadInput> {
    let mut dirs = vec![root.to_path_buf()];
    if let Ok(entries) = fs::read_dir(root.join("shards")) {
        let mut shards: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        shards.sort();
        dirs.extend(shards);
    }
    for dir in dirs {
        refuse_other_journal(&dir, config, kind)?;
    }
    Ok(())
}

/// Refuses a directory whose journal (if it has one) was written by another config or
/// is of another kind.
pub fn refuse_other_journal(
    dir: &Path,
    config: &Config,
    kind: JournalKind,
) -> Result<(), BadInput> {
    let path = dir.join(journal::FILE_NAME);
    let Some(header) = read_header(&path) else {
        return Ok(());
    };
    if header.kind == kind && header.config_hash == config.journal_hash(kind) {
        return Ok(());
    }
    let what = if header.kind == kind {
        let old = fs::read_to_string(dir.join(RESOLVED_CONFIG)).unwrap_or_default();
        format!(
            "holds another experiment: its journal was written by a different config (only `experiment.workers` and `training.threads` may differ); changed lines:{}",
            config_diff(&old, &config.to_toml())
        )
    } else {
        format!(
            "holds another experiment: a {:?} journal, not a {kind:?} one",
            header.kind
        )
    };
    Err(BadInput::at(
        &path,
        format!("nothing was changed, choose another output directory: the directory {what}"),
    ))
}

/// A TOML line without its comment (a `#` outside a string) and trailing blanks; None for
/// a line that is only a comment or blank.
fn without_comment(line: &str) -> Option<&str> {
    // The quote of the string the scan is in: `"` (basic, with escapes) or `'` (literal).
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut end = line.len();
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some('"'), '\\') => {
                escaped = !escaped;
                continue;
            }
            (Some(q), _) if c == q && !escaped => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => {
                end = i;
                break;
            }
            _ => {}
        }
        escaped = false;
    }
    let kept = line[..end].trim_end();
    (!kept.is_empty()).then_some(kept)
}

/// Lines of two resolved configs that differ (comments aside: the written config is
/// annotated), for a clear refusal on resume.
fn config_diff(old: &str, new: &str) -> String {
    let old_lines: Vec<&str> = old.lines().filter_map(without_comment).collect();
    let new_lines: Vec<&str> = new.lines().filter_map(without_comment).collect();
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
        memory_limit: scorer.memory.clone(),
        numeric_contract: scorer.numeric_contract,
    }
}

/// Refuses a directory that holds no journal (not an output directory of nas).
pub fn require_journal(dir: &Path) -> Result<(), BadInput> {
    if dir.join(journal::FILE_NAME).is_file() {
        Ok(())
    } else {
        Err(BadInput::at(
            dir,
            "not an output directory of nas run or nas tabulate (it has no journal.jsonl)",
        ))
    }
}

/// An output directory as recorded: its resolved config, manifest and journal, checked
/// to belong together (the journal's config hash is the config's). What `nas report`
/// and `nas verify` read; take the directory's [`lock`] first when writing to it.
pub struct Recorded {
    /// Path of `config.resolved.toml`.
    pub config_path: std::path::PathBuf,
    /// The resolved config.
    pub loaded: crate::config::LoadedConfig,
    /// The manifest.
    pub manifest: Manifest,
    /// Everything the journal holds.
    pub contents: Contents,
}

impl Recorded {
    /// Reads `dir`'s config, manifest and journal; an error names the file at fault.
    pub fn read(dir: &Path) -> Result<Recorded> {
        require_journal(dir)?;
        let config_path = dir.join(RESOLVED_CONFIG);
        let loaded = crate::config::load(&config_path)?;
        let manifest = read_manifest(dir).map_err(|e| BadInput::at(dir, e.to_string()))?;
        let contents = journal::read(&dir.join(journal::FILE_NAME))?;
        if contents.header.config_hash != loaded.config.journal_hash(contents.header.kind) {
            return Err(BadInput::at(
                &config_path,
                "does not match the journal (edited after the run?)",
            )
            .into());
        }
        Ok(Recorded {
            config_path,
            loaded,
            manifest,
            contents,
        })
    }
}

/// Reads the manifest of an output directory, checking its numbers.
pub fn read_manifest(out: &Path) -> Result<Manifest> {
    let path = out.join(MANIFEST);
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a nas manifest", path.display()))?;
    manifest
        .check()
        .map_err(|e| BadInput::at(&path, format!("not a valid nas manifest: {e}")))?;
    Ok(manifest)
}

/// Writes the manifest of an output directory (atomically), after checking that it reads
/// back: a manifest with a number JSON cannot hold (NaN) is refused, never written.
pub fn write_manifest(out: &Path, manifest: &Manifest) -> Result<()> {
    manifest.check().map_err(|e| {
        anyhow::anyhow!("refusing to write a manifest nas could not read back: {e}")
    })?;
    let mut text = serde_json::to_string_pretty(manifest).expect("manifest serializes");
    text.push('\n');
    crate::outputs::write_atomic(&out.join(MANIFEST), text.as_bytes())
}

/// Writes the resolved config of an output directory (atomically), the settings the run
/// does not use marked ([`Config::unused`]; `table` is the run's table, if any).
pub fn write_config(out: &Path, config: &Config, table: Option<&TableSummary>) -> Result<()> {
    let unused = config.unused(table.is_some_and(|t| t.signal.is_some()));
    crate::outputs::write_atomic(
        &out.join(RESOLVED_CONFIG),
        config.to_toml_annotated(&unused).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_config_diff_ignores_annotations_but_not_values() {
        let old = "[data]\ndataset = \"mnist\"  # not used: the table's data\nname = \"a#b\"\n";
        let same = "[data]\ndataset = \"mnist\"\nname = \"a#b\"\n";
        assert_eq!(super::config_diff(old, same), "");
        let other = "[data]\ndataset = \"mnist\"\nname = \"a#c\"\n";
        assert_eq!(super::without_comment("p = 'x#y' # z"), Some("p = 'x#y'"));
        assert_eq!(
            super::without_comment("q = \"a\\\"#\" # z"),
            Some("q = \"a\\\"#\"")
        );
        assert_eq!(super::without_comment("  # only a comment"), None);
        assert_eq!(
            super::config_diff(old, other),
            "\n  - name = \"a#b\"\n  + name = \"a#c\""
        );
    }
}
