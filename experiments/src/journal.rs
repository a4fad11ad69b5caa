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
    let mut numbers = Vec::new();
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
            serde_json::from_str::<Event>(&text).map(|e| {
                events.push(e);
                numbers.push(number);
            })
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
    verify(&events, &numbers).map_err(|(line, message)| BadInput {
        path: Some(path.to_path_buf()),
        position: Some((line, 1)),
        field: None,
        message: format!("corrupt journal line {line}: {message}"),
    })?;
    Ok(Contents {
        header,
        events,
        valid_len,
        torn_tail,
    })
}

/// `0-3, 6, 8-9` for sorted indices.
fn ranges(indices: impl Iterator<Item = u32>) -> String {
    let mut parts: Vec<(u32, u32)> = Vec::new();
    for i in indices {
        match parts.last_mut() {
            Some((_, hi)) if *hi + 1 == i => *hi = i,
            _ => parts.push((i, i)),
        }
    }
    if parts.is_empty() {
        return "none".into();
    }
    parts
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The numbers of an event that nas must be able to read back: every metric checked
/// ([`nas_core::Metrics::check`]).
fn check_numbers(event: &Event) -> Result<(), String> {
    let (what, metrics) = match event {
        Event::Trial(t) => (
            format!("trial {} of run {}/{}", t.index, t.strategy, t.repetition),
            t.metrics.as_ref(),
        ),
        Event::Final(f) => (
            format!(
                "the final evaluation of run {}/{}",
                f.strategy, f.repetition
            ),
            f.metrics.as_ref(),
        ),
        Event::RunEnd(_) => return Ok(()),
    };
    match metrics.map(Metrics::check) {
        Some(Err(e)) => Err(format!("{what}: {e}")),
        _ => Ok(()),
    }
}

/// Checks what a journal's lines say against each other: every number in range; each
/// run's finished (not killed) trials numbered 0, 1, 2, ... without a gap or a repeat
/// (lines cut from the middle are not a shorter run); a `run_end` after exactly as many
/// trials as it says, and nothing of its run after it; at most one final evaluation,
/// of a trial the run holds. Errors are (line number, message).
fn verify(events: &[Event], numbers: &[usize]) -> Result<(), (usize, String)> {
    use std::collections::{BTreeMap, HashMap};
    #[derive(Default)]
    struct Run<'a> {
        /// Finished trials: index -> (line, trial).
        done: BTreeMap<u32, (usize, &'a Trial)>,
        final_eval: Option<(usize, &'a FinalEval)>,
        ended: Option<usize>,
        last: usize,
    }
    let mut runs: HashMap<(&str, u32), Run<'_>> = HashMap::new();
    for (event, &line) in events.iter().zip(numbers) {
        check_numbers(event).map_err(|e| (line, e))?;
        let key = match event {
            Event::Trial(t) => (t.strategy.as_str(), t.repetition),
            Event::Final(f) => (f.strategy.as_str(), f.repetition),
            Event::RunEnd(e) => (e.strategy.as_str(), e.repetition),
        };
        let label = format!("{}/{}", key.0, key.1);
        let run = runs.entry(key).or_default();
        run.last = line;
        if let Some(end) = run.ended {
            return Err((
                line,
                format!("run {label} has an event after its run_end (line {end})"),
            ));
        }
        match event {
            Event::Trial(t) if t.status == Status::Killed => {}
            Event::Trial(t) => {
                if let Some((first, _)) = run.done.insert(t.index, (line, t)) {
                    return Err((
                        line,
                        format!(
                            "trial {} of run {label} is recorded twice (first on line {first})",
                            t.index
                        ),
                    ));
                }
            }
            Event::Final(f) => {
                if let Some((first, _)) = run.final_eval {
                    return Err((
                        line,
                        format!(
                            "run {label} has a second final evaluation (the first is on line {first})"
                        ),
                    ));
                }
                run.final_eval = Some((line, f));
            }
            Event::RunEnd(e) => {
                let n = run.done.len() as u32;
                if n != e.trials || run.done.keys().copied().ne(0..n) {
                    return Err((
                        line,
                        format!(
                            "run {label} ends after {} trials, but the journal holds trials {} ({n}): lines were deleted or the journal was cut",
                            e.trials,
                            ranges(run.done.keys().copied())
                        ),
                    ));
                }
                if let Some((fl, f)) = run.final_eval {
                    match run.done.get(&f.trial) {
                        Some((_, t)) if t.arch == f.arch => {}
                        _ => {
                            return Err((
                                fl,
                                format!(
                                    "the final evaluation of run {label} names trial {} (`{}`), which the run does not hold",
                                    f.trial, f.arch
                                ),
                            ));
                        }
                    }
                }
                run.ended = Some(line);
            }
        }
    }
    // A run not ended yet: its trials must still be a prefix (0, 1, ...).
    let mut open: Vec<(&(&str, u32), &Run<'_>)> =
        runs.iter().filter(|(_, r)| r.ended.is_none()).collect();
    open.sort_by_key(|(_, r)| r.last);
    for ((strategy, repetition), run) in open {
        let n = run.done.len() as u32;
        if run.done.keys().copied().ne(0..n) {
            return Err((
                run.last,
                format!(
                    "run {strategy}/{repetition} holds trials {}: some lines are missing",
                    ranges(run.done.keys().copied())
                ),
            ));
        }
    }
    Ok(())
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
    /// on disk. An event with a number nas could not read back (NaN, which JSON writes as
    /// `null`) is refused, never written.
    pub fn append(&self, event: &Event) -> std::io::Result<()> {
        self.write_line(&checked_text(event)?, self.sync_each)
    }

    /// Appends an event and waits until it (and every line before it) is on disk.
    pub fn append_durable(&self, event: &Event) -> std::io::Result<()> {
        self.write_line(&checked_text(event)?, true)
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

/// An event's line, once its numbers are checked.
fn checked_text(event: &Event) -> std::io::Result<String> {
    check_numbers(event).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("refusing to write a value nas could not read back into the journal: {e}"),
        )
    })?;
    Ok(serde_json::to_string(event).expect("events serialize"))
}

/// Serializes an event as one journal line (with its newline).
pub fn line(event: &Event) -> String {
    let mut s = serde_json::to_string(event).expect("events serialize");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(index: u32, status: Status) -> Event {
        Event::Trial(Trial {
            strategy: "random".into(),
            repetition: 0,
            index,
            seed: u64::from(index),
            arch: "dense16-relu".parse().unwrap(),
            status,
            reason: None,
            metrics: Some(Metrics {
                val_acc: Some(0.5),
                epochs: 1.0,
                ..Metrics::default()
            }),
            cached: false,
            fidelity: None,
            schedule: None,
        })
    }

    fn end(trials: u32) -> Event {
        Event::RunEnd(RunEnd {
            strategy: "random".into(),
            repetition: 0,
            trials,
            reason: None,
        })
    }

    fn check(events: Vec<Event>) -> Result<(), (usize, String)> {
        let lines: Vec<usize> = (2..events.len() + 2).collect();
        verify(&events, &lines)
    }

    #[test]
    fn a_journal_agrees_with_its_own_counts() {
        let ok = |i| trial(i, Status::Ok);
        assert!(check(vec![ok(0), ok(1), end(2)]).is_ok());
        // A killed trial, run again.
        assert!(check(vec![ok(0), trial(1, Status::Killed), ok(1), end(2)]).is_ok());
        // An unfinished run.
        assert!(check(vec![ok(0), ok(1)]).is_ok());
        // Lines cut from the middle: the run_end's count disagrees.
        let (line, msg) = check(vec![ok(0), ok(1), ok(6), end(6)]).unwrap_err();
        assert_eq!(line, 5);
        assert!(
            msg.contains("ends after 6 trials, but the journal holds trials 0-1, 6 (3)"),
            "{msg}"
        );
        let (_, msg) = check(vec![ok(0), ok(1), end(6)]).unwrap_err();
        assert!(msg.contains("holds trials 0-1 (2)"), "{msg}");
        // A gap in an unfinished run.
        let (_, msg) = check(vec![ok(0), ok(3)]).unwrap_err();
        assert!(
            msg.contains("holds trials 0, 3: some lines are missing"),
            "{msg}"
        );
        // A repeat, and an event after the run's end.
        let (line, msg) = check(vec![ok(0), ok(0)]).unwrap_err();
        assert_eq!(line, 3);
        assert!(msg.contains("recorded twice (first on line 2)"), "{msg}");
        let (_, msg) = check(vec![ok(0), end(1), ok(1)]).unwrap_err();
        assert!(msg.contains("after its run_end (line 3)"), "{msg}");
        // A number out of range.
        let mut bad = trial(0, Status::Ok);
        if let Event::Trial(t) = &mut bad {
            t.metrics.as_mut().unwrap().val_acc = Some(1.5);
        }
        let (_, msg) = check(vec![bad.clone()]).unwrap_err();
        assert!(
            msg.contains("trial 0 of run random/0: val_acc = 1.5"),
            "{msg}"
        );
        // ... is never written.
        let dir = tempfile::tempdir().unwrap();
        let header = Header {
            kind: JournalKind::Run,
            schema: SCHEMA,
            nas_version: "t".into(),
            config_hash: "h".into(),
            shard: None,
        };
        let journal = Journal::create(&dir.path().join(FILE_NAME), &header).unwrap();
        let err = journal.append(&bad).unwrap_err().to_string();
        assert!(err.contains("could not read back"), "{err}");
        journal.append(&ok(0)).unwrap();
        let read_back = read(&dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(read_back.events.len(), 1);
    }

    #[test]
    fn index_ranges_are_compact() {
        assert_eq!(ranges([0, 1, 2, 5, 7, 8].into_iter()), "0-2, 5, 7-8");
        assert_eq!(ranges(std::iter::empty()), "none");
    }
}
