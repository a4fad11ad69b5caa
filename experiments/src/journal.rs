//! The append-only journal: the source of truth of an experiment.
//!
//! `journal.jsonl` holds a header line (schema version, nas version, config hash), then one
//! line per event: a finished trial, or the final test evaluation of a run's best
//! architecture. Each line is written whole, flushed and fsync'd before the trial counts as
//! done. Every table, report and plot is derived from it.
//!
//! Reading tolerates a torn last line (a crash mid-write): it is ignored, and truncated away
//! before anything is appended. A bad line anywhere else is an error naming the line.
//! Non-finite numbers are never written: scores are optional and a trial that has none says
//! why in its status.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nas_core::{Architecture, Metrics, Status, StopReason, Trial};
use serde::{Deserialize, Serialize};

use crate::error::BadInput;

/// Version of the journal format.
pub const SCHEMA: u32 = 1;
/// File name of the journal in an output directory.
pub const FILE_NAME: &str = "journal.jsonl";

/// What a journal records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalKind {
    /// A comparison of strategies (`nas run`).
    #[default]
    Run,
    /// The tabulation of a space (`nas tabulate`).
    Tabulate,
}

/// First line of a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// What the journal records.
    #[serde(default)]
    pub kind: JournalKind,
    /// Journal format version.
    pub schema: u32,
    /// Version of nas that wrote it.
    pub nas_version: String,
    /// [`crate::config::Config::result_hash`] of the experiment.
    pub config_hash: String,
    /// `(index, count)` when this journal holds one shard of the experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<(u32, u32)>,
}

/// The final test evaluation of a run's best architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalEval {
    /// Strategy name of the run.
    pub strategy: String,
    /// Repetition seed of the run.
    pub repetition: u32,
    /// Index of the best trial in the run.
    pub trial: u32,
    /// The architecture evaluated.
    pub arch: Architecture,
    /// Trial seed used (the best trial's, so the network is the one that was selected).
    pub seed: u64,
    /// How the evaluation ended.
    pub status: Status,
    /// Why it did not end `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
}

/// One journal line after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A finished (or killed) trial.
    Trial(Trial),
    /// A final test evaluation.
    Final(FinalEval),
    /// A run finished: all its trials (and its final evaluation, if any) are above.
    RunEnd(RunEnd),
}

/// Marks the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    /// Strategy name of the run.
    pub strategy: String,
    /// Repetition seed of the run.
    pub repetition: u32,
    /// Number of trials the run made.
    pub trials: u32,
    /// Why the run stopped (absent in journals written before nas recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<StopReason>,
}

/// A journal read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Contents {
    /// The header.
    pub header: Header,
    /// The events, in the order they were written.
    pub events: Vec<Event>,
    /// Byte length of the well-formed part (a torn last line starts here).
    pub valid_len: u64,
    /// True when a torn last line was ignored.
    pub torn_tail: bool,
}

/// Reads a journal; a torn last line is ignored, any other bad line is an error.
pub fn read(path: &Path) -> Result<Contents, BadInput> {
    let file = File::open(path)
        .map_err(|e| BadInput::at(path, format!("cannot open the journal: {e}")))?;
    let mut reader = BufReader::new(file);
    let mut lines: Vec<(usize, String, bool, usize)> = Vec::new();
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| BadInput::at(path, format!("cannot read the journal: {e}")))?;
        if n == 0 {
            break;
        }
        number += 1;
        let complete = buf.ends_with(b"\n");
        let text = String::from_utf8_lossy(&buf).trim_end().to_string();
        lines.push((number, text, complete, n));
    }
    let mut valid_len: u64 = 0;
    let mut header = None;
    let mut events = Vec::new();
    let mut torn_tail = false;
    for (number, text, complete, raw_len) in lines {
        if !complete {
            // Only the last line can lack its newline: a crash mid-write. It never counted.
            torn_tail = true;
            break;
        }
        let parsed = if number == 1 {
            serde_json::from_str::<Header>(&text).map(|h| header = Some(h))
        } else {
            serde_json::from_str::<Event>(&text).map(|e| events.push(e))
        };
        if let Err(e) = parsed {
            return Err(BadInput {
                path: Some(path.to_path_buf()),
                position: Some((number, e.column())),
                field: None,
                message: format!("corrupt journal line {number}: {e}"),
            });
        }
        valid_len += raw_len as u64;
    }
    let header = header
        .ok_or_else(|| BadInput::at(path, "the journal has no header line (not a nas journal?)"))?;
    if header.schema != SCHEMA {
        return Err(BadInput::at(
            path,
            format!(
                "journal schema {} is not supported (this nas reads schema {SCHEMA})",
                header.schema
            ),
        ));
    }
    Ok(Contents {
        header,
        events,
        valid_len,
        torn_tail,
    })
}

/// The appending end of a journal; safe to share between worker threads.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    sync_each: bool,
}

impl Journal {
    /// Creates a new journal with its header; refuses to overwrite one.
    pub fn create(path: &Path, header: &Header) -> Result<Self, BadInput> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| BadInput::at(path, format!("cannot create the journal: {e}")))?;
        let journal = Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            sync_each: true,
        };
        journal
            .write_line(
                &serde_json::to_string(header).expect("header serializes"),
                true,
            )
            .map_err(|e| BadInput::at(path, e.to_string()))?;
        Ok(journal)
    }

    /// Opens an existing journal for appending after its well-formed part (a torn last
    /// line is cut off first).
    pub fn append_to(path: &Path, contents: &Contents) -> Result<Self, BadInput> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| BadInput::at(path, format!("cannot open the journal: {e}")))?;
        let io = |e: std::io::Error| BadInput::at(path, format!("cannot repair the journal: {e}"));
        file.set_len(contents.valid_len).map_err(io)?;
        file.seek(SeekFrom::End(0)).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            sync_each: true,
        })
    }

    /// Only sync at the end of each run, not after every trial: for evaluators whose
    /// trials cost nothing to redo (a table lookup), where an fsync per trial would be
    /// the whole cost. A crash may then lose the trials of unfinished runs, which a resume
    /// redoes; ended runs are always on disk.
    pub fn sync_at_run_end_only(mut self) -> Self {
        self.sync_each = false;
        self
    }

    /// Appends an event and (unless [`Journal::sync_at_run_end_only`]) waits until it is
    /// on disk.
    pub fn append(&self, event: &Event) -> std::io::Result<()> {
        self.write_line(
            &serde_json::to_string(event).expect("events serialize"),
            self.sync_each,
        )
    }

    /// Appends an event and waits until it (and every line before it) is on disk.
    pub fn append_durable(&self, event: &Event) -> std::io::Result<()> {
        self.write_line(
            &serde_json::to_string(event).expect("events serialize"),
            true,
        )
    }

    fn write_line(&self, line: &str, sync: bool) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        // A poisoned lock only means another writer panicked; the file is still whole
        // up to its last complete line.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&bytes)
            .and_then(|()| file.flush())
            .and_then(|()| if sync { file.sync_data() } else { Ok(()) })
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot write the journal {}: {e}", self.path.display()),
                )
            })
    }

    /// Runs `f` while holding the journal's lock, so no line is half-written meanwhile
    /// (used to record killed trials and exit).
    pub fn with_lock<T>(&self, f: impl FnOnce(&mut File) -> T) -> T {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut file)
    }
}

/// Serializes an event as one journal line (with its newline).
pub fn line(event: &Event) -> String {
    let mut s = serde_json::to_string(event).expect("events serialize");
    s.push('\n');
    s
}
