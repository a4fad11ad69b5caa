//! `nas-stats` against scipy: `tests/fixtures/scipy.json`, made by
//! `scripts/make_stats_fixtures.py` (inputs, scipy's outputs and the versions used).
//!
//! Tolerance: 1e-9 relative everywhere (plus 1e-12 absolute for statistics that
//! should be 0, where the two sides differ by summation order). p-values have no
//! absolute slack: a p of 5e-30 must match to 1e-9 of itself. Measured: everything
//! but the normal-approximation p-values agrees to 1e-12 relative; those differ by up
//! to ~1e-10 relative: statrs' `erfc` is off by that much (e.g. 8.7e-11 at z = 0.97,
//! where scipy's `ndtr` agrees with a 30-digit mpmath value).
//! Where scipy returns NaN (stored as `null`) the documented defined value is checked
//! instead.

use nas_stats::{
    PValueMethod, RankOrder, friedman, holm_bonferroni, mann_whitney_u, pairwise_tests, quantile,
    summarize, t_ci, welch_t_test, wilcoxon_signed_rank,
};
use serde_json::Value;

const REL: f64 = 1e-9;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/scipy.json")).expect("fixture parses")
}

fn cases<'a>(f: &'a Value, section: &str) -> &'a [Value] {
    f[section].as_array().expect(section)
}

/// A fixture number: `null` is NaN in scipy, `"inf"`/`"-inf"` are infinities.
fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Null => None,
        Value::String(s) if s == "inf" => Some(f64::INFINITY),
        Value::String(s) if s == "-inf" => Some(f64::NEG_INFINITY),
        other => Some(
            other
                .as_f64()
                .unwrap_or_else(|| panic!("not a number: {other}")),
        ),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("float"))
        .collect()
}

fn name(case: &Value) -> &str {
    case["name"].as_str().expect("name")
}

/// `got` within 1e-9 relative (and `abs`) of `want`; infinities must be equal.
fn check(got: f64, want: f64, abs: f64, what: &str) {
    if want.is_infinite() {
        assert_eq!(got, want, "{what}");
        return;
    }
    let tol = REL * want.abs() + abs;
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, scipy {want:e} (diff {:e}, tolerance {tol:e})",
        (got - want).abs()
    );
}

fn stat(got: f64, want: &Value, what: &str) {
    check(got, num(want).expect("a number"), 1e-12, what);
}

fn p(got: f64, want: &Value, what: &str) {
    check(got, num(want).expect("a number"), 0.0, what);
}

#[test]
fn fixture_records_its_provenance() {
    let f = fixture();
    assert_eq!(f["generator"], "nas-stats/scripts/make_stats_fixtures.py");
    for tool in ["python", "numpy", "scipy"] {
        assert!(f["versions"][tool].is_string(), "version of {tool}");
    }
}

#[test]
fn describe_matches_numpy_and_scipy() {
    let f = fixture();
    for case in cases(&f, "describe") {
        let what = name(case);
        let xs = floats(&case["xs"]);
        let s = summarize(&xs).unwrap();
        assert_eq!(s.n, case["n"].as_u64().unwrap() as usize, "{what}");
        stat(s.mean, &case["mean"], &format!("{what} mean"));
        match num(&case["std"]) {
            Some(want) => check(s.std.expect("std"), want, 1e-12, &format!("{what} std")),
            None => assert_eq!(s.std, None, "{what}: no std for n < 2"),
        }
        for field in ["median", "q1", "q3", "iqr", "min", "max"] {
            let got = match field {
                "median" => s.median,
                "q1" => s.q1,
                "q3" => s.q3,
                "iqr" => s.iqr,
                "min" => s.min,
                _ => s.max,
            };
            stat(got, &case[field], &format!("{what} {field}"));
        }
        for pair in case["quantiles"].as_array().unwrap() {
            let q = pair[0].as_f64().unwrap();
            stat(
                quantile(&xs, q).unwrap(),
                &pair[1],
                &format!("{what} quantile {q}"),
            );
        }
        let cis = case["t_ci"].as_array().unwrap();
        assert_eq!(cis.is_empty(), xs.len() < 2, "{what}");
        for ci in cis {
            let level = ci["level"].as_f64().unwrap();
            let got = t_ci(&xs, level).unwrap();
            stat(
                got.lower,
                &ci["lower"],
                &format!("{what} t_ci({level}) lower"),
            );
            stat(
                got.upper,
                &ci["upper"],
                &format!("{what} t_ci({level}) upper"),
            );
        }
    }
}

fn method(v: &Value) -> PValueMethod {
    match v.as_str().unwrap() {
        "exact" => PValueMethod::Exact,
        "exact_conditional" => PValueMethod::ExactConditional,
        "asymptotic" => PValueMethod::Asymptotic,
        other => panic!("unknown method {other}"),
    }
}

#[test]
fn mann_whitney_matches_scipy() {
    let f = fixture();
    let all = cases(&f, "mann_whitney");
    assert!(all.len() >= 20);
    for case in all {
        let what = name(case);
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let r = mann_whitney_u(&x, &y).unwrap();
        assert_eq!(r.method, method(&case["method"]), "{what}: method");
        stat(r.u1, &case["u1"], &format!("{what} U1"));
        assert_eq!(r.u1 + r.u2, (x.len() * y.len()) as f64, "{what}");
        p(
            r.p_two_sided,
            &case["p_two_sided"],
            &format!("{what} p two-sided"),
        );
        p(r.p_less, &case["p_less"], &format!("{what} p less"));
        p(
            r.p_greater,
            &case["p_greater"],
            &format!("{what} p greater"),
        );
        stat(
            nas_stats::a12(&x, &y).unwrap(),
            &case["a12"],
            &format!("{what} A12"),
        );
    }
}

/// The statrs 0.19 bug this module exists to avoid: its exact p-value is wrong when the
/// first sample is the smaller one. The fixture holds such cases, exact and asymptotic.
#[test]
fn mann_whitney_first_sample_smaller_matches_scipy() {
    let f = fixture();
    let smaller: Vec<&Value> = cases(&f, "mann_whitney")
        .iter()
        .filter(|c| name(c).contains("first_smaller"))
        .collect();
    assert!(smaller.len() >= 6, "fixture lost its first-smaller cases");
    let mut exact = 0;
    for case in smaller {
        let what = name(case);
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let r = mann_whitney_u(&x, &y).unwrap();
        // The first sample really is the smaller one: U1 below its null mean.
        assert!(r.u1 < (x.len() * y.len()) as f64 / 2.0, "{what}");
        assert!(r.p_less < r.p_greater, "{what}");
        p(r.p_less, &case["p_less"], &format!("{what} p less"));
        p(
            r.p_two_sided,
            &case["p_two_sided"],
            &format!("{what} p two-sided"),
        );
        exact += usize::from(r.method == PValueMethod::Exact);
    }
    assert!(exact >= 3, "need exact first-smaller cases, have {exact}");
}

#[test]
fn wilcoxon_matches_scipy() {
    let f = fixture();
    for case in cases(&f, "wilcoxon") {
        let what = name(case);
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let w = wilcoxon_signed_rank(&x, &y).unwrap();
        assert_eq!(w.method, method(&case["method"]), "{what}: method");
        stat(w.r_plus, &case["r_plus"], &format!("{what} R+"));
        stat(w.r_minus, &case["r_minus"], &format!("{what} R-"));
        stat(
            w.statistic,
            &case["statistic"],
            &format!("{what} statistic"),
        );
        let got = [w.p_two_sided, w.p_less, w.p_greater];
        for (g, key) in got.iter().zip(["p_two_sided", "p_less", "p_greater"]) {
            if case[key].is_null() {
                // scipy: NaN when every difference is zero and n > 13; here p = 1.
                assert_eq!(w.r_plus + w.r_minus, 0.0, "{what}: only all-zero is NaN");
                assert_eq!(*g, 1.0, "{what} {key}");
            } else {
                p(*g, &case[key], &format!("{what} {key}"));
            }
        }
    }
}

#[test]
fn welch_matches_scipy() {
    let f = fixture();
    for case in cases(&f, "welch") {
        let what = name(case);
        let w = welch_t_test(&floats(&case["x"]), &floats(&case["y"])).unwrap();
        stat(w.df, &case["df"], &format!("{what} df"));
        if case["t"].is_null() {
            // Identical constants: scipy NaN, here no difference at all.
            assert_eq!((w.t, w.p_two_sided), (0.0, 1.0), "{what}");
        } else {
            stat(w.t, &case["t"], &format!("{what} t"));
            p(w.p_two_sided, &case["p_two_sided"], &format!("{what} p"));
        }
    }
}

#[test]
fn holm_matches_reference() {
    let f = fixture();
    for case in cases(&f, "holm") {
        let what = name(case);
        let got = holm_bonferroni(&floats(&case["p"])).unwrap();
        let want = floats(&case["adjusted"]);
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(&want) {
            check(*g, *w, 0.0, what);
        }
    }
}

#[test]
fn friedman_matches_scipy() {
    let f = fixture();
    for case in cases(&f, "friedman") {
        let what = name(case);
        let treatments: Vec<Vec<f64>> = case["treatments"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        for (order, key) in [
            (RankOrder::Ascending, "average_ranks_ascending"),
            (RankOrder::Descending, "average_ranks_descending"),
        ] {
            let r = friedman(&treatments, order).unwrap();
            assert_eq!(r.df, case["df"].as_f64().unwrap(), "{what}");
            for (g, w) in r.average_ranks.iter().zip(case[key].as_array().unwrap()) {
                stat(*g, w, &format!("{what} {key}"));
            }
            if case["statistic"].is_null() {
                // Every block fully tied: scipy NaN, here no evidence at all.
                assert_eq!((r.statistic, r.p_value), (0.0, 1.0), "{what}");
            } else {
                stat(
                    r.statistic,
                    &case["statistic"],
                    &format!("{what} statistic"),
                );
                p(r.p_value, &case["p"], &format!("{what} p"));
            }
        }
    }
}

#[test]
fn pairwise_rows_match_scipy() {
    let f = fixture();
    for case in cases(&f, "pairwise") {
        let what = name(case);
        let groups: Vec<(String, Vec<f64>)> = case["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g[0].as_str().unwrap().to_string(), floats(&g[1])))
            .collect();
        let paired = case["paired_by_index"].as_bool().unwrap();
        let rows = pairwise_tests("best_accuracy", &groups, paired).unwrap();
        let want = case["rows"].as_array().unwrap();
        assert_eq!(rows.len(), want.len(), "{what}");
        for (r, w) in rows.iter().zip(want) {
            let ctx = format!("{what} {} vs {}", r.a, r.b);
            assert_eq!(
                (r.a.as_str(), r.b.as_str()),
                (w["a"].as_str().unwrap(), w["b"].as_str().unwrap())
            );
            assert_eq!(
                (r.n_a as u64, r.n_b as u64),
                (w["n_a"].as_u64().unwrap(), w["n_b"].as_u64().unwrap())
            );
            stat(r.median_a, &w["median_a"], &ctx);
            stat(r.median_b, &w["median_b"], &ctx);
            stat(r.mwu_u, &w["mwu_u"], &ctx);
            p(r.mwu_p, &w["mwu_p"], &format!("{ctx} mwu p"));
            p(r.mwu_p_holm, &w["mwu_p_holm"], &format!("{ctx} mwu p holm"));
            stat(r.a12, &w["a12"], &format!("{ctx} A12"));
            stat(r.welch_t.unwrap(), &w["welch_t"], &format!("{ctx} welch t"));
            p(r.welch_p.unwrap(), &w["welch_p"], &format!("{ctx} welch p"));
            match (r.wilcoxon_p, num(&w["wilcoxon_p"])) {
                (Some(g), Some(_)) => {
                    p(g, &w["wilcoxon_p"], &format!("{ctx} wilcoxon p"));
                    p(
                        r.wilcoxon_p_holm.unwrap(),
                        &w["wilcoxon_p_holm"],
                        &format!("{ctx} wilcoxon holm"),
                    );
                }
                (None, None) => assert_eq!(r.wilcoxon_p_holm, None, "{ctx}"),
                other => panic!("{ctx}: wilcoxon presence differs: {other:?}"),
            }
        }
    }
}

#[test]
fn kendall_tau_matches_scipy() {
    let f = fixture();
    for case in cases(&f, "kendall") {
        let what = name(case);
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let r = nas_stats::kendall_tau(&x, &y).unwrap();
        assert_eq!(r.n, x.len(), "{what}");
        match (num(&case["tau"]), num(&case["p"])) {
            (Some(tau), Some(p)) => {
                check(r.tau, tau, 1e-12, &format!("{what} tau"));
                check(r.p_value, p, 0.0, &format!("{what} p"));
                let exact = case["exact"].as_bool().unwrap();
                assert_eq!(r.method == PValueMethod::Exact, exact, "{what} method");
            }
            // scipy's NaN (a constant sample): the documented defined value.
            _ => assert_eq!((r.tau, r.p_value), (0.0, 1.0), "{what}"),
        }
    }
}
