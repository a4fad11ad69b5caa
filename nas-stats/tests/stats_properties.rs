//! Properties of `nas-stats` that have no scipy counterpart: the seeded
//! bootstrap, and symmetries the tests must respect.

use nas_stats::{
    bootstrap_ci, holm_bonferroni, mann_whitney_u, summarize, t_ci, wilcoxon_signed_rank,
};
use rand::{Rng, SeedableRng};

/// A deterministic sample of `n` values uniform on [0.8, 1.0), like accuracies.
fn sample(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| 0.8 + 0.2 * rng.random::<f64>()).collect()
}

#[test]
fn bootstrap_is_deterministic_in_the_seed() {
    let xs = sample(20, 1);
    let a = bootstrap_ci(&xs, 0.95, 2000, 42).unwrap();
    let b = bootstrap_ci(&xs, 0.95, 2000, 42).unwrap();
    assert_eq!(a, b);
    let c = bootstrap_ci(&xs, 0.95, 2000, 43).unwrap();
    assert_ne!(
        (a.lower, a.upper),
        (c.lower, c.upper),
        "the seed must matter"
    );
}

#[test]
fn bootstrap_contains_the_mean_and_lies_within_the_data() {
    for (n, seed) in [(5, 2), (12, 3), (40, 4)] {
        let xs = sample(n, seed);
        let s = summarize(&xs).unwrap();
        let ci = bootstrap_ci(&xs, 0.95, 2000, seed).unwrap();
        assert!(
            ci.lower < s.mean && s.mean < ci.upper,
            "n = {n}: {ci:?} vs {}",
            s.mean
        );
        assert!(s.min <= ci.lower && ci.upper <= s.max, "n = {n}: {ci:?}");
        assert_eq!(ci.level, 0.95);
    }
}

#[test]
fn bootstrap_narrows_with_n_and_widens_with_level() {
    let small = bootstrap_ci(&sample(10, 5), 0.95, 2000, 7).unwrap();
    let large = bootstrap_ci(&sample(1000, 5), 0.95, 2000, 7).unwrap();
    // The width shrinks like 1/√n: 10× for 100× the data; ask for at least 4×.
    assert!(
        (large.upper - large.lower) * 4.0 < small.upper - small.lower,
        "{small:?} vs {large:?}"
    );
    let xs = sample(30, 6);
    let ci90 = bootstrap_ci(&xs, 0.90, 4000, 8).unwrap();
    let ci99 = bootstrap_ci(&xs, 0.99, 4000, 8).unwrap();
    assert!(ci99.lower < ci90.lower && ci90.upper < ci99.upper);
}

#[test]
fn bootstrap_agrees_with_the_t_interval_on_a_large_sample() {
    // For 400 values the sampling distribution of the mean is close to normal, so the
    // two 95% intervals should nearly coincide (bootstrap is a bit narrower: it uses the
    // ddof = 0 spread). Allow 10% of the width.
    let xs = sample(400, 9);
    let boot = bootstrap_ci(&xs, 0.95, 10_000, 10).unwrap();
    let t = t_ci(&xs, 0.95).unwrap();
    let width = t.upper - t.lower;
    assert!(
        (boot.lower - t.lower).abs() < 0.1 * width,
        "{boot:?} vs {t:?}"
    );
    assert!(
        (boot.upper - t.upper).abs() < 0.1 * width,
        "{boot:?} vs {t:?}"
    );
}

#[test]
fn swapping_samples_mirrors_the_rank_tests() {
    for seed in 0..20 {
        let n1 = 3 + (seed as usize % 9);
        let x = sample(n1, 100 + seed);
        let y = sample(12 - n1 / 2, 200 + seed);
        let (xy, yx) = (
            mann_whitney_u(&x, &y).unwrap(),
            mann_whitney_u(&y, &x).unwrap(),
        );
        assert_eq!((xy.u1, xy.u2), (yx.u2, yx.u1));
        assert_eq!((xy.p_less, xy.p_greater), (yx.p_greater, yx.p_less));
        assert_eq!(xy.p_two_sided, yx.p_two_sided);
        assert!(xy.p_two_sided <= 1.0 && xy.p_less > 0.0);

        let y = sample(n1, 300 + seed);
        let (xy, yx) = (
            wilcoxon_signed_rank(&x, &y).unwrap(),
            wilcoxon_signed_rank(&y, &x).unwrap(),
        );
        assert_eq!((xy.r_plus, xy.r_minus), (yx.r_minus, yx.r_plus));
        assert_eq!((xy.p_less, xy.p_greater), (yx.p_greater, yx.p_less));
        assert_eq!(xy.p_two_sided, yx.p_two_sided);
    }
}

#[test]
fn holm_is_monotone_bounded_and_order_preserving() {
    let raw: Vec<f64> = sample(25, 11).iter().map(|v| (v - 0.8) * 0.5).collect();
    let adj = holm_bonferroni(&raw).unwrap();
    for i in 0..raw.len() {
        assert!(adj[i] >= raw[i] && adj[i] <= 1.0);
        for j in 0..raw.len() {
            if raw[i] <= raw[j] {
                assert!(adj[i] <= adj[j], "adjusted order must follow raw order");
            }
        }
    }
}
