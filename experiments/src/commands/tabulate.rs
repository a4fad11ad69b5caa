//! `nas tabulate`: train every architecture of a space with K seeds into a table.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::config;
use crate::exec::{self, ExecOptions, RunSummary};
use crate::journal::JournalKind;
use crate::setup;
use crate::tabular;

/// Arguments of `nas tabulate`.
#[derive(Debug, Clone, Default, Args)]
pub struct TabulateArgs {
    /// The config: its `[space]`, `[data]`, `[budget]`, `[training]` and `[tabulate]` sections.
    pub config: PathBuf,
    /// The table directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Refuse spaces with more architectures than this [default: tabulate.max_architectures].
    #[arg(long)]
    pub max_architectures: Option<u64>,
    /// The flags `nas tabulate` shares with `nas run`.
    #[command(flatten)]
    pub exec: ExecOptions,
}

/// `nas tabulate`: trains every architecture of the space with K seeds and writes the
/// table, with the journal, resume and shard machinery of `nas run`.
pub fn tabulate(opts: &TabulateArgs) -> Result<RunSummary> {
    let mut loaded = config::load(&opts.config)?;
    exec::apply_overrides(&mut loaded, &opts.exec, None, None)?;
    if let Some(max) = opts.max_architectures {
        loaded.config.tabulate.max_architectures = max;
        loaded.recheck(&[("tabulate.max_architectures", "--max-architectures")])?;
    }
    if loaded.config.evaluator.kind == config::EvaluatorKind::Tabular {
        return Err(loaded
            .error(
                "evaluator.kind",
                "nas tabulate trains every architecture: use kind = \"train\" (or an external evaluator)",
            )
            .into());
    }
    let logs = exec::run_dir(&opts.out, opts.exec.shard).join(exec::LOGS);
    setup::check_programs(&loaded)?;
    let scorer = setup::scorer(&loaded, opts.exec.data_dir.as_deref(), &logs)?;
    let archs = tabular::architectures(&scorer.space, loaded.config.tabulate.max_architectures)
        .map_err(|e| loaded.error("tabulate.max_architectures", e))?;
    let seeds = u64::from(loaded.config.tabulate.seeds);
    let rows = archs.len() as u64 * seeds;
    if rows > config::MAX_TABULATED {
        return Err(loaded
            .error(
                "tabulate.seeds",
                format!(
                    "{} architectures x {seeds} seeds = {rows} trainings, above the {} rows a table may hold (each row is held in memory): use fewer seeds or a smaller space",
                    archs.len(),
                    config::MAX_TABULATED
                ),
            )
            .into());
    }
    let plan = tabular::TabulatePlan {
        config: &loaded.config,
        archs,
    };
    let table = exec::execute_plan(
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

/// Tabulates and prints the summary.
pub fn exec(args: &TabulateArgs) -> Result<()> {
    tabulate(args)?.print();
    Ok(())
}
