//! Executing a plan (`nas run`, `nas tabulate`): the flags they share, the output
//! directory and journal set up, every remaining run on the workers with progress and
//! signal handling, then the outputs (or, for a shard, what to do next).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use nas_core::{Evaluator, SearchSpace, Trial};

use crate::config::LoadedConfig;
use crate::derive;
use crate::error::BadInput;
use crate::journal::{self, Contents, Event, Journal, JournalKind};
use crate::manifest::{self, Manifest, NumbersDiffer, NumbersSource, contract_name};
use crate::outdir;
use crate::progress::Display;
use crate::records;
use crate::runner::{self, Outcome, Plan, Progress, RunContext};
use crate::setup;

/// One shard of an experiment: `index` of `count`, 0-based, `index < count` (checked when
/// made). Unit k (runs in the order strategies as listed, then repetitions; tabulation
/// chunks in order) belongs to shard k mod count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// When `count` is 0 or `index >= count`.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: the shard index must be below the shard count (0-based: 0/{count} .. {}/{count})",
                count.saturating_sub(1)
            ));
        }
        Ok(Shard { index, count })
    }

    /// The 0-based index.
    pub fn index(self) -> u32 {
        self.index
    }

    /// The number of shards.
    pub fn count(self) -> u32 {
        self.count
    }

    /// `(index, count)`, as journals record it.
    pub fn pair(self) -> (u32, u32) {
        (self.index, self.count)
    }

    /// True when the shard runs unit `unit_index`.
    pub fn runs(self, unit_index: usize) -> bool {
        runner::shard_of(unit_index, self.count) == self.index
    }
}

impl FromStr for Shard {
    type Err = String;
    /// Parses `I/N`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not I/N, e.g. 0/4"))?;
        let i: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("`{i}` is not a shard index"))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{n}` is not a shard count"))?;
        Shard::new(i, n)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Flags shared by `nas run` and `nas tabulate`: none of them changes a result.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExecOptions {
    /// Runs executed in parallel (never changes results) [default: the config's].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Threads per trial (never changes results) [default: the config's].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Continue the interrupted experiment in --out: finished trials are kept, killed ones
    /// are run again.
    #[arg(long)]
    pub resume: bool,
    /// Folder of the data set's files (overrides `data.dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Run only shard I of N (0-based), into DIR/shards/I/: unit k (runs in the order
    /// strategies as listed, then repetitions; tabulation chunks in order) belongs to
    /// shard k mod N. Combine the shards with `nas merge DIR`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The folder a run writes into: `out`, or `out/shards/<index>` for a shard.
pub fn run_dir(out: &Path, shard: Option<Shard>) -> PathBuf {
    match shard {
        Some(shard) => out.join("shards").join(shard.index().to_string()),
        None => out.to_path_buf(),
    }
}

/// Where external processes' stderr goes: `<run folder>/logs`.
pub const LOGS: &str = "logs";

/// What a finished `nas run`, `nas tabulate` or `nas merge` reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The output directory.
    pub out: PathBuf,
    /// The summary table, as printed (for a shard: what to do next).
    pub table: String,
    /// The report, when one was written (not for a shard).
    pub report: Option<PathBuf>,
}

impl RunSummary {
    /// Prints the table and where the report is.
    pub fn print(&self) {
        // Ignore a closed stdout (`| head`): the outputs are written already.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", self.table);
        if let Some(report) = &self.report {
            let _ = writeln!(out, "report: {}", report.display());
        }
    }
}

/// Applies the command-line overrides to a loaded config, then checks it again: a value
/// a flag gives is held to the same rules as one the file gives (`--seeds 1,1` is
/// refused as `seeds = [1, 1]` is), and an error names the flag.
pub fn apply_overrides(
    loaded: &mut LoadedConfig,
    exec: &ExecOptions,
    strategies: Option<&[String]>,
    seeds: Option<&[u32]>,
) -> Result<(), BadInput> {
    let mut flags = Vec::new();
    let config = &mut loaded.config;
    if let Some(w) = exec.workers {
        config.experiment.workers = w;
        flags.push(("experiment.workers", "--workers"));
    }
    if let Some(t) = exec.threads {
        config.training.threads = u32::try_from(t).unwrap_or(u32::MAX);
        flags.push(("training.threads", "--threads"));
    }
    if let Some(names) = strategies {
        let all = config.strategy_names();
        if let Some(unknown) = names.iter().find(|n| !all.contains(n)) {
            return Err(BadInput::new(format!(
                "--strategies: {unknown:?} is not a strategy of {} (it has: {})",
                loaded.path.display(),
                all.join(", ")
            )));
        }
        if let Some((i, twice)) = names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
        {
            return Err(BadInput::new(format!(
                "--strategies: invalid value {twice:?} (again at position {}) (allowed: distinct strategy names)",
                i + 1
            )));
        }
        config.strategies.retain(|s| names.contains(&s.name()));
    }
    if let Some(seeds) = seeds {
        config.experiment.repetitions = None;
        config.experiment.seeds = Some(seeds.to_vec());
        flags.push(("experiment.seeds", "--seeds"));
    }
    loaded.recheck(&flags)
}

/// Writes the killed in-flight trials and exits: the journal lock is held to the end so no
/// line is left half-written.
fn exit_interrupted(
    journal: &Journal,
    in_flight: &Mutex<BTreeMap<usize, Trial>>,
    resume_cmd: &str,
) -> ! {
    let killed: Vec<Trial> = in_flight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    journal.with_lock(|file| {
        for t in &killed {
            let _ = file.write_all(journal::line(&Event::Trial(t.clone())).as_bytes());
        }
        let _ = file.sync_data();
        let _ = writeln!(
            std::io::stderr(),
            "\ninterrupted: finished trials are in the journal, {} in-flight trial(s) recorded as killed.\nresume with: {resume_cmd}",
            killed.len()
        );
        std::process::exit(130)
    })
}

/// The generic part of executing a plan, shared by `nas run` and `nas tabulate`.
pub struct Execution<'a> {
    /// What to run.
    pub plan: &'a dyn Plan,
    /// The checked space.
    pub space: &'a SearchSpace,
    /// Scores trials.
    pub evaluator: &'a dyn Evaluator,
    /// The open journal.
    pub journal: &'a Journal,
    /// What the journal held when resuming.
    pub previous: Option<&'a Contents>,
    /// Only this shard's runs.
    pub shard: Option<Shard>,
    /// Runs in parallel.
    pub workers: usize,
    /// No progress output.
    pub quiet: bool,
    /// The command that resumes, for the interruption message.
    pub resume_cmd: &'a str,
}

/// Runs every (remaining) run of a plan with progress display and signal handling;
/// returns how many runs were in scope.
pub fn execute(x: &Execution<'_>) -> Result<usize> {
    let units = x.plan.units();
    let recorded = match x.previous {
        Some(c) => records::recorded_by_unit(&units, &c.events),
        None => vec![runner::Recorded::default(); units.len()],
    };
    let work: Vec<(runner::Unit, runner::Recorded)> = units
        .into_iter()
        .zip(recorded)
        .filter(|(u, _)| x.shard.is_none_or(|s| s.runs(u.index)))
        .collect();
    let runs = work.len();
    let total: usize = work
        .iter()
        .map(|(u, _)| x.plan.limits(u).evaluations as usize)
        .sum();
    let display = Display::new(total, runs, x.quiet);
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, interrupted.clone())
            .context("cannot install the signal handler")?;
    }
    let stop = AtomicBool::new(false);
    let in_flight = Mutex::new(BTreeMap::new());
    let progress = |p: Progress| display.on(p);
    let ctx = RunContext {
        plan: x.plan,
        space: x.space,
        evaluator: x.evaluator,
        journal: x.journal,
        stop: &stop,
        in_flight: &in_flight,
        progress: &progress,
    };
    let poll = || {
        if interrupted.load(Ordering::SeqCst) {
            display.finish();
            exit_interrupted(x.journal, &in_flight, x.resume_cmd);
        }
    };
    let outcome = runner::run_all(&ctx, work, x.workers, &poll);
    display.finish();
    if let Outcome::Stopped = outcome? {
        anyhow::bail!("stopped before the end; resume with: {}", x.resume_cmd);
    }
    Ok(runs)
}

/// Prepares the output directory, the evaluator and the journal of a plan, executes it,
/// and writes the outputs (or, for a shard, says what to do next).
pub fn execute_plan(
    command: &str,
    loaded: &LoadedConfig,
    out: &Path,
    kind: JournalKind,
    exec: &ExecOptions,
    scorer: &setup::Scorer,
    plan: &dyn Plan,
) -> Result<String> {
    let config = &loaded.config;
    let dir = run_dir(out, exec.shard);
    let _lock = outdir::prepare(&dir, exec.resume, out, config, kind)?;
    let imported = scorer.table.as_ref().is_some_and(|t| t.signal.is_some());
    for unused in config.unused(imported) {
        if loaded.written(unused.field) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: {}: `{}` is not used ({}); config.resolved.toml marks it",
                loaded.path.display(),
                unused.field,
                unused.why
            );
        }
    }
    let (mut journal, previous) =
        outdir::open_journal(&dir, config, kind, &plan.units(), exec.resume, exec.shard)?;
    if scorer.table.is_some() {
        journal = journal.sync_at_run_end_only();
    }
    let earlier = previous
        .as_ref()
        .and_then(|_| outdir::read_manifest(&dir).ok());
    let now = NumbersSource {
        numeric_contract: scorer.numeric_contract,
        table: scorer.table.as_ref(),
    };
    if let Some(earlier) = &earlier
        && let Some(differ) = manifest::numbers_differ(earlier.source(), now)
    {
        let why = match differ {
            NumbersDiffer::Contract(was, now) => format!(
                "its trials were trained under the engine's numeric contract {}, this nas trains under {}: resuming would mix numbers of two engines in one result (finish it with the nas that started it, or start a new folder)",
                contract_name(was),
                contract_name(now)
            ),
            NumbersDiffer::Table(was, now) => format!(
                "its trials were answered by the table {} with table.csv SHA-256 {was}, which now has {now}: resuming would mix answers of two tables in one result (restore that table, or start a new folder)",
                earlier.table.as_ref().map_or("", |t| t.path.as_str()),
            ),
        };
        return Err(BadInput::at(&dir.join(outdir::MANIFEST), why).into());
    }
    let manifest = Manifest {
        started: earlier
            .as_ref()
            .map_or_else(manifest::now_utc, |m| m.started.clone()),
        ..outdir::base(config, scorer)
    };
    outdir::write_config(&dir, config, scorer.table.as_ref())?;
    outdir::write_manifest(&dir, &manifest)?;
    let resume_cmd = format!(
        "nas {command} {} --out {}{} --resume",
        loaded.path.display(),
        out.display(),
        exec.shard
            .map_or_else(String::new, |s| format!(" --shard {s}"))
    );
    let units = execute(&Execution {
        plan,
        space: &scorer.space,
        evaluator: scorer.evaluator.as_ref(),
        journal: &journal,
        previous: previous.as_ref(),
        shard: exec.shard,
        workers: config.experiment.workers,
        quiet: exec.quiet,
        resume_cmd: &resume_cmd,
    })?;
    match exec.shard {
        Some(shard) => Ok(format!(
            "shard {shard}: {units} unit(s) done in {}.\nWhen every shard is done: nas merge {}",
            dir.display(),
            out.display()
        )),
        None => derive::write_outputs(out, config, &manifest),
    }
}
