//! `nas correlate`: how alike two tables rank the architectures they share.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use nas_stats::{KendallTau, PValueMethod, kendall_tau};

use crate::error::BadInput;
use crate::tabular::TabularEvaluator;

/// Output format of `nas correlate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Aligned text.
    #[default]
    Table,
    /// CSV with a header: `score,architectures,kendall_tau,p_value,p_method`.
    Csv,
}

/// Arguments of `nas correlate`.
#[derive(Debug, Clone, Args)]
pub struct CorrelateArgs {
    /// The first table directory (made by `nas tabulate` or `nas import-table`).
    pub first: PathBuf,
    /// The second table directory.
    pub second: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// One compared score.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    /// `test` (mean test accuracy, or an imported table's reported value) or `val`
    /// (mean validation accuracy, or the search signal).
    pub score: &'static str,
    /// Kendall's τ-b over the shared architectures and its p-value.
    pub tau: KendallTau,
}

/// Kendall's τ-b between two tables' mean scores over the architectures both hold
/// (matched by canonical text), for the test and the validation score
/// ([`TabularEvaluator::scores`]); also returns each table's number of scored
/// architectures.
///
/// # Errors
/// A table that cannot be read, or fewer than 2 shared architectures.
pub fn correlate(args: &CorrelateArgs) -> Result<(Vec<Correlation>, usize, usize)> {
    let first = TabularEvaluator::open(&args.first)?.scores();
    let second = TabularEvaluator::open(&args.second)?.scores();
    let index: HashMap<&str, usize> = second
        .iter()
        .enumerate()
        .map(|(i, s)| (s.arch.as_str(), i))
        .collect();
    // Pairs in the first table's (text) order.
    let pairs: Vec<(usize, usize)> = first
        .iter()
        .enumerate()
        .filter_map(|(i, s)| index.get(s.arch.as_str()).map(|&j| (i, j)))
        .collect();
    if pairs.len() < 2 {
        return Err(BadInput::new(format!(
            "{} and {} share {} scored architecture(s); Kendall's tau needs at least 2 (are they tables of the same kind of space?)",
            args.first.display(),
            args.second.display(),
            pairs.len()
        ))
        .into());
    }
    let mut out = Vec::new();
    for (score, get) in [
        (
            "test",
            (|s: &crate::tabular::ArchScores| s.test_acc) as fn(&_) -> f64,
        ),
        ("val", |s: &crate::tabular::ArchScores| s.val_acc),
    ] {
        let x: Vec<f64> = pairs.iter().map(|&(i, _)| get(&first[i])).collect();
        let y: Vec<f64> = pairs.iter().map(|&(_, j)| get(&second[j])).collect();
        out.push(Correlation {
            score,
            tau: kendall_tau(&x, &y)?,
        });
    }
    Ok((out, first.len(), second.len()))
}

fn method(m: PValueMethod) -> &'static str {
    match m {
        PValueMethod::Exact | PValueMethod::ExactConditional => "exact",
        PValueMethod::Asymptotic => "asymptotic",
    }
}

/// `nas correlate`: prints Kendall's τ-b of the two tables' test and validation scores.
pub fn exec(args: &CorrelateArgs) -> Result<()> {
    let (rows, n1, n2) = correlate(args)?;
    match args.format {
        Format::Csv => {
            println!("score,architectures,kendall_tau,p_value,p_method");
            for r in &rows {
                println!(
                    "{},{},{},{},{}",
                    r.score,
                    r.tau.n,
                    r.tau.tau,
                    r.tau.p_value,
                    method(r.tau.method)
                );
            }
        }
        Format::Table => {
            println!(
                "{}: {n1} scored architectures\n{}: {n2} scored architectures\nshared: {}",
                args.first.display(),
                args.second.display(),
                rows[0].tau.n
            );
            for r in &rows {
                let what = if r.score == "test" {
                    "test accuracy (imported: reported value)"
                } else {
                    "validation accuracy (imported: search signal)"
                };
                println!(
                    "Kendall tau-b of {what}: {:.4} (p = {:.3e}, {})",
                    r.tau.tau,
                    r.tau.p_value,
                    method(r.tau.method)
                );
            }
        }
    }
    Ok(())
}
