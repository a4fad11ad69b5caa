//! `nas run` and `nas report`: from a config to a finished output directory.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use nas_core::{Evaluator, SearchSpace, Trial};

use crate::runner::Plan;

use crate::config::{self, Config, LoadedConfig};
use crate::error::BadInput;
use crate::journal::{self, Contents, Event, Header, Journal, JournalKind};
use crate::manifest::{self, Manifest};
use crate::records;
use crate::report;
use crate::runner::{self, Outcome, Progress, RunContext};
use crate::setup;
use crate::tabular;

/// Name of the resolved config in an output directory.
pub const RESOLVED_CONFIG: &str = "config.resolved.toml";
/// Name of the manifest in an output directory.
pub const MANIFEST: &str = "manifest.json";
/// Name of the lock file in an output directory.
pub const LOCK: &str = ".lock";

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
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Parses `I/N` with I < N (0-based shard index).
pub fn parse_shard(s: &str) -> Result<(u32, u32), String> {
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
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 <= I < N (0-based)"));
    }
    Ok((i, n))
}

/// Options of `nas run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The config file.
    pub config: PathBuf,
    /// Output directory (default `out/<experiment name>`).
    pub out: Option<PathBuf>,
    /// Only these strategies (by name).
    pub strategies: Option<Vec<String>>,
    /// Only these repetition seeds.
    pub seeds: Option<Vec<u32>>,
    /// The shared flags.
    pub exec: ExecOptions,
}

/// What a finished `nas run` reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The output directory.
    pub out: PathBuf,
    /// The summary table, as printed (for a shard: what to do next).
    pub table: String,
    /// The report, when one was written (not for a shard).
    pub report: Option<PathBuf>,
}

/// Applies the command-line overrides to a loaded config.
fn apply_overrides(
    loaded: &mut LoadedConfig,
    exec: &ExecOptions,
    strategies: Option<&[String]>,
    seeds: Option<&[u32]>,
) -> Result<(), BadInput> {
    let config = &mut loaded.config;
    if let Some(w) = exec.workers {
        if w == 0 {
            return Err(BadInput::new("--workers must be at least 1"));
        }
        config.experiment.workers = w;
    }
    if let Some(t) = exec.threads {
        config.training.threads = u32::try_from(t).unwrap_or(u32::MAX);
        config
            .training
            .check()
            .map_err(|e| BadInput::new(format!("--threads: {e}")))?;
    }
    if let Some(names) = strategies {
        let all = config.strategy_names();
        if let Some(unknown) = names.iter().find(|n| !all.contains(n)) {
            return Err(BadInput::new(format!(
                "--strategies: `{unknown}` is not a strategy of {} (it has: {})",
                loaded.path.display(),
                all.join(", ")
            )));
        }
        config.strategies.retain(|s| names.contains(&s.name()));
    }
    if let Some(seeds) = seeds {
        if seeds.is_empty() {
            return Err(BadInput::new("--seeds needs at least one repetition seed"));
        }
        config.experiment.repetitions = None;
        config.experiment.seeds = Some(seeds.to_vec());
    }
    Ok(())
}

/// Creates (or checks) the output directory and takes its lock.
fn prepare_out_dir(out: &Path, resume: bool) -> Result<File, BadInput> {
    if out.exists() && !out.is_dir() {
        return Err(BadInput::at(
            out,
            "the output path exists and is not a directory",
        ));
    }
    fs::create_dir_all(out)
        .map_err(|e| BadInput::at(out, format!("cannot create the output directory: {e}")))?;
    let lock_path = out.join(LOCK);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| BadInput::at(out, format!("the output directory is not writable: {e}")))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(BadInput::at(
                out,
                "another nas process is writing to this directory; wait for it or choose another --out",
            ));
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(BadInput::at(
                out,
                format!("cannot lock the output directory: {e}"),
            ));
        }
    }
    let journal = out.join(journal::FILE_NAME);
    if journal.exists() && !resume {
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
fn open_journal(
    out: &Path,
    config: &Config,
    kind: JournalKind,
    units: &[runner::Unit],
    resume: bool,
    shard: Option<(u32, u32)>,
) -> Result<(Journal, Option<Contents>), BadInput> {
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

/// Progress display: a bar on a terminal, plain lines otherwise.
struct Display {
    bar: Option<ProgressBar>,
    plain: bool,
    total: usize,
    done: AtomicUsize,
    best: Mutex<BTreeMap<String, f64>>,
}

impl Display {
    fn new(total: usize, quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal() && !quiet;
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} trials, ETA {eta}  {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Display {
            bar,
            plain: !terminal && !quiet,
            total,
            done: AtomicUsize::new(0),
            best: Mutex::new(BTreeMap::new()),
        }
    }

    fn on(&self, event: Progress) {
        let (trial, best, replayed) = match event {
            Progress::Trial {
                trial,
                best,
                replayed,
                ..
            } => (trial, best, replayed),
            Progress::RunDone { unreported, .. } => {
                let done = self.done.fetch_add(unreported, Ordering::SeqCst) + unreported;
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                }
                return;
            }
        };
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let message = {
            let mut bests = self.best.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(b) = best {
                let e = bests.entry(trial.strategy.clone()).or_insert(b);
                *e = e.max(b);
            }
            bests
                .iter()
                .map(|(s, b)| format!("{s} {b:.4}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            bar.set_message(format!("best: {message}"));
        } else if self.plain && !replayed {
            let score = trial
                .fitness()
                .map_or_else(|| trial.status.to_string(), |f| format!("val_acc {f:.4}"));
            eprintln!(
                "[{done}/{}] {}/{} trial {}: {score}{} `{}`",
                self.total,
                trial.strategy,
                trial.repetition,
                trial.index,
                if trial.cached { " (cached)" } else { "" },
                trial.arch
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
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
        eprintln!(
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
    pub shard: Option<(u32, u32)>,
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
        .filter(|(u, _)| {
            x.shard
                .is_none_or(|(index, count)| runner::shard_of(u.index, count) == index)
        })
        .collect();
    let runs = work.len();
    let total: usize = work
        .iter()
        .map(|(u, _)| x.plan.evaluations(u) as usize)
        .sum();
    let display = Display::new(total, x.quiet);
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
fn execute_plan(
    command: &str,
    loaded: &LoadedConfig,
    out: &Path,
    kind: JournalKind,
    exec: &ExecOptions,
    scorer: &setup::Scorer,
    plan: &dyn Plan,
) -> Result<String> {
    let config = &loaded.config;
    let dir = match exec.shard {
        Some((index, _)) => out.join("shards").join(index.to_string()),
        None => out.to_path_buf(),
    };
    let _lock = prepare_out_dir(&dir, exec.resume)?;
    let (mut journal, previous) =
        open_journal(&dir, config, kind, &plan.units(), exec.resume, exec.shard)?;
    if scorer.table.is_some() {
        journal = journal.sync_at_run_end_only();
    }
    let manifest = Manifest {
        started: previous
            .as_ref()
            .and_then(|_| read_manifest(&dir).ok())
            .map_or_else(manifest::now_utc, |m| m.started),
        ..base_manifest(config, scorer)
    };
    crate::outputs::write_atomic(&dir.join(RESOLVED_CONFIG), config.to_toml().as_bytes())?;
    write_manifest(&dir, &manifest)?;
    let resume_cmd = format!(
        "nas {command} {} --out {}{} --resume",
        loaded.path.display(),
        out.display(),
        exec.shard
            .map_or_else(String::new, |(i, n)| format!(" --shard {i}/{n}"))
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
        Some((index, count)) => Ok(format!(
            "shard {index}/{count}: {units} unit(s) done in {}.\nWhen every shard is done: nas merge {}",
            dir.display(),
            out.display()
        )),
        None => write_outputs(out, config, &manifest),
    }
}

/// `nas run`.
pub fn run(opts: &RunOptions) -> Result<RunSummary> {
    let mut loaded = config::load(&opts.config)?;
    loaded
        .config
        .check_runnable()
        .map_err(|(field, message)| loaded.error(&field, message))?;
    apply_overrides(
        &mut loaded,
        &opts.exec,
        opts.strategies.as_deref(),
        opts.seeds.as_deref(),
    )?;
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| Path::new("out").join(&loaded.config.experiment.name));
    check_shard(opts.exec.shard)?;
    let scorer = setup::scorer(&loaded, opts.exec.data_dir.as_deref())?;
    let plan = runner::ExperimentPlan {
        config: &loaded.config,
        space: &scorer.space,
    };
    let table = execute_plan(
        "run",
        &loaded,
        &out,
        JournalKind::Run,
        &opts.exec,
        &scorer,
        &plan,
    )?;
    let report = opts.exec.shard.is_none().then(|| out.join(report::REPORT));
    Ok(RunSummary { out, table, report })
}

fn base_manifest(config: &Config, scorer: &setup::Scorer) -> Manifest {
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

fn read_manifest(out: &Path) -> Result<Manifest> {
    let path = out.join(MANIFEST);
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a nas manifest", path.display()))
}

fn write_manifest(out: &Path, manifest: &Manifest) -> Result<()> {
    let mut text = serde_json::to_string_pretty(manifest).expect("manifest serializes");
    text.push('\n');
    crate::outputs::write_atomic(&out.join(MANIFEST), text.as_bytes())
}

/// Every architecture a tabulation of `config` records.
fn tabulation_archs(config: &Config) -> Result<Vec<nas_core::Architecture>> {
    let space = config
        .space
        .check(config.data.dataset.shape())
        .map_err(|e| BadInput::new(format!("space: {e}")))?;
    Ok(
        tabular::architectures(&space, config.tabulate.max_architectures)
            .map_err(|e| BadInput::new(format!("tabulate.max_architectures: {e}")))?,
    )
}

/// The runs of a journal of `kind`.
fn plan_units(config: &Config, kind: JournalKind) -> Result<Vec<runner::Unit>> {
    Ok(match kind {
        JournalKind::Run => runner::units(config),
        JournalKind::Tabulate => tabular::TabulatePlan {
            config,
            archs: tabulation_archs(config)?,
        }
        .units(),
    })
}

/// Derives every output from the journal (tables, report and plots for a comparison; the
/// table files for a tabulation); returns the summary to print.
pub fn write_outputs(out: &Path, config: &Config, manifest: &Manifest) -> Result<String> {
    let contents = journal::read(&out.join(journal::FILE_NAME))?;
    let kind = contents.header.kind;
    let units = plan_units(config, kind)?;
    let runs = records::collect(&units, &contents.events);
    let partial = runs.iter().any(|r| !r.ended);
    let manifest = Manifest {
        finished: Some(manifest::now_utc()),
        partial,
        ..manifest.clone()
    };
    let summary = match kind {
        JournalKind::Run => report::write_all(out, config, &runs, &manifest)?,
        JournalKind::Tabulate => write_table_outputs(out, config, &runs, &manifest)?,
    };
    write_manifest(out, &manifest)?;
    Ok(summary)
}

/// Writes `table.csv` and `table.json` of a finished tabulation.
fn write_table_outputs(
    out: &Path,
    config: &Config,
    runs: &[records::RunRecord],
    manifest: &Manifest,
) -> Result<String> {
    let unfinished = runs.iter().filter(|r| !r.ended).count();
    if unfinished > 0 {
        anyhow::bail!(
            "the tabulation is incomplete ({unfinished} of {} chunks unfinished): resume it to write the table",
            runs.len()
        );
    }
    let archs = tabulation_archs(config)?;
    let rows = tabular::table_rows(runs, &archs, config.tabulate.seeds)?;
    let training = match toml::Value::try_from(&config.training) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    let table = tabular::write_table(
        out,
        &rows,
        tabular::TableManifest {
            format: tabular::TABLE_FORMAT.0.into(),
            version: tabular::TABLE_FORMAT.1,
            nas_version: manifest.nas_version.clone(),
            dataset: manifest.dataset.clone(),
            data_identity: manifest.data_identity.clone(),
            data_files: manifest.data_files.clone(),
            input: config.data.dataset.shape(),
            classes: config.data.dataset.classes(),
            space: config.space.clone(),
            budget: config.budget.clone(),
            training,
            validation_size: config.data.validation_size,
            experiment_seed: config.experiment.seed,
            seeds: config.tabulate.seeds,
            architectures: archs.len(),
            rows: 0,
            not_ok: 0,
            train_seconds_total: 0.0,
            table_sha256: String::new(),
        },
    )?;
    let evaluator = tabular::TabularEvaluator::open(out)?;
    let best = evaluator.summary(&out.to_string_lossy());
    let mut text = format!(
        "table: {}: {} architectures x {} seeds = {} rows ({} not ok), {:.0} s of recorded training",
        out.join(tabular::TABLE_CSV).display(),
        table.architectures,
        table.seeds,
        table.rows,
        table.not_ok,
        table.train_seconds_total
    );
    for (what, o) in [
        ("validation", &best.best_by_val),
        ("test", &best.best_by_test),
    ] {
        if let Some(o) = o {
            text.push_str(&format!(
                "\nbest by mean {what} accuracy: {} (val {:.4}, test {:.4})",
                o.arch, o.val_acc, o.test_acc
            ));
        }
    }
    Ok(text)
}

/// `nas report DIR`: regenerates every output from the journal and resolved config.
pub fn report(out: &Path) -> Result<String> {
    if !out.is_dir() {
        return Err(BadInput::at(out, "not an output directory of nas run").into());
    }
    let config_path = out.join(RESOLVED_CONFIG);
    let loaded = config::load(&config_path)?;
    let manifest = read_manifest(out).map_err(|e| BadInput::at(out, e.to_string()))?;
    let contents = journal::read(&out.join(journal::FILE_NAME))?;
    if contents.header.config_hash != loaded.config.journal_hash(contents.header.kind) {
        return Err(BadInput::at(
            &config_path,
            "does not match the journal (edited after the run?)",
        )
        .into());
    }
    write_outputs(out, &loaded.config, &manifest)
}

/// Reads every shard under `out/shards/`: (index, config, manifest, journal contents).
type Shard = (u32, LoadedConfig, Manifest, Contents);

fn read_shards(out: &Path) -> Result<Vec<Shard>, BadInput> {
    let dir = out.join("shards");
    let entries =
        fs::read_dir(&dir).map_err(|e| BadInput::at(&dir, format!("no shards to merge: {e}")))?;
    let mut shards = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| BadInput::at(&dir, format!("cannot list the shards: {e}")))?
            .path();
        let Some(index) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let config = config::load(&path.join(RESOLVED_CONFIG))?;
        let manifest = read_manifest(&path).map_err(|e| BadInput::at(&path, e.to_string()))?;
        let contents = journal::read(&path.join(journal::FILE_NAME))?;
        shards.push((index, config, manifest, contents));
    }
    if shards.is_empty() {
        return Err(BadInput::at(&dir, "holds no shard directories (0, 1, ...)"));
    }
    shards.sort_by_key(|s| s.0);
    Ok(shards)
}

/// `nas merge DIR`: combines the shard journals under `DIR/shards/` into `DIR`'s journal
/// and regenerates every output. Refuses shards of another config or nas version; names
/// missing runs and fails unless `allow_partial`, which writes the tables marked partial.
pub fn merge(out: &Path, allow_partial: bool) -> Result<RunSummary> {
    let shards = read_shards(out)?;
    let (_, first_config, first_manifest, first) = &shards[0];
    let config = first_config.config.clone();
    let kind = first.header.kind;
    let hash = config.journal_hash(kind);
    let version = env!("CARGO_PKG_VERSION");
    let count = first.header.shard.map_or(0, |s| s.1);
    let units = plan_units(&config, kind)?;
    let unit_of: BTreeMap<(String, u32), &runner::Unit> = units
        .iter()
        .map(|u| ((u.strategy.clone(), u.repetition), u))
        .collect();
    for (index, loaded, _, contents) in &shards {
        let path = out.join("shards").join(index.to_string());
        let header = &contents.header;
        if header.nas_version != version {
            return Err(BadInput::at(
                &path,
                format!("was written by nas {}, this is nas {version}: merge with the version that ran it", header.nas_version),
            )
            .into());
        }
        if header.kind != kind
            || header.config_hash != hash
            || loaded.config.journal_hash(kind) != hash
        {
            return Err(BadInput::at(
                &path,
                format!(
                    "belongs to another experiment (config hash {} instead of {})",
                    &header.config_hash[..16.min(header.config_hash.len())],
                    &hash[..16]
                ),
            )
            .into());
        }
        match header.shard {
            Some((i, n)) if i == *index && n == count => {}
            other => {
                return Err(BadInput::at(
                    &path,
                    format!(
                        "holds {}, expected shard {index}/{count}",
                        other.map_or("an unsharded journal".into(), |(i, n)| format!(
                            "shard {i}/{n}"
                        ))
                    ),
                )
                .into());
            }
        }
        for event in &contents.events {
            let (strategy, repetition) = records::event_run(event);
            match unit_of.get(&(strategy.clone(), repetition)) {
                Some(u) if runner::shard_of(u.index, count) == *index => {}
                Some(u) => {
                    return Err(BadInput::at(
                        &path,
                        format!(
                            "holds run {} of shard {}",
                            u.label(),
                            runner::shard_of(u.index, count)
                        ),
                    )
                    .into());
                }
                None => {
                    return Err(BadInput::at(
                        &path,
                        format!(
                            "holds run {strategy}/{repetition}, which the config does not have"
                        ),
                    )
                    .into());
                }
            }
        }
    }
    // Every event, grouped by run in canonical order (each run's events keep their order).
    let mut by_unit: Vec<Vec<&Event>> = vec![Vec::new(); units.len()];
    for (_, _, _, contents) in &shards {
        for event in &contents.events {
            let u = unit_of[&records::event_run(event)];
            by_unit[u.index].push(event);
        }
    }
    let merged: Vec<Event> = by_unit.into_iter().flatten().cloned().collect();
    let runs = records::collect(&units, &merged);
    let missing: Vec<String> = runs
        .iter()
        .filter(|r| !r.ended)
        .map(|r| {
            format!(
                "{} (shard {})",
                r.unit.label(),
                runner::shard_of(r.unit.index, count)
            )
        })
        .collect();
    if !missing.is_empty() && !allow_partial {
        anyhow::bail!(
            "{} of {} runs are missing or unfinished: {}; finish their shards (re-submit them: they resume) or pass --allow-partial",
            missing.len(),
            runs.len(),
            missing.join(", ")
        );
    }
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let header = Header {
        kind,
        schema: journal::SCHEMA,
        nas_version: version.to_string(),
        config_hash: hash,
        shard: None,
    };
    let mut text = serde_json::to_string(&header).expect("header serializes");
    text.push('\n');
    for event in &merged {
        text.push_str(&journal::line(event));
    }
    crate::outputs::write_atomic(&out.join(journal::FILE_NAME), text.as_bytes())?;
    crate::outputs::write_atomic(&out.join(RESOLVED_CONFIG), config.to_toml().as_bytes())?;
    let started = shards
        .iter()
        .map(|s| s.2.started.clone())
        .min()
        .unwrap_or_else(|| first_manifest.started.clone());
    let manifest = Manifest {
        started,
        ..first_manifest.clone()
    };
    let table = write_outputs(out, &config, &manifest)?;
    Ok(RunSummary {
        out: out.to_path_buf(),
        table,
        report: (kind == JournalKind::Run).then(|| out.join(report::REPORT)),
    })
}

/// Options of `nas tabulate`.
#[derive(Debug, Clone, Default)]
pub struct TabulateOptions {
    /// The config (its space, data, budget, training and `[tabulate]`).
    pub config: PathBuf,
    /// The table directory.
    pub out: PathBuf,
    /// Overrides `tabulate.max_architectures`.
    pub max_architectures: Option<u64>,
    /// The shared flags.
    pub exec: ExecOptions,
}

/// `nas tabulate`: trains every architecture of the space with K seeds and writes the
/// table, with the journal, resume and shard machinery of `nas run`.
pub fn tabulate(opts: &TabulateOptions) -> Result<RunSummary> {
    let mut loaded = config::load(&opts.config)?;
    apply_overrides(&mut loaded, &opts.exec, None, None)?;
    if let Some(max) = opts.max_architectures {
        loaded.config.tabulate.max_architectures = max;
    }
    if loaded.config.evaluator.kind != config::EvaluatorKind::Train {
        return Err(loaded
            .error(
                "evaluator.kind",
                "nas tabulate trains every architecture: use kind = \"train\"",
            )
            .into());
    }
    check_shard(opts.exec.shard)?;
    let scorer = setup::scorer(&loaded, opts.exec.data_dir.as_deref())?;
    let archs = tabular::architectures(&scorer.space, loaded.config.tabulate.max_architectures)
        .map_err(|e| loaded.error("tabulate.max_architectures", e))?;
    let plan = tabular::TabulatePlan {
        config: &loaded.config,
        archs,
    };
    let table = execute_plan(
        "tabulate",
        &loaded,
        &opts.out,
        JournalKind::Tabulate,
        &opts.exec,
        &scorer,
        &plan,
    )?;
    Ok(RunSummary {
        out: opts.out.clone(),
        table,
        report: None,
    })
}

fn check_shard(shard: Option<(u32, u32)>) -> Result<(), BadInput> {
    match shard {
        Some((index, count)) if count == 0 || index >= count => Err(BadInput::new(format!(
            "--shard {index}/{count}: the shard index must be below the shard count (0-based: 0/{count} .. {}/{count})",
            count.saturating_sub(1)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::{Architecture, Status};

    fn trial(index: u32) -> Box<Trial> {
        Box::new(Trial {
            strategy: "random".into(),
            repetition: 0,
            index,
            seed: 1,
            arch: Architecture::new(Vec::new()),
            status: Status::Failed,
            reason: Some("test".into()),
            metrics: None,
            cached: false,
        })
    }

    #[test]
    fn progress_counts_the_runs_that_ended_before_a_resume() {
        // Two runs of 5: the first ended before the resume (no trials reported), the
        // second replays 2 trials, evaluates 2, and its budget runs out one early.
        let display = Display::new(10, true);
        display.on(Progress::RunDone {
            unit: 0,
            unreported: 5,
        });
        for (index, replayed) in [(0, true), (1, true), (2, false), (3, false)] {
            display.on(Progress::Trial {
                unit: 1,
                trial: trial(index),
                best: None,
                replayed,
            });
        }
        assert_eq!(display.done.load(Ordering::SeqCst), 9);
        display.on(Progress::RunDone {
            unit: 1,
            unreported: 1,
        });
        assert_eq!(display.done.load(Ordering::SeqCst), 10);
    }
}
