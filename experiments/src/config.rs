//! The experiment config: one TOML file with the data, search space, training budget,
//! strategies and repetitions. Parsing is strict (`deny_unknown_fields`); every range
//! check names the file, line and column, the field and what is allowed. A value given
//! by a command-line flag goes through the same checks ([`LoadedConfig::recheck`]).
//!
//! ```toml
//! [experiment]
//! name = "quickstart"
//! seed = 42
//! repetitions = 3        # or: seeds = [0, 1, 2]
//! evaluations = 20       # per run
//! workers = 2
//!
//! [data]
//! dataset = "mnist"      # mnist | fashion-mnist | cifar10; no `dir`: the shipped mini MNIST
//! validation_size = 2000
//!
//! [space]
//! max_layers = 3
//! # ... see nas_core::space
//!
//! [budget]               # per trial
//! epochs = 1
//! train_subset = 4000
//!
//! [training]             # how a trial trains (nas_eval::TrainParams)
//! batch_size = 128
//! # max_memory = "4GiB"  # default: 3/4 of what the machine has free (nas_eval::memory)
//!
//! [[strategy]]
//! kind = "random"
//! [[strategy]]
//! kind = "evolution"
//! params = { population = 10, sample_size = 3 }
//! ```

use std::path::{Path, PathBuf};

use nas_core::{Budget, SearchSpaceParams};
use nas_eval::TrainParams;
use nas_eval::data::DatasetKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::BadInput;
use crate::registry::{StrategyKind, StrategySpec, kind_names};

fn default_name() -> String {
    "experiment".into()
}

/// One run per core: on small networks two trials of one thread each complete more
/// trials per hour than one trial on two threads (measured: +5% on 2 cores, see
/// nas-bench's `trial_modes` example), and neither changes any result.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn yes() -> bool {
    true
}

fn is_keep(o: &nas_core::OverBudget) -> bool {
    *o == nas_core::OverBudget::Keep
}

fn default_validation_size() -> usize {
    5000
}

/// Most repetitions, evaluations and workers a config may ask for: far beyond any real
/// use, low enough that a typo cannot allocate the machine away.
const MAX_REPETITIONS: u32 = 100_000;
const MAX_EVALUATIONS: u32 = 1_000_000;
const MAX_WORKERS: usize = 256;

/// Most simulated workers per run.
const MAX_SIMULATED_WORKERS: u32 = 4096;
const MAX_EPOCHS: u32 = 10_000;
/// Most architectures `nas tabulate` may enumerate: each is held in memory and trained
/// `tabulate.seeds` times, so a larger value is a typo, not a plan (NAS-Bench-101, the
/// largest published table, has 423,624).
pub const MAX_TABULATED: u64 = 1_000_000;
/// Longest experiment name (a title: it heads the report and the LaTeX caption).
const MAX_NAME: usize = 200;

/// A whole experiment, as written (with defaults filled in once parsed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seeds, repetitions, per-run budget, workers.
    pub experiment: ExperimentSection,
    /// Which data, and the validation split.
    #[serde(default)]
    pub data: DataSection,
    /// The search space (nas-core's params).
    #[serde(default)]
    pub space: SearchSpaceParams,
    /// Per-trial training budget.
    #[serde(default)]
    pub budget: Budget,
    /// Which evaluator scores a trial.
    #[serde(default)]
    pub evaluator: EvaluatorSection,
    /// How a trial trains (batch, optimizer, learning rate, threads).
    #[serde(default)]
    pub training: TrainParams,
    /// How `nas tabulate` records the space.
    #[serde(default)]
    pub tabulate: TabulateSection,
    /// The strategies to compare, in report order.
    #[serde(rename = "strategy", default)]
    pub strategies: Vec<StrategySection>,
}

/// `[experiment]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    /// Title used in reports.
    #[serde(default = "default_name")]
    pub name: String,
    /// The experiment seed every random choice derives from.
    pub seed: u64,
    /// Number of repetitions (seeds 0..n). Exclusive with `seeds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetitions: Option<u32>,
    /// Explicit repetition seeds (e.g. to rerun repetitions 3 and 7). Exclusive with
    /// `repetitions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<Vec<u32>>,
    /// Evaluations per run (every proposal counts, failed and diverged ones too).
    pub evaluations: u32,
    /// Optional cap on the training epochs a run may spend (cached trials cost nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_epochs: Option<f64>,
    /// Optional cap on the recorded training seconds a run may spend: a simulated clock,
    /// only with the tabular evaluator (measured seconds would make results depend on the
    /// machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_seconds: Option<f64>,
    /// Whether the trial that takes a run past `max_train_epochs` or `max_train_seconds`
    /// counts (`keep`, the default: the run may overrun by one trial) or is discarded and
    /// ends the run within its budget (`discard`, NAS-Bench-201's protocol).
    #[serde(default, skip_serializing_if = "is_keep")]
    pub over_budget: nas_core::OverBudget,
    /// Simulated asynchronous workers per run (only with the tabular evaluator): each run
    /// is a discrete-event simulation in which this many workers take trials for their
    /// recorded training seconds, the strategy is asked whenever one is free and told when
    /// a trial ends on the simulated clock, and `max_train_seconds` is simulated
    /// wall-clock time (see `nas_core::run`). The results depend on it (that is the
    /// experiment) and on nothing else. None: one worker, trials one after another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated_workers: Option<u32>,
    /// Runs executed in parallel (default: one per core). Never changes results.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Evaluate each run's best architecture on the test set at the end.
    #[serde(default = "yes")]
    pub final_test: bool,
}

impl ExperimentSection {
    /// The budget of each run: its evaluations, epochs, seconds and over-budget rule.
    pub fn limits(&self) -> nas_core::Limits {
        nas_core::Limits {
            evaluations: self.evaluations,
            max_train_epochs: self.max_train_epochs,
            max_train_seconds: self.max_train_seconds,
            over_budget: self.over_budget,
        }
    }
}

/// `[data]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Which data set.
    #[serde(default = "default_dataset")]
    pub dataset: DatasetKind,
    /// Where its files are; absent means the mini MNIST shipped in the binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Images held out of the training set to score trials (the fitness).
    #[serde(default = "default_validation_size")]
    pub validation_size: usize,
}

fn default_dataset() -> DatasetKind {
    DatasetKind::Mnist
}

impl Default for DataSection {
    fn default() -> Self {
        DataSection {
            dataset: default_dataset(),
            dir: None,
            validation_size: default_validation_size(),
        }
    }
}

/// Which evaluator scores trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvaluatorKind {
    /// Train every trial on the data (nas-eval).
    #[default]
    Train,
    /// Look every trial up in a table made by `nas tabulate` or `nas import-table`.
    Tabular,
    /// Ask an external process (`command`), speaking nas's protocol.
    External,
}

/// `[evaluator]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluatorSection {
    /// The evaluator.
    #[serde(default)]
    pub kind: EvaluatorKind,
    /// The table directory (for `kind = "tabular"`), relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<PathBuf>,
    /// Which recorded value is a trial's fitness (imported tables; default: the table's):
    /// `{ fidelity = 12, metric = "val_acc", noise = "mean" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<crate::tabular::Pick>,
    /// Which recorded value is a run's final test accuracy (imported tables; default: the
    /// table's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<crate::tabular::Pick>,
    /// The program and arguments of an external evaluator (`kind = "external"`), run in
    /// the config file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Params passed to an external evaluator at `init`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<toml::Table>,
    /// Longest wait, in seconds, for one evaluation of an external evaluator (default
    /// 3600); a trial that takes longer fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

fn default_tabulate_seeds() -> u32 {
    2
}

fn default_max_architectures() -> u64 {
    5000
}

fn default_chunk() -> u32 {
    25
}

/// `[tabulate]`: how `nas tabulate` records the whole space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabulateSection {
    /// Training seeds per architecture (K).
    #[serde(default = "default_tabulate_seeds")]
    pub seeds: u32,
    /// Refuse spaces larger than this (raise it knowingly: every architecture is trained
    /// K times).
    #[serde(default = "default_max_architectures")]
    pub max_architectures: u64,
    /// Architectures per unit of work (the grain of workers, shards and resume).
    #[serde(default = "default_chunk")]
    pub chunk: u32,
}

impl Default for TabulateSection {
    fn default() -> Self {
        TabulateSection {
            seeds: default_tabulate_seeds(),
            max_architectures: default_max_architectures(),
            chunk: default_chunk(),
        }
    }
}

/// One `[[strategy]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySection {
    /// The algorithm.
    pub kind: StrategyKind,
    /// Unique name in tables (default: the kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The algorithm's params as written; once the config is checked, with every default
    /// written out (the spec's params).
    #[serde(default)]
    pub params: toml::Table,
    /// The program and arguments of an external strategy (`kind = "external"`), run in
    /// the config file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Longest wait, in seconds, for any answer of an external strategy (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// The params parsed and checked once, when the config is loaded.
    #[serde(skip)]
    pub spec: Option<StrategySpec>,
}

impl StrategySection {
    /// The name used in tables and seeds.
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.kind.name().to_string())
    }

    /// The checked params (present in every config that [`load`] or [`parse`] returned).
    pub fn spec(&self) -> Result<&StrategySpec, BadInput> {
        self.spec.as_ref().ok_or_else(|| {
            BadInput::new(format!(
                "strategy `{}` was not checked (load the config with config::load)",
                self.name()
            ))
        })
    }
}

impl Config {
    /// Checks what `nas run` needs beyond a valid config: at least one strategy.
    pub fn check_runnable(&self) -> Result<(), (String, String)> {
        if self.strategies.is_empty() {
            return Err((
                "strategy".into(),
                format!(
                    "no strategies: add at least one [[strategy]] with a kind (one of {})",
                    kind_names()
                ),
            ));
        }
        Ok(())
    }

    /// The repetition seeds, in order.
    pub fn repetition_seeds(&self) -> Vec<u32> {
        match (&self.experiment.seeds, self.experiment.repetitions) {
            (Some(seeds), _) => seeds.clone(),
            (None, Some(n)) => (0..n).collect(),
            (None, None) => vec![0],
        }
    }

    /// The strategies' names, in order.
    pub fn strategy_names(&self) -> Vec<String> {
        self.strategies.iter().map(StrategySection::name).collect()
    }

    /// The resolved config as TOML: every default written out, strategy params included.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config always serializes")
    }

    /// The hash a journal of `kind` is tied to: [`Config::result_hash`], without the
    /// strategies for a tabulation (which does not use them).
    pub fn journal_hash(&self, kind: crate::journal::JournalKind) -> String {
        match kind {
            crate::journal::JournalKind::Run => self.result_hash(),
            crate::journal::JournalKind::Tabulate => Config {
                strategies: Vec::new(),
                ..self.clone()
            }
            .result_hash(),
        }
    }

    /// SHA-256 of the resolved config without the settings that cannot change results
    /// (`experiment.workers`, `training.threads`): two runs with the same hash produce
    /// the same tables.
    pub fn result_hash(&self) -> String {
        let mut neutral = self.clone();
        neutral.experiment.workers = 1;
        neutral.training.threads = 1;
        hex(&Sha256::digest(neutral.to_toml().as_bytes()))
    }
}

/// A setting a run does not use, and why (see [`Config::unused`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    /// Dotted path of the field or section (`training`, `data.validation_size`).
    pub field: &'static str,
    /// Why it is not used.
    pub why: &'static str,
}

impl Config {
    /// The settings `nas run` does not use with this config: a tabular run trains
    /// nothing, so its `[training]`, data set and validation split are the table's
    /// business; a run on an imported table (`imported`) also ignores `[budget]`, its
    /// trials reading the recorded values `evaluator.signal` picks; an external evaluator
    /// trains its own way (`[training]`, the validation split and the data folder are not
    /// sent to it).
    pub fn unused(&self, imported: bool) -> Vec<Unused> {
        match self.evaluator.kind {
            EvaluatorKind::Train => return Vec::new(),
            EvaluatorKind::External => {
                const ASKED: &str = "an external evaluator trains trials its own way: it is sent the architecture, the budget and evaluator.params";
                let mut out = vec![
                    Unused {
                        field: "data.validation_size",
                        why: ASKED,
                    },
                    Unused {
                        field: "training",
                        why: ASKED,
                    },
                ];
                if self.data.dir.is_some() {
                    out.insert(
                        0,
                        Unused {
                            field: "data.dir",
                            why: ASKED,
                        },
                    );
                }
                return out;
            }
            EvaluatorKind::Tabular => {}
        }
        const LOOKED_UP: &str = "a tabular run looks every trial up in its table";
        let mut out = vec![
            Unused {
                field: "data.dataset",
                why: LOOKED_UP,
            },
            Unused {
                field: "data.validation_size",
                why: LOOKED_UP,
            },
            Unused {
                field: "training",
                why: LOOKED_UP,
            },
        ];
        if self.data.dir.is_some() {
            out.insert(
                0,
                Unused {
                    field: "data.dir",
                    why: LOOKED_UP,
                },
            );
        }
        if imported {
            out.push(Unused {
                field: "budget",
                why: "an imported table answers with the recorded values evaluator.signal picks",
            });
        }
        out
    }

    /// [`Config::to_toml`] with every setting in `unused` marked by a comment where it is
    /// written (a section on its header line, a field on its own line). The comments do not
    /// change what the file reads back as.
    pub fn to_toml_annotated(&self, unused: &[Unused]) -> String {
        let mut section = String::new();
        let mut out = String::new();
        for line in self.to_toml().lines() {
            let trimmed = line.trim();
            let field =
                if let Some(header) = trimmed.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                    section = header.trim_matches(['[', ']']).to_string();
                    section.clone()
                } else if let Some((key, _)) = trimmed.split_once('=') {
                    format!("{section}.{}", key.trim())
                } else {
                    String::new()
                };
            out.push_str(line);
            if let Some(u) = unused.iter().find(|u| u.field == field) {
                out.push_str(&format!("  # not used: {}", u.why));
            }
            out.push('\n');
        }
        out
    }
}

/// The folder `nas run` writes into without `--out` (under `out/`): the experiment name
/// with every run of characters other than letters, digits, `-`, `_` and `.` replaced by
/// one `-`, and no leading `.` or `-`, so that no name can point outside `out/` or into a
/// sub-folder. None when nothing is left (pass `--out`).
pub fn folder_name(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out
        .trim_start_matches(['.', '-'])
        .trim_end_matches('-')
        .to_string();
    (!out.is_empty()).then_some(out)
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A parsed config with its source, for locating fields in error messages.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The config, defaults filled in and strategy params resolved.
    pub config: Config,
    /// Where it was read from.
    pub path: PathBuf,
    source: String,
}

/// Reads, parses and checks a config file.
pub fn load(path: &Path) -> Result<LoadedConfig, BadInput> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| BadInput::at(path, format!("cannot read the config: {e}")))?;
    parse(&source, path)
}

/// Parses and checks config text (`path` is only used in messages).
pub fn parse(source: &str, path: &Path) -> Result<LoadedConfig, BadInput> {
    let mut config: Config = toml::from_str(source).map_err(|e| toml_error(path, source, &e))?;
    let loaded = LoadedConfig {
        config: config.clone(),
        path: path.to_path_buf(),
        source: source.to_string(),
    };
    check(&mut config).map_err(|(field, message)| loaded.error(&field, message))?;
    Ok(LoadedConfig { config, ..loaded })
}

impl LoadedConfig {
    /// Checks the config again after command-line flags changed it, so that a value a
    /// flag gives goes through the same checks as one the file gives. `flags` maps each
    /// field a flag set (`experiment.seeds`) to the flag (`--seeds`), which an error
    /// about that field then names.
    pub fn recheck(&mut self, flags: &[(&str, &str)]) -> Result<(), BadInput> {
        check(&mut self.config).map_err(|(field, message)| {
            let by_flag = flags
                .iter()
                .find(|(f, _)| field == *f || field.starts_with(&format!("{f}.")));
            match by_flag {
                Some((_, flag)) => BadInput::new(format!("{flag}: {message}")),
                None => self.error(&field, message),
            }
        })
    }

    /// True when the file itself writes `field` (a dotted path; a default is not
    /// written).
    pub fn written(&self, field: &str) -> bool {
        use toml::de::{DeTable, DeValue};
        let Ok(root) = DeTable::parse(&self.source) else {
            return false;
        };
        let mut table = root.get_ref();
        let parts: Vec<&str> = field.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let Some(value) = table.get(*part) else {
                return false;
            };
            if i + 1 == parts.len() {
                return true;
            }
            match value.get_ref() {
                DeValue::Table(t) => table = t,
                _ => return false,
            }
        }
        false
    }

    /// An error about `field` (a dotted path like `strategy[1].params.population`),
    /// located in the source where possible.
    pub fn error(&self, field: &str, message: impl Into<String>) -> BadInput {
        BadInput {
            path: Some(self.path.clone()),
            position: locate(&self.source, field),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

type FieldError = (String, String);

fn invalid(field: &str, value: impl std::fmt::Display, allowed: &str) -> FieldError {
    (
        field.to_string(),
        format!("invalid value {value} (allowed: {allowed})"),
    )
}

/// Turns a nas-core param error into a field error under `prefix`.
pub fn core_error(prefix: &str, err: nas_core::Error) -> FieldError {
    match err {
        nas_core::Error::InvalidParam {
            field,
            value,
            allowed,
        } => {
            let path = if prefix.is_empty() {
                field
            } else {
                format!("{prefix}.{field}")
            };
            (path, format!("invalid value {value} (allowed: {allowed})"))
        }
        other => (prefix.to_string(), other.to_string()),
    }
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Range checks of every field; resolves strategy params to their full form.
fn check(config: &mut Config) -> Result<(), FieldError> {
    let e = &config.experiment;
    if e.name.trim().is_empty() {
        return Err(invalid("experiment.name", "\"\"", "a non-empty title"));
    }
    if e.name.chars().count() > MAX_NAME || e.name.chars().any(char::is_control) {
        return Err(invalid(
            "experiment.name",
            format!("{:?}", e.name),
            &format!(
                "a title on one line of at most {MAX_NAME} characters, without control characters (any other character is escaped where the name is written)"
            ),
        ));
    }
    match (e.repetitions, &e.seeds) {
        (Some(_), Some(_)) => {
            return Err((
                "experiment.seeds".into(),
                "give either `repetitions` or `seeds`, not both".into(),
            ));
        }
        (None, None) => {
            return Err((
                "experiment.repetitions".into(),
                "missing: give `repetitions = N` or `seeds = [...]`".into(),
            ));
        }
        (Some(n), None) if n == 0 || n > MAX_REPETITIONS => {
            return Err(invalid(
                "experiment.repetitions",
                n,
                &format!("an integer from 1 to {MAX_REPETITIONS}"),
            ));
        }
        (None, Some(seeds)) => {
            if seeds.is_empty() {
                return Err(invalid("experiment.seeds", "[]", "a non-empty list"));
            }
            if let Some((i, s)) = seeds
                .iter()
                .enumerate()
                .find(|(i, s)| seeds[..*i].contains(s))
            {
                return Err(invalid(
                    "experiment.seeds",
                    format!("{s} (again at position {})", i + 1),
                    "distinct seeds",
                ));
            }
        }
        _ => {}
    }
    if e.evaluations == 0 || e.evaluations > MAX_EVALUATIONS {
        return Err(invalid(
            "experiment.evaluations",
            e.evaluations,
            &format!("an integer from 1 to {MAX_EVALUATIONS}"),
        ));
    }
    if let Some(m) = e.max_train_epochs
        && !(m.is_finite() && m > 0.0)
    {
        return Err(invalid(
            "experiment.max_train_epochs",
            m,
            "a positive number of epochs",
        ));
    }
    if let Some(m) = e.max_train_seconds {
        if !(m.is_finite() && m > 0.0) {
            return Err(invalid(
                "experiment.max_train_seconds",
                m,
                "a positive number of seconds",
            ));
        }
        if config.evaluator.kind == EvaluatorKind::Train {
            return Err((
                "experiment.max_train_seconds".into(),
                "a budget in training seconds needs the tabular evaluator (evaluator.kind = \"tabular\"), whose recorded seconds are the same on every machine; with real training use max_train_epochs".into(),
            ));
        }
    }
    if e.over_budget == nas_core::OverBudget::Discard
        && e.max_train_epochs.is_none()
        && e.max_train_seconds.is_none()
    {
        return Err((
            "experiment.over_budget".into(),
            "\"discard\" applies to the trial that would exceed max_train_epochs or max_train_seconds; set one of them".into(),
        ));
    }
    if let Some(w) = e.simulated_workers {
        if w == 0 || w > MAX_SIMULATED_WORKERS {
            return Err(invalid(
                "experiment.simulated_workers",
                w,
                &format!("an integer from 1 to {MAX_SIMULATED_WORKERS}"),
            ));
        }
        if config.evaluator.kind == EvaluatorKind::Train {
            return Err((
                "experiment.simulated_workers".into(),
                "simulated workers need the tabular evaluator (evaluator.kind = \"tabular\"), whose recorded training seconds drive the simulated clock; real training runs its trials one after another (experiment.workers runs several runs at once)".into(),
            ));
        }
    }
    if e.workers == 0 || e.workers > MAX_WORKERS {
        return Err(invalid(
            "experiment.workers",
            e.workers,
            &format!("an integer from 1 to {MAX_WORKERS}"),
        ));
    }
    if config.data.validation_size == 0 {
        return Err(invalid(
            "data.validation_size",
            0,
            "at least 1 (and fewer than the training images)",
        ));
    }
    config.space.validate().map_err(|e| core_error("", e))?;
    let b = &config.budget;
    if b.epochs == 0 || b.epochs > MAX_EPOCHS {
        return Err(invalid(
            "budget.epochs",
            b.epochs,
            &format!("an integer from 1 to {MAX_EPOCHS}"),
        ));
    }
    if b.train_subset == Some(0) {
        return Err(invalid(
            "budget.train_subset",
            0,
            "at least 1 (or leave it out for the whole training split)",
        ));
    }
    config
        .training
        .check()
        .map_err(|e| core_error("training", e))?;
    if config.training.subset_seed != 0 {
        return Err((
            "training.subset_seed".into(),
            "is derived from experiment.seed by nas (every trial of an experiment trains on the same subset); remove it".into(),
        ));
    }
    match (config.evaluator.kind, &config.evaluator.table) {
        (EvaluatorKind::Tabular, None) => {
            return Err((
                "evaluator.table".into(),
                "missing: the tabular evaluator needs `table = \"<directory made by nas tabulate>\"`".into(),
            ));
        }
        (EvaluatorKind::Train | EvaluatorKind::External, Some(_)) => {
            return Err((
                "evaluator.table".into(),
                "only used with kind = \"tabular\"".into(),
            ));
        }
        _ => {}
    }
    check_external(
        "evaluator",
        config.evaluator.kind == EvaluatorKind::External,
        config.evaluator.command.as_deref(),
        config.evaluator.timeout,
    )?;
    if config.evaluator.params.is_some() && config.evaluator.kind != EvaluatorKind::External {
        return Err((
            "evaluator.params".into(),
            "only used with kind = \"external\" (params of the external process)".into(),
        ));
    }
    for (name, pick) in [
        ("evaluator.signal", &config.evaluator.signal),
        ("evaluator.report", &config.evaluator.report),
    ] {
        if pick.is_some() && config.evaluator.kind != EvaluatorKind::Tabular {
            return Err((
                name.into(),
                "only used with kind = \"tabular\" (a recorded value of the table)".into(),
            ));
        }
        if let Some(p) = pick
            && p.fidelity == 0
        {
            return Err(invalid(
                &format!("{name}.fidelity"),
                0,
                "a recorded fidelity, at least 1",
            ));
        }
    }
    let t = &config.tabulate;
    if t.seeds == 0 || t.seeds > 1000 {
        return Err(invalid(
            "tabulate.seeds",
            t.seeds,
            "an integer from 1 to 1000",
        ));
    }
    if t.max_architectures == 0 || t.max_architectures > MAX_TABULATED {
        return Err(invalid(
            "tabulate.max_architectures",
            t.max_architectures,
            &format!("an integer from 1 to {MAX_TABULATED}"),
        ));
    }
    if t.chunk == 0 || t.chunk > 100_000 {
        return Err(invalid(
            "tabulate.chunk",
            t.chunk,
            "an integer from 1 to 100000",
        ));
    }
    let names = config.strategy_names();
    for (i, name) in names.iter().enumerate() {
        let field = format!("strategy[{i}].name");
        if !is_valid_name(name) {
            return Err(invalid(
                &field,
                format!("{name:?}"),
                "1-64 letters, digits, '-' or '_'",
            ));
        }
        if names[..i].contains(name) {
            return Err(invalid(
                &field,
                format!("{name:?}"),
                "a name no other strategy has (set `name` to tell two of a kind apart)",
            ));
        }
    }
    for (i, s) in config.strategies.iter().enumerate() {
        check_external(
            &format!("strategy[{i}]"),
            s.kind.name() == "external",
            s.command.as_deref(),
            s.timeout,
        )?;
    }
    for (i, s) in config.strategies.iter_mut().enumerate() {
        let prefix = format!("strategy[{i}].params");
        let spec = s.kind.parse_params(&s.params).map_err(|err| match err {
            crate::registry::ParamsError::Core(e) => core_error(&prefix, e),
            crate::registry::ParamsError::Parse(msg) => (prefix.clone(), msg),
            crate::registry::ParamsError::Field(key, msg) => (format!("{prefix}.{key}"), msg),
        })?;
        s.params = spec.params().clone();
        s.spec = Some(spec);
    }
    Ok(())
}

/// Checks `command` and `timeout` of a section: required (command) and allowed only for
/// an external process.
fn check_external(
    section: &str,
    external: bool,
    command: Option<&[String]>,
    timeout: Option<f64>,
) -> Result<(), FieldError> {
    match (external, command) {
        (true, None) => {
            return Err((
                format!("{section}.command"),
                "missing: an external process needs `command = [\"program\", \"argument\", ...]` (run in the config's folder)".into(),
            ));
        }
        (true, Some(c)) if c.is_empty() || c[0].trim().is_empty() => {
            return Err(invalid(
                &format!("{section}.command"),
                "[]",
                "a program and its arguments, e.g. [\"python3\", \"my_strategy.py\"]",
            ));
        }
        (false, Some(_)) => {
            return Err((
                format!("{section}.command"),
                "only used with kind = \"external\"".into(),
            ));
        }
        _ => {}
    }
    if let Some(t) = timeout {
        if !external {
            return Err((
                format!("{section}.timeout"),
                "only used with kind = \"external\"".into(),
            ));
        }
        if !(t.is_finite() && t > 0.0 && t <= 604_800.0) {
            return Err(invalid(
                &format!("{section}.timeout"),
                t,
                "seconds, more than 0 and at most 604800 (a week)",
            ));
        }
    }
    Ok(())
}

/// 1-based line and column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, col)
}

/// A TOML file's parse or type error as [`BadInput`]: the file, the line and column, the
/// field there ([`field_at`]) and toml's message.
pub fn toml_error(path: &Path, source: &str, e: &toml::de::Error) -> BadInput {
    BadInput {
        path: Some(path.to_path_buf()),
        position: e.span().map(|s| line_col(source, s.start)),
        field: e.span().and_then(|s| field_at(source, s.start)),
        message: e.message().trim().to_string(),
    }
}

/// The dotted path (`training.lr_schedule`, `strategy[1].kind`) of the innermost value
/// written at byte `offset` of TOML source: the field a parse error points at. None when
/// the offset is in no value (or the source does not parse as TOML).
pub fn field_at(source: &str, offset: usize) -> Option<String> {
    use toml::de::{DeTable, DeValue};
    type Value<'a> = toml::Spanned<DeValue<'a>>;
    fn table(t: &DeTable<'_>, offset: usize, prefix: &str, best: &mut Option<(usize, String)>) {
        for (key, value) in t.iter() {
            let name = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            visit(value, offset, name, best);
        }
    }
    fn visit(v: &Value<'_>, offset: usize, name: String, best: &mut Option<(usize, String)>) {
        let span = v.span();
        if span.contains(&offset) && best.as_ref().is_none_or(|(len, _)| span.len() <= *len) {
            *best = Some((span.len(), name.clone()));
        }
        match v.get_ref() {
            DeValue::Table(t) => table(t, offset, &name, best),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    visit(item, offset, format!("{name}[{i}]"), best);
                }
            }
            _ => {}
        }
    }
    let root = DeTable::parse(source).ok()?;
    let mut best = None;
    table(root.get_ref(), offset, "", &mut best);
    best.map(|(_, name)| name)
}

/// Line and column of a dotted field path (`a.b[2].c`) in TOML source: of the deepest part
/// of the path that is written in the file (a default is not written anywhere).
pub fn locate(source: &str, path: &str) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(source).ok()?;
    let mut table = root.get_ref();
    let mut found = None;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let Some(value) = table.get(key) else { break };
        let mut value = value;
        if let Some(i) = index {
            let DeValue::Array(items) = value.get_ref() else {
                break;
            };
            let Some(item) = items.get(i) else { break };
            value = item;
        }
        found = Some(value.span().start);
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found.map(|offset| line_col(source, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field_at_an_offset() {
        let src = "[experiment]\nseed = 1\n\n[training]\nlr_schedule = \"cos\"\n[[strategy]]\nkind = \"random\"\n[[strategy]]\nkind = \"genetic\"\nparams = { population = \"x\" }\n";
        let at = |needle: &str| field_at(src, src.find(needle).unwrap()).unwrap();
        assert_eq!(at("\"cos\""), "training.lr_schedule");
        assert_eq!(at("\"genetic\""), "strategy[1].kind");
        assert_eq!(at("\"x\""), "strategy[1].params.population");
        assert_eq!(at("1\n"), "experiment.seed");
        assert_eq!(field_at("not toml = = 1", 3), None);
    }

    #[test]
    fn locates_nested_fields() {
        let src = "[experiment]\nseed = 1\n\n[[strategy]]\nkind = \"random\"\n[[strategy]]\nkind = \"genetic\"\nparams = { population = 0 }\n";
        assert_eq!(locate(src, "experiment.seed"), Some((2, 8)));
        assert_eq!(locate(src, "strategy[1].kind"), Some((7, 8)));
        let (line, _) = locate(src, "strategy[1].params.population").unwrap();
        assert_eq!(line, 8);
        // A field left to its default points at its section.
        assert_eq!(
            locate(src, "experiment.workers").map(|p| p.0),
            Some(1).or(Some(2))
        );
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn folder_names_stay_inside_out() {
        for (name, folder) in [
            ("quickstart", Some("quickstart")),
            ("../../escaped-by-name", Some("escaped-by-name")),
            ("/etc/passwd", Some("etc-passwd")),
            ("CNN/MLP comparison", Some("CNN-MLP-comparison")),
            (
                "ResNet-ish ~ budget $5 ^ {v2}",
                Some("ResNet-ish-budget-5-v2"),
            ),
            ("..", None),
            ("$$$", None),
            ("v1.2_final", Some("v1.2_final")),
            ("Études", Some("Études")),
        ] {
            assert_eq!(folder_name(name).as_deref(), folder, "{name}");
        }
    }

    #[test]
    fn unused_settings_of_a_tabular_run_are_marked_in_the_resolved_config() {
        let src = "[experiment]\nseed = 1\nrepetitions = 1\nevaluations = 2\n[evaluator]\nkind = \"tabular\"\ntable = \"t\"\n[data]\nvalidation_size = 100\n[training]\nbatch_size = 64\n[[strategy]]\nkind = \"random\"\n";
        let loaded = parse(src, Path::new("t.toml")).unwrap();
        assert!(loaded.written("training"));
        assert!(loaded.written("data.validation_size"));
        assert!(!loaded.written("data.dataset"));
        assert!(!loaded.written("budget"));
        let unused = loaded.config.unused(false);
        let fields: Vec<&str> = unused.iter().map(|u| u.field).collect();
        assert_eq!(fields, ["data.dataset", "data.validation_size", "training"]);
        assert_eq!(loaded.config.unused(true).last().unwrap().field, "budget");
        let text = loaded.config.to_toml_annotated(&unused);
        assert!(
            text.contains(
                "[training]  # not used: a tabular run looks every trial up in its table"
            ),
            "{text}"
        );
        assert!(text.contains("validation_size = 100  # not used"), "{text}");
        assert!(!text.contains("batch_size = 64  #"), "{text}");
        let again = parse(&text, Path::new("resolved.toml")).unwrap();
        assert_eq!(again.config.result_hash(), loaded.config.result_hash());
        // A run that trains uses everything.
        let train = parse(
            &src.replace("[evaluator]\nkind = \"tabular\"\ntable = \"t\"\n", ""),
            Path::new("t.toml"),
        )
        .unwrap();
        assert!(train.config.unused(false).is_empty());
    }

    #[test]
    fn a_param_of_the_wrong_type_is_named_and_located() {
        let src = "[experiment]\nseed = 1\nrepetitions = 1\nevaluations = 2\n[[strategy]]\nkind = \"random\"\n[[strategy]]\nkind = \"bohb\"\nparams = { num_samples = 32, top_n_percent = 20.5 }\n";
        let err = parse(src, Path::new("t.toml")).unwrap_err().to_string();
        assert!(
            err.contains("t.toml:9:") && err.contains("`strategy[1].params.top_n_percent`"),
            "{err}"
        );
        assert!(err.contains("floating point"), "{err}");
        // An unknown key was named already; it stays so.
        let err = parse(
            &src.replace("top_n_percent = 20.5", "top_percent = 20"),
            Path::new("t.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("top_percent") && err.contains("num_samples"),
            "{err}"
        );
    }

    #[test]
    fn flags_are_checked_like_the_file() {
        let src = "[experiment]\nseed = 1\nrepetitions = 1\nevaluations = 2\n[[strategy]]\nkind = \"random\"\n";
        let mut loaded = parse(src, Path::new("t.toml")).unwrap();
        loaded.config.experiment.repetitions = None;
        loaded.config.experiment.seeds = Some(vec![1, 1]);
        let err = loaded
            .recheck(&[("experiment.seeds", "--seeds")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--seeds: "), "{err}");
        assert!(err.contains("distinct seeds"), "{err}");
        let file = parse(
            &src.replace("repetitions = 1", "seeds = [1, 1]"),
            Path::new("t.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(file.contains("distinct seeds"), "{file}");
    }
}
