//! A one-sided Mann-Whitney U test (statrs 0.19's own p-value is wrong when the first
//! sample is the smaller one, so it is computed here).

use statrs::distribution::{ContinuousCDF, Normal};

/// Mann-Whitney U test of "values of `x` tend to be larger than values of `y`": returns
/// U of `x` and the one-sided p-value from the normal approximation with the tie and
/// continuity corrections (scipy's `mannwhitneyu(x, y, alternative="greater",
/// method="asymptotic")`).
pub fn mann_whitney_greater(x: &[f64], y: &[f64]) -> (f64, f64) {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let mut pooled: Vec<(f64, bool)> = x
        .iter()
        .map(|&v| (v, true))
        .chain(y.iter().map(|&v| (v, false)))
        .collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_x = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let mut j = i;
        while j + 1 < pooled.len() && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        // 1-based ranks i+1..=j+1 share their mean.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_x += rank * pooled[i..=j].iter().filter(|p| p.1).count() as f64;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let u = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let mean = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if var <= 0.0 {
        // Every value ties: no evidence either way.
        return (u, 1.0);
    }
    let z = (u - mean - 0.5) / var.sqrt();
    let normal = Normal::new(0.0, 1.0).expect("a standard normal");
    (u, normal.sf(z))
}

/// Mean of a sample.
pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}
