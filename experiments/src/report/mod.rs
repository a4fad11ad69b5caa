//! Everything a comparison's journal is turned into: the CSV tables (module `tables`),
//! `report.md` (`markdown`), `tables.tex` (`latex`) and the plots (`plots`), each an
//! `Output` of one `Report` (the runs and their `analysis`). Tables that must be
//! reproducible ([`REPRODUCIBLE`]) hold no timing; wall-clock seconds go to `timings.csv`.

use std::path::Path;

use anyhow::Result;

use crate::config::Config;
use crate::manifest::Manifest;
use crate::records::RunRecord;

mod analysis;
mod latex;
mod markdown;
mod plots;
mod tables;

pub use tables::FIDELITIES_CSV;

/// File name of the Markdown report.
pub const REPORT: &str = "report.md";
/// The tables whose bytes depend only on the config (never on workers, timing or resume);
/// runs with fidelities or simulated workers also write [`FIDELITIES_CSV`], reproducible
/// too.
pub const REPRODUCIBLE: [&str; 4] = ["trials.csv", "runs.csv", "summary.csv", "tests.csv"];
/// Significance level of the tests in the report.
const ALPHA: f64 = 0.05;
/// Bootstrap resamples for the summary's bootstrap intervals.
const RESAMPLES: usize = 10_000;

/// A number in the shortest form that reads back to the same double, in scientific
/// notation (`1e-300`, `2.5e20`) outside [1e-6, 1e16) so that no value is written as a
/// few hundred digits.
pub(crate) fn number(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 || !x.is_finite() || (1e-6..1e16).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// What every output is made from.
pub(crate) struct Report<'a> {
    /// The experiment.
    pub config: &'a Config,
    /// Its runs, in canonical order.
    pub runs: &'a [RunRecord],
    /// Their analysis.
    pub analysis: &'a analysis::Analysis,
    /// Provenance (and, for a tabular run, the table's summary).
    pub manifest: &'a Manifest,
}

/// One family of output files (hyperfine's exporters): written atomically into the output
/// directory from a [`Report`].
pub(crate) trait Output {
    /// Writes the files.
    ///
    /// # Errors
    /// When a file cannot be written (the previous version stays in place).
    fn write(&self, out: &Path, report: &Report<'_>) -> Result<()>;
}

/// Writes every derived output of an experiment into `out`; returns the summary table
/// (as `nas run` prints it).
///
/// # Errors
/// When the statistics refuse the data or a file cannot be written.
pub fn write_all(
    out: &Path,
    config: &Config,
    runs: &[RunRecord],
    manifest: &Manifest,
) -> Result<String> {
    let analysis = analysis::analyse(config, runs)?;
    let report = Report {
        config,
        runs,
        analysis: &analysis,
        manifest,
    };
    let outputs: [&dyn Output; 4] = [
        &tables::CsvTables,
        &latex::Latex,
        &plots::Plots,
        &markdown::Markdown,
    ];
    for output in outputs {
        output.write(out, &report)?;
    }
    Ok(markdown::summary_markdown(&analysis, manifest))
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_read_back_and_stay_short() {
        for x in [
            0.0,
            1.0,
            2.5,
            0.9532,
            1e-300,
            1.5e20,
            -3e-7,
            12000.0,
            106.00000000000001,
            f64::MIN_POSITIVE,
            f64::MAX,
        ] {
            let text = number(x);
            assert!(text.len() <= 24, "{x}: {text}");
            assert_eq!(text.parse::<f64>().unwrap(), x, "{text}");
        }
        assert_eq!(number(1e-300), "1e-300");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(12000.0), "12000");
    }
}
