//! Every output derived from a journal: the tables, report and plots of a comparison
//! (`crate::report`), the table files of a tabulation (`crate::tabular`), and
//! `nas report DIR`, which rebuilds them all.

use std::path::Path;

use anyhow::Result;

use crate::config::Config;
use crate::error::BadInput;
use crate::journal::{self, JournalKind};
use crate::manifest::{self, Manifest};
use crate::outdir;
use crate::records;
use crate::report;
use crate::runner::{self, Plan};
use crate::tabular;

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
pub fn plan_units(config: &Config, kind: JournalKind) -> Result<Vec<runner::Unit>> {
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
    write_outputs_at(out, config, manifest, None)
}

/// [`write_outputs`], recording `finished` as the time the outputs were finished, or
/// `finished_at` when given (a report rebuilt from a finished experiment's journal keeps
/// the time the experiment finished).
fn write_outputs_at(
    out: &Path,
    config: &Config,
    manifest: &Manifest,
    finished_at: Option<String>,
) -> Result<String> {
    let contents = journal::read(&out.join(journal::FILE_NAME))?;
    let kind = contents.header.kind;
    let units = plan_units(config, kind)?;
    let runs = records::collect(&units, &contents.events);
    let partial = runs.iter().any(|r| !r.ended);
    let finished = match finished_at {
        Some(at) if !partial => at,
        _ => manifest::now_utc(),
    };
    let manifest = Manifest {
        finished: Some(finished),
        partial,
        ..manifest.clone()
    };
    let summary = match kind {
        JournalKind::Run => report::write_all(out, config, &runs, &manifest)?,
        JournalKind::Tabulate => write_table_outputs(out, config, &runs, &manifest)?,
    };
    outdir::write_manifest(out, &manifest)?;
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
    let curve_epochs = config.training.curve.then_some(config.budget.epochs);
    let table = tabular::write_table(
        out,
        &rows,
        curve_epochs,
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
            curves: None,
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

/// `nas report DIR`: regenerates every output from the journal and resolved config,
/// holding the directory's lock (a directory another nas process is writing is refused).
pub fn report(out: &Path) -> Result<String> {
    // Checked before the lock, which would create `.lock` in any folder.
    outdir::require_journal(out)?;
    let _lock = outdir::lock(out)?;
    let recorded = outdir::Recorded::read(out)?;
    // A finished experiment keeps the time it finished (its manifest's bytes stay).
    let finished_at = recorded
        .manifest
        .finished
        .clone()
        .filter(|_| !recorded.manifest.partial);
    write_outputs_at(
        out,
        &recorded.loaded.config,
        &recorded.manifest,
        finished_at,
    )
}
