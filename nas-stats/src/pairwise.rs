//! Every pair of strategies compared on one metric: one CSV-ready row per pair.

use serde::Serialize;

use super::describe::median_of;
use super::holm::holm_bonferroni;
use super::mann_whitney::mann_whitney_u;
use super::welch::welch_t_test;
use super::wilcoxon::wilcoxon_signed_rank;
use super::{PValueMethod, Result, check_sample};

/// The comparison of strategies `a` and `b` on one metric (a CSV row; fields in column
/// order, `None` written as an empty cell).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairwiseTest {
    /// The metric compared, e.g. `best_accuracy`.
    pub metric: String,
    /// First strategy.
    pub a: String,
    /// Second strategy.
    pub b: String,
    /// Runs of `a`.
    pub n_a: usize,
    /// Runs of `b`.
    pub n_b: usize,
    /// Median of `a`.
    pub median_a: f64,
    /// Median of `b`.
    pub median_b: f64,
    /// Mann-Whitney U of `a`.
    pub mwu_u: f64,
    /// Two-sided Mann-Whitney p-value.
    pub mwu_p: f64,
    /// `mwu_p` Holm-adjusted across all pairs of this call.
    pub mwu_p_holm: f64,
    /// Whether `mwu_p` is exact or the normal approximation.
    pub mwu_method: PValueMethod,
    /// Vargha-Delaney A12: P(a > b) + ½·P(a = b).
    pub a12: f64,
    /// Two-sided Wilcoxon signed-rank p-value of runs paired by index; `None` unless
    /// pairing was requested and both have the same number of runs.
    pub wilcoxon_p: Option<f64>,
    /// `wilcoxon_p` Holm-adjusted across the pairs that have one.
    pub wilcoxon_p_holm: Option<f64>,
    /// Welch's t of `a` minus `b`; `None` when either has fewer than two runs.
    pub welch_t: Option<f64>,
    /// Welch's degrees of freedom.
    pub welch_df: Option<f64>,
    /// Two-sided Welch p-value.
    pub welch_p: Option<f64>,
}

/// Compares every pair `(groups[i], groups[j])`, `i < j`, in the given order, on the
/// metric named `metric`. Each group is `(strategy name, one value per run)`.
///
/// With `paired_by_index`, run `r` of one strategy is paired with run `r` of the other
/// (the same repetition seed), and the Wilcoxon signed-rank test is added for pairs of
/// groups of equal size. Mann-Whitney p-values are Holm-adjusted across all the pairs of
/// this call, Wilcoxon p-values across those that have one. Fewer than two groups give
/// no rows.
///
/// Errors: a group with no values or with a non-finite value (the error names the
/// group and the index).
pub fn pairwise_tests(
    metric: &str,
    groups: &[(String, Vec<f64>)],
    paired_by_index: bool,
) -> Result<Vec<PairwiseTest>> {
    for (name, xs) in groups {
        check_sample(&format!("group \"{name}\""), xs, 1, "a pairwise comparison")?;
    }
    let mut rows = Vec::new();
    for (i, (name_a, a)) in groups.iter().enumerate() {
        for (name_b, b) in &groups[i + 1..] {
            let mwu = mann_whitney_u(a, b)?;
            let wilcoxon_p = if paired_by_index && a.len() == b.len() {
                Some(wilcoxon_signed_rank(a, b)?.p_two_sided)
            } else {
                None
            };
            let welch = if a.len() >= 2 && b.len() >= 2 {
                Some(welch_t_test(a, b)?)
            } else {
                None
            };
            rows.push(PairwiseTest {
                metric: metric.to_string(),
                a: name_a.clone(),
                b: name_b.clone(),
                n_a: a.len(),
                n_b: b.len(),
                median_a: median_of(a)?,
                median_b: median_of(b)?,
                mwu_u: mwu.u1,
                mwu_p: mwu.p_two_sided,
                mwu_p_holm: mwu.p_two_sided,
                mwu_method: mwu.method,
                a12: mwu.u1 / (a.len() * b.len()) as f64,
                wilcoxon_p,
                wilcoxon_p_holm: None,
                welch_t: welch.map(|w| w.t),
                welch_df: welch.map(|w| w.df),
                welch_p: welch.map(|w| w.p_two_sided),
            });
        }
    }
    let mwu_p: Vec<f64> = rows.iter().map(|r| r.mwu_p).collect();
    for (row, p) in rows.iter_mut().zip(holm_bonferroni(&mwu_p)?) {
        row.mwu_p_holm = p;
    }
    let with_wilcoxon: Vec<usize> = (0..rows.len())
        .filter(|&r| rows[r].wilcoxon_p.is_some())
        .collect();
    let wilcoxon_p: Vec<f64> = with_wilcoxon
        .iter()
        .filter_map(|&r| rows[r].wilcoxon_p)
        .collect();
    for (&r, p) in with_wilcoxon.iter().zip(holm_bonferroni(&wilcoxon_p)?) {
        rows[r].wilcoxon_p_holm = Some(p);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatsError;

    fn groups() -> Vec<(String, Vec<f64>)> {
        vec![
            ("random".to_string(), vec![0.90, 0.91, 0.89, 0.92]),
            ("genetic".to_string(), vec![0.93, 0.94, 0.92, 0.95]),
            ("rl".to_string(), vec![0.91, 0.90]),
        ]
    }

    #[test]
    fn rows_cover_every_pair_in_order() {
        let rows = pairwise_tests("best_accuracy", &groups(), true).unwrap();
        let pairs: Vec<(&str, &str)> = rows.iter().map(|r| (r.a.as_str(), r.b.as_str())).collect();
        assert_eq!(
            pairs,
            [("random", "genetic"), ("random", "rl"), ("genetic", "rl")]
        );
        assert!(rows.iter().all(|r| r.metric == "best_accuracy"));
        // Only random/genetic have equal sizes: the only Wilcoxon, so Holm leaves it.
        assert!(rows[0].wilcoxon_p.is_some() && rows[1].wilcoxon_p.is_none());
        assert_eq!(rows[0].wilcoxon_p_holm, rows[0].wilcoxon_p);
        for r in &rows {
            assert!(r.mwu_p_holm >= r.mwu_p && r.mwu_p_holm <= 1.0);
        }
    }

    #[test]
    fn unpaired_and_single_run_groups_leave_cells_empty() {
        let g = vec![
            ("a".to_string(), vec![1.0, 2.0, 3.0]),
            ("b".to_string(), vec![4.0]),
        ];
        let rows = pairwise_tests("m", &g, false).unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.wilcoxon_p, r.welch_t, r.welch_p), (None, None, None));
        assert_eq!((r.mwu_u, r.a12), (0.0, 0.0));
        assert!(pairwise_tests("m", &g[..1], true).unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_group() {
        let g = vec![
            ("a".to_string(), vec![1.0, 2.0]),
            ("broken".to_string(), vec![1.0, f64::NAN]),
        ];
        let err = pairwise_tests("m", &g, true).unwrap_err();
        assert!(matches!(err, StatsError::NonFinite { index: 1, .. }));
        assert!(err.to_string().contains("group \"broken\"[1]"), "{err}");
        let empty = vec![("a".to_string(), vec![1.0]), ("none".to_string(), vec![])];
        assert!(matches!(
            pairwise_tests("m", &empty, false),
            Err(StatsError::TooFew { .. })
        ));
    }

    #[test]
    fn serialises_to_one_csv_row_per_pair() {
        let rows = pairwise_tests("best_accuracy", &groups(), true).unwrap();
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in &rows {
            w.serialize(r).unwrap();
        }
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("metric,a,b,n_a,n_b,median_a,median_b,mwu_u,mwu_p,"));
        assert!(lines[2].starts_with("best_accuracy,random,rl,4,2,"));
        // random and rl share values (ties): normal approximation; genetic and rl do not.
        assert!(lines[2].contains(",asymptotic,"), "{text}");
        assert!(lines[3].starts_with("best_accuracy,genetic,rl,4,2,"));
        assert!(lines[3].contains(",exact,"), "{text}");
    }
}
