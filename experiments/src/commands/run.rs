//! `nas run`: every (strategy x repetition) of a config, then tables, report and plots.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use crate::config;
use crate::exec::{self, ExecOptions, RunSummary};
use crate::journal::JournalKind;
use crate::report;
use crate::runner;
use crate::setup;

/// Arguments of `nas run`.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// The experiment config (TOML).
    pub config: PathBuf,
    /// Output directory [default: out/NAME, NAME the experiment name with every character
    /// but letters, digits, '-', '_' and '.' replaced by '-'].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only these strategies (comma-separated names), e.g. to rerun a subset.
    #[arg(long, value_delimiter = ',')]
    pub strategies: Option<Vec<String>>,
    /// Only these repetition seeds (comma-separated), e.g. `--seeds 3,7`.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u32>>,
    /// The flags `nas run` shares with `nas tabulate`.
    #[command(flatten)]
    pub exec: ExecOptions,
}

/// `nas run`: runs (or resumes) the experiment and writes its outputs.
pub fn run(args: &RunArgs) -> Result<RunSummary> {
    let mut loaded = config::load(&args.config)?;
    loaded
        .config
        .check_runnable()
        .map_err(|(field, message)| loaded.error(&field, message))?;
    exec::apply_overrides(
        &mut loaded,
        &args.exec,
        args.strategies.as_deref(),
        args.seeds.as_deref(),
    )?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => {
            let name = &loaded.config.experiment.name;
            let folder = config::folder_name(name).ok_or_else(|| {
                loaded.error(
                    "experiment.name",
                    format!(
                        "{name:?} has no letter or digit to name its output folder after: pass --out DIR"
                    ),
                )
            })?;
            Path::new("out").join(folder)
        }
    };
    let logs = exec::run_dir(&out, args.exec.shard).join(exec::LOGS);
    setup::check_programs(&loaded)?;
    let scorer = setup::scorer(&loaded, args.exec.data_dir.as_deref(), &logs)?;
    setup::check_strategies(&loaded, &scorer.space)?;
    let plan = runner::ExperimentPlan {
        config: &loaded.config,
        space: &scorer.space,
        workdir: setup::workdir(&loaded),
        logs,
    };
    let table = exec::execute_plan(
        "run",
        &loaded,
        &out,
        JournalKind::Run,
        &args.exec,
        &scorer,
        &plan,
    )?;
    let report = args.exec.shard.is_none().then(|| out.join(report::REPORT));
    Ok(RunSummary { out, table, report })
}

/// Runs and prints the summary.
pub fn exec(args: &RunArgs) -> Result<()> {
    run(args)?.print();
    Ok(())
}
