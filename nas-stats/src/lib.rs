//! # nas-stats
//!
//! Statistics for comparing search strategies over repeated runs: what `nas report`
//! writes into `summary.csv` and `tests.csv`, and what the strategy crates' learning
//! tests use to show that a strategy beats random search.
//!
//! Pure, deterministic functions on `&[f64]`, checked against scipy (the fixture
//! `tests/fixtures/scipy.json`, made by `scripts/make_stats_fixtures.py`):
//!
//! - [`describe`] — [`Summary`] (mean, sample std, median, numpy-style quartiles), the
//!   t-based [`t_ci`] and the seeded percentile [`bootstrap_ci`] of the mean;
//! - [`mann_whitney`] — [`mann_whitney_u`], exact or normal approximation by scipy's
//!   `method="auto"` rule (statrs 0.19's own exact p-value is wrong when the first
//!   sample is the smaller one, so it is not used);
//! - [`wilcoxon`] — [`wilcoxon_signed_rank`] of runs paired by seed, zeros handled as
//!   scipy's `zero_method="wilcox"`;
//! - [`welch`] — [`welch_t_test`], Welch's unequal-variance t-test;
//! - [`holm`] — [`holm_bonferroni`] adjusted p-values;
//! - [`effect`] — the Vargha-Delaney [`a12`] effect size;
//! - [`friedman`](mod@friedman) — average ranks and the [`friedman`](fn@friedman) test;
//! - [`kendall`] — [`kendall_tau`], Kendall's τ-b rank correlation of paired samples
//!   and its p-value (how alike two benchmarks rank the same architectures);
//! - [`pairwise`] — [`pairwise_tests`], every pair of strategies as one CSV-ready
//!   [`PairwiseTest`] row, Holm-adjusted across the pairs.
//!
//! ```
//! use nas_stats::{bootstrap_ci, pairwise_tests, summarize};
//!
//! let groups = vec![
//!     ("random".to_string(), vec![0.91, 0.90, 0.92, 0.89, 0.91]),
//!     ("evolution".to_string(), vec![0.93, 0.94, 0.92, 0.95, 0.93]),
//! ];
//! let summary = summarize(&groups[1].1)?;
//! let ci = bootstrap_ci(&groups[1].1, 0.95, 10_000, 7)?;
//! assert!(ci.lower <= summary.mean && summary.mean <= ci.upper);
//! // Runs paired by repetition index: run r of each strategy used the same seed.
//! let rows = pairwise_tests("best_accuracy", &groups, true)?;
//! assert_eq!((rows[0].a.as_str(), rows[0].b.as_str()), ("random", "evolution"));
//! assert!(rows[0].a12 < 0.5); // random's runs are mostly below evolution's
//! # Ok::<(), nas_stats::StatsError>(())
//! ```
//!
//! # Conventions
//!
//! - **Non-finite input is rejected**: NaN or ±infinity anywhere gives
//!   [`StatsError::NonFinite`] naming the sample and index. Nothing is silently dropped,
//!   so the `n` a result reports is the `n` the caller passed.
//! - **Sizes**: means, quantiles and rank tests need at least one value per sample; a
//!   standard deviation, a confidence interval and Welch's test need two; the Friedman
//!   test needs two treatments and two blocks. Fewer gives [`StatsError::TooFew`].
//! - **Degenerate data gives a defined answer, never NaN**: where scipy returns NaN
//!   (zero variance in both samples, all paired differences zero, every Friedman block
//!   fully tied) the statistic is 0 and the p-value 1, because the data carry no
//!   evidence of a difference; each function documents its case.
//! - Equal values tie exactly (`-0.0 == 0.0`); ties get average ranks.

mod dist;
mod rank;

pub mod describe;
pub mod effect;
pub mod friedman;
pub mod holm;
pub mod kendall;
pub mod mann_whitney;
pub mod pairwise;
pub mod welch;
pub mod wilcoxon;

pub use describe::{ConfidenceInterval, Summary, bootstrap_ci, quantile, summarize, t_ci};
pub use effect::a12;
pub use friedman::{Friedman, RankOrder, friedman};
pub use holm::holm_bonferroni;
pub use kendall::{KendallTau, kendall_tau};
pub use mann_whitney::{MannWhitney, mann_whitney_u};
pub use pairwise::{PairwiseTest, pairwise_tests};
pub use welch::{Welch, welch_t_test};
pub use wilcoxon::{Wilcoxon, wilcoxon_signed_rank};

use serde::Serialize;
use thiserror::Error;

/// What went wrong in a statistics call: always bad input, named precisely.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum StatsError {
    /// A value is NaN or infinite; every function here needs finite values.
    #[error("{what}[{index}] is {value}: statistics need finite values (no NaN or infinity)")]
    NonFinite {
        /// The sample, e.g. `first sample` or `group "random"`.
        what: String,
        /// Position of the offending value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A sample is too small for the requested statistic.
    #[error("{what} has {n} value(s); {statistic} needs at least {min}")]
    TooFew {
        /// The sample or table dimension.
        what: String,
        /// How many values it has.
        n: usize,
        /// How many are needed.
        min: usize,
        /// The statistic that needs them.
        statistic: &'static str,
    },
    /// Two inputs that must have equal length do not.
    #[error("{what}: lengths {left} and {right} differ; they must be equal")]
    LengthMismatch {
        /// Which inputs, e.g. `paired samples`.
        what: String,
        /// Length of the first.
        left: usize,
        /// Length of the second.
        right: usize,
    },
    /// A confidence level outside the open interval (0, 1).
    #[error("confidence level {level} is not allowed: it must lie strictly between 0 and 1")]
    InvalidLevel {
        /// The rejected level.
        level: f64,
    },
    /// A quantile outside [0, 1].
    #[error("quantile {q} is not allowed: it must lie in [0, 1]")]
    InvalidQuantile {
        /// The rejected quantile.
        q: f64,
    },
    /// A bootstrap with no resamples.
    #[error("bootstrap resamples = {resamples} is not allowed: it must be at least 1")]
    InvalidResamples {
        /// The rejected count.
        resamples: usize,
    },
    /// A p-value outside [0, 1] given to a multiple-comparison correction.
    #[error("p-value [{index}] = {value} is not allowed: p-values must lie in [0, 1]")]
    InvalidPValue {
        /// Position of the offending p-value.
        index: usize,
        /// The offending p-value.
        value: f64,
    },
    /// statrs refused to build a distribution (cannot happen for checked input; kept so
    /// that it is reported rather than a panic).
    #[error("cannot build the {distribution} distribution with {parameter}: {message}")]
    Distribution {
        /// Which distribution.
        distribution: &'static str,
        /// Its parameters.
        parameter: String,
        /// statrs' message.
        message: String,
    },
}

/// Results of this module.
pub type Result<T> = std::result::Result<T, StatsError>;

/// How a p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PValueMethod {
    /// The exact null distribution of the statistic (no ties).
    Exact,
    /// The exact null distribution conditional on the observed ties and zeros (the
    /// signed-rank test on small samples; scipy computes it by an exhaustive
    /// permutation test).
    ExactConditional,
    /// The normal approximation, with tie correction.
    Asymptotic,
}

/// Rejects a sample with a non-finite value; `what` names it in the error.
pub(crate) fn check_finite(what: &str, xs: &[f64]) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(StatsError::NonFinite {
            what: what.to_string(),
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

/// Rejects a sample smaller than `min`.
pub(crate) fn check_len(what: &str, xs: &[f64], min: usize, statistic: &'static str) -> Result<()> {
    if xs.len() < min {
        return Err(StatsError::TooFew {
            what: what.to_string(),
            n: xs.len(),
            min,
            statistic,
        });
    }
    Ok(())
}

/// Both checks, the usual preamble of a function here.
pub(crate) fn check_sample(
    what: &str,
    xs: &[f64],
    min: usize,
    statistic: &'static str,
) -> Result<()> {
    check_len(what, xs, min, statistic)?;
    check_finite(what, xs)
}
