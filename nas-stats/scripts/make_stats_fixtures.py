#!/usr/bin/env python3
"""Generate the scipy reference fixture for the `nas-stats` crate.

Usage (from the repository root):

    pip install scipy numpy
    python3 nas-stats/scripts/make_stats_fixtures.py

writes `nas-stats/tests/fixtures/scipy.json`. The output is deterministic:
every sample comes from one seeded numpy Generator, the fixture embeds its inputs,
and it records the Python, numpy and scipy versions that produced it. The Rust tests
(`nas-stats/tests/stats_scipy.rs`) read it and compare.

Every test is called with scipy's defaults (`method="auto"`, `use_continuity=True`,
`zero_method="wilcox"`, `correction=False`), because those are the rules the Rust
code replicates. Where scipy returns NaN (degenerate inputs) the fixture stores
`null` and the Rust test checks the documented defined value instead.

Holm-Bonferroni and Vargha-Delaney A12 are not in scipy; they are computed here by
plain textbook code (a step-down loop and a double loop over all pairs), written
independently of the Rust implementation.
"""

import json
import math
import pathlib
import platform

import numpy as np
import scipy
from scipy import stats

SEED = 20240606
OUT = (pathlib.Path(__file__).resolve().parent.parent
       / "tests" / "fixtures" / "scipy.json")

rng = np.random.default_rng(SEED)
ALTERNATIVES = ["two-sided", "less", "greater"]


def num(x):
    """A JSON number, or null for NaN (serde_json rejects NaN)."""
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def floats(xs):
    return [float(v) for v in xs]


def normal(n, loc=0.0, scale=1.0):
    return floats(rng.normal(loc, scale, n))


def accuracies(n, loc, scale, decimals=2):
    """Accuracy-like values rounded to few decimals: many ties."""
    return floats(np.round(np.clip(rng.normal(loc, scale, n), 0, 1), decimals))


def integers(n, low, high):
    return floats(rng.integers(low, high, n))


# ---------------------------------------------------------------- describe

def describe_case(name, xs):
    a = np.asarray(xs)
    n = len(a)
    case = {
        "name": name,
        "xs": xs,
        "n": n,
        "mean": num(np.mean(a)),
        "std": num(np.std(a, ddof=1)) if n >= 2 else None,
        "median": num(np.median(a)),
        "q1": num(np.percentile(a, 25)),
        "q3": num(np.percentile(a, 75)),
        "iqr": num(np.percentile(a, 75) - np.percentile(a, 25)),
        "min": num(np.min(a)),
        "max": num(np.max(a)),
        "quantiles": [[q, num(np.quantile(a, q))]
                      for q in [0.0, 0.05, 0.1, 1 / 3, 0.5, 0.9, 0.975, 1.0]],
        "t_ci": [],
    }
    if n >= 2:
        sem = stats.sem(a)
        for level in [0.95, 0.90, 0.99]:
            lo, hi = stats.t.interval(level, n - 1, loc=np.mean(a), scale=sem)
            case["t_ci"].append({"level": level, "lower": num(lo), "upper": num(hi)})
    return case


describe_cases = [
    describe_case("single", [0.5]),
    describe_case("two", [0.25, 0.75]),
    describe_case("five_normal", normal(5, 0.9, 0.02)),
    describe_case("ten_with_ties", accuracies(10, 0.9, 0.02)),
    describe_case("thirty_normal", normal(30, 10.0, 3.0)),
    describe_case("hundred_normal", normal(100, -2.0, 0.5)),
    describe_case("small_integers", integers(12, 0, 5)),
    describe_case("skewed", floats(rng.lognormal(0.0, 1.0, 17))),
]

# ------------------------------------------------------------ Mann-Whitney


def mwu_method(x, y):
    """scipy's `method="auto"` rule (scipy.stats._mannwhitneyu._mwu_choose_method)."""
    n1, n2 = len(x), len(y)
    ties = len(np.unique(np.concatenate([x, y]))) < n1 + n2
    if n1 > 8 and n2 > 8:
        return "asymptotic"
    if ties:
        return "asymptotic"
    return "exact"


def a12_brute(x, y):
    wins = 0.0
    for a in x:
        for b in y:
            if a > b:
                wins += 1.0
            elif a == b:
                wins += 0.5
    return wins / (len(x) * len(y))


def mwu_case(name, x, y):
    method = mwu_method(x, y)
    case = {"name": name, "x": x, "y": y, "method": method, "a12": a12_brute(x, y)}
    for alt in ALTERNATIVES:
        res = stats.mannwhitneyu(x, y, alternative=alt)
        # Cross-check that the replicated auto rule is the one scipy took.
        forced = stats.mannwhitneyu(x, y, alternative=alt, method=method)
        assert res.pvalue == forced.pvalue, (name, alt)
        case["u1"] = num(res.statistic)
        case["p_" + alt.replace("-", "_")] = num(res.pvalue)
    return case


mwu_cases = [
    # The statrs 0.19 bug: exact p-value when the first sample is the smaller one.
    mwu_case("exact_first_smaller", normal(5, 0.0), normal(6, 1.5)),
    mwu_case("exact_first_larger", normal(6, 1.5), normal(5, 0.0)),
    mwu_case("exact_first_smaller_moderate", normal(7, 0.0), normal(8, 0.6)),
    mwu_case("exact_8_8_overlapping", normal(8), normal(8)),
    mwu_case("exact_3_vs_20_first_smaller", normal(3, -1.0), normal(20)),
    mwu_case("exact_20_vs_3_first_larger", normal(20), normal(3, -1.0)),
    mwu_case("exact_complete_separation_low", [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]),
    mwu_case("exact_complete_separation_high", [5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0]),
    mwu_case("exact_interleaved_center", [1.0, 4.0, 5.0, 8.0], [2.0, 3.0, 6.0, 7.0]),
    mwu_case("exact_1_vs_1", [1.0], [2.0]),
    mwu_case("exact_1_vs_7", [10.0], normal(7)),
    mwu_case("exact_5_vs_60_first_smaller", normal(5, -0.7), normal(60)),
    mwu_case("asymptotic_9_9_first_smaller", normal(9, 0.0), normal(9, 1.0)),
    mwu_case("asymptotic_9_9_first_larger", normal(9, 1.0), normal(9, 0.0)),
    mwu_case("asymptotic_30_25_first_smaller", normal(30, 0.0), normal(25, 0.4)),
    mwu_case("asymptotic_25_30_first_larger", normal(25, 0.4), normal(30, 0.0)),
    mwu_case("asymptotic_large_far_apart", normal(40, 0.0), normal(40, 3.0)),
    mwu_case("ties_small_first_smaller", accuracies(6, 0.90, 0.02), accuracies(5, 0.93, 0.02)),
    mwu_case("ties_small_first_larger", accuracies(5, 0.93, 0.02), accuracies(6, 0.90, 0.02)),
    mwu_case("ties_integers_first_smaller", integers(15, 0, 6), integers(12, 2, 8)),
    mwu_case("ties_accuracies_large", accuracies(30, 0.91, 0.01), accuracies(30, 0.912, 0.01)),
    mwu_case("ties_across_only", [1.0, 2.0, 3.0], [3.0, 4.0, 5.0]),
    mwu_case("identical_constants", [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
    mwu_case("identical_samples", [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]),
    mwu_case("constant_vs_constant", [1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0]),
]

# ---------------------------------------------------------------- Wilcoxon


def wilcoxon_method(x, y):
    """scipy's `method="auto"` rule (scipy.stats._wilcoxon._wilcoxon_nd)."""
    d = np.asarray(x) - np.asarray(y)
    n = len(d)
    if n > 50:
        return "asymptotic"
    nonzero = np.abs(d[d != 0])
    ties = len(np.unique(nonzero)) < len(nonzero)
    zeros = np.any(d == 0)
    if not (ties or zeros):
        return "exact"
    if n <= 13:
        return "exact_conditional"  # scipy: an exhaustive permutation test
    return "asymptotic"


def wilcoxon_case(name, x, y):
    assert len(x) == len(y)
    case = {"name": name, "x": x, "y": y, "method": wilcoxon_method(x, y)}
    d = np.asarray(x) - np.asarray(y)
    nz = d[d != 0]
    ranks = stats.rankdata(np.abs(nz)) if len(nz) else np.array([])
    # scipy's one-sided statistic is R+; R- completes the rank total.
    case["r_plus"] = num(stats.wilcoxon(x, y, alternative="greater").statistic)
    case["r_minus"] = float(len(nz) * (len(nz) + 1) / 2 - case["r_plus"])
    assert case["r_plus"] == float(np.sum(ranks[nz > 0])), name
    for alt in ALTERNATIVES:
        res = stats.wilcoxon(x, y, alternative=alt)
        case["p_" + alt.replace("-", "_")] = num(res.pvalue)
        if alt == "two-sided":
            case["statistic"] = num(res.statistic)
    return case


def paired(n, shift, scale=1.0, base_scale=1.0):
    base = rng.normal(0.0, base_scale, n)
    return floats(base), floats(base + rng.normal(shift, scale, n))


def paired_accuracies(n, shift, decimals=2):
    base = rng.normal(0.9, 0.03, n)
    a = np.round(base, decimals)
    b = np.round(base + rng.normal(shift, 0.01, n), decimals)
    return floats(a), floats(b)


wilcoxon_cases = []
for name, (x, y) in [
    ("exact_10_first_smaller", paired(10, 0.8)),
    ("exact_10_first_larger", paired(10, -0.8)),
    ("exact_20_first_smaller", paired(20, 0.3)),
    ("exact_50_boundary", paired(50, 0.2)),
    ("asymptotic_51_boundary", paired(51, 0.2)),
    ("asymptotic_60_first_larger", paired(60, -0.25)),
    ("conditional_8_one_zero", ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
                                [1.0, 2.5, 3.75, 3.0, 6.5, 8.5, 4.0, 12.0])),
    ("conditional_12_ties", paired_accuracies(12, 0.01)),
    ("conditional_13_zeros_and_ties", paired_accuracies(13, -0.005)),
    ("asymptotic_14_ties", paired_accuracies(14, 0.01)),
    ("asymptotic_30_zeros_and_ties", paired_accuracies(30, 0.004)),
    ("asymptotic_60_zeros_and_ties", paired_accuracies(60, -0.003)),
    ("all_zero_differences_5", ([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0])),
    ("all_zero_differences_20", ([0.5] * 20, [0.5] * 20)),
    ("single_pair", ([1.0], [2.0])),
    ("all_zeros_but_one_13", ([1.0] * 13, [1.0] * 12 + [0.0])),
]:
    wilcoxon_cases.append(wilcoxon_case(name, x, y))

# ------------------------------------------------------------------- Welch


def welch_case(name, x, y):
    res = stats.ttest_ind(x, y, equal_var=False)
    return {"name": name, "x": x, "y": y, "t": num(res.statistic), "df": num(res.df),
            "p_two_sided": num(res.pvalue)}


welch_cases = [
    welch_case("equal_sizes_first_smaller", normal(10, 0.0), normal(10, 1.0)),
    welch_case("unequal_sizes_and_variances", normal(5, 1.0, 0.2), normal(23, 0.5, 2.0)),
    welch_case("two_and_two", [1.0, 2.0], [2.0, 4.5]),
    welch_case("tiny_difference", normal(30, 0.0), normal(30, 0.01)),
    welch_case("far_apart", normal(15, 0.0, 0.1), normal(12, 5.0, 0.1)),
    welch_case("one_constant_sample", [0.5, 0.5, 0.5, 0.5], normal(6, 0.6, 0.05)),
    welch_case("different_constants", [1.0, 1.0, 1.0], [2.0, 2.0, 2.0]),
    welch_case("identical_constants", [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]),
    welch_case("accuracies", accuracies(10, 0.9, 0.02), accuracies(10, 0.91, 0.02)),
]

# -------------------------------------------------------------------- Holm


def holm(ps):
    """Textbook Holm step-down: adjusted p, monotone, capped at 1, input order."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


holm_inputs = [
    ("empty", []),
    ("single", [0.03]),
    ("classic", [0.01, 0.04, 0.03, 0.005]),
    ("monotonicity_needed", [0.001, 0.011, 0.012, 0.04, 0.2]),
    ("ties", [0.02, 0.02, 0.5, 0.02]),
    ("caps_at_one", [0.4, 0.6, 0.9]),
    ("with_zero_and_one", [0.0, 1.0, 0.5]),
    ("random_15", floats(rng.uniform(0, 0.2, 15))),
]
holm_cases = [{"name": n, "p": ps, "adjusted": holm(ps)} for n, ps in holm_inputs]

# ---------------------------------------------------------------- Friedman


def friedman_case(name, treatments):
    """`treatments[j][i]`: treatment j in block i (scipy's argument layout)."""
    data = np.asarray(treatments).T  # blocks x treatments
    ascending = np.mean([stats.rankdata(row) for row in data], axis=0)
    descending = np.mean([stats.rankdata(-row) for row in data], axis=0)
    res = stats.friedmanchisquare(*treatments)
    return {"name": name, "treatments": treatments,
            "average_ranks_ascending": floats(ascending),
            "average_ranks_descending": floats(descending),
            "statistic": num(res.statistic), "p": num(res.pvalue),
            "df": len(treatments) - 1}


friedman_cases = [
    friedman_case("k3_n5_no_ties", [normal(5, 0.0), normal(5, 0.5), normal(5, 1.0)]),
    friedman_case("k4_n10_no_ties", [normal(10, m) for m in (0.0, 0.1, 0.3, 0.2)]),
    friedman_case("k3_n8_ties", [accuracies(8, 0.9, 0.01, 2) for _ in range(3)]),
    friedman_case("k5_n20_ties", [integers(20, 0, 4) for _ in range(5)]),
    friedman_case("k3_one_all_tied_block", [[1.0, 2.0, 5.0, 4.0], [1.0, 3.0, 6.0, 3.0],
                                            [1.0, 1.0, 7.0, 2.0]]),
    friedman_case("k3_n2_identical_order", [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]),
    friedman_case("all_blocks_tied", [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]),
]

# ------------------------------------------------------ pairwise (end to end)


def pairwise_case(name, groups, paired_by_index):
    rows = []
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            (na, a), (nb, b) = groups[i], groups[j]
            mwu = stats.mannwhitneyu(a, b)
            welch = stats.ttest_ind(a, b, equal_var=False)
            wil = None
            if paired_by_index and len(a) == len(b):
                wil = num(stats.wilcoxon(a, b).pvalue)
            rows.append({"a": na, "b": nb, "n_a": len(a), "n_b": len(b),
                         "median_a": float(np.median(a)), "median_b": float(np.median(b)),
                         "mwu_u": num(mwu.statistic), "mwu_p": num(mwu.pvalue),
                         "a12": a12_brute(a, b), "wilcoxon_p": wil,
                         "welch_t": num(welch.statistic), "welch_p": num(welch.pvalue)})
    adjusted = holm([r["mwu_p"] for r in rows])
    for r, p in zip(rows, adjusted):
        r["mwu_p_holm"] = p
    with_w = [k for k, r in enumerate(rows) if r["wilcoxon_p"] is not None]
    adjusted_w = holm([rows[k]["wilcoxon_p"] for k in with_w])
    for r in rows:
        r["wilcoxon_p_holm"] = None
    for k, p in zip(with_w, adjusted_w):
        rows[k]["wilcoxon_p_holm"] = p
    return {"name": name, "groups": [[n, xs] for n, xs in groups],
            "paired_by_index": paired_by_index, "rows": rows}


strategies = [("random", accuracies(10, 0.90, 0.01, 3)),
              ("genetic", accuracies(10, 0.915, 0.01, 3)),
              ("evolution", accuracies(10, 0.92, 0.01, 3)),
              ("reinforce", accuracies(10, 0.905, 0.01, 3))]
pairwise_cases = [
    pairwise_case("four_strategies_paired", strategies, True),
    pairwise_case("unequal_sizes_unpaired",
                  [("random", normal(7, 0.5, 0.1)), ("genetic", normal(12, 0.6, 0.1)),
                   ("qlearning", normal(5, 0.55, 0.1))], False),
]

# --- Kendall's tau-b (drawn after every case above, so their inputs are unchanged) ---

def kendall_case(name, x, y):
    r = stats.kendalltau(x, y)
    n = len(x)
    has_ties = len(set(x)) < n or len(set(y)) < n
    return {"name": name, "x": floats(x), "y": floats(y),
            "tau": num(r.statistic), "p": num(r.pvalue),
            # scipy's method="auto" rule, recorded so the Rust test checks it too.
            "exact": (not has_ties) and n <= 33}


def correlated(n, rho, decimals=None):
    a = rng.normal(size=n)
    b = rho * a + math.sqrt(1 - rho * rho) * rng.normal(size=n)
    if decimals is not None:
        a, b = np.round(a, decimals), np.round(b, decimals)
    return list(a), list(b)


kendall_cases = [
    kendall_case("small_exact", *correlated(8, 0.6)),
    kendall_case("exact_n33", *correlated(33, 0.3)),
    kendall_case("asymptotic_n34", *correlated(34, 0.3)),
    kendall_case("ties_small", *correlated(12, 0.5, decimals=0)),
    kendall_case("ties_large", *correlated(200, 0.4, decimals=1)),
    kendall_case("negative", *correlated(60, -0.7)),
    kendall_case("independent", *correlated(100, 0.0)),
    kendall_case("accuracies_like_tables", accuracies(150, 0.85, 0.02, 3),
                 accuracies(150, 0.9, 0.03, 2)),
    kendall_case("one_tied_constant", [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0]),
]

fixture = {
    "generator": "nas-stats/scripts/make_stats_fixtures.py",
    "seed": SEED,
    "versions": {"python": platform.python_version(), "numpy": np.__version__,
                 "scipy": scipy.__version__},
    "describe": describe_cases,
    "mann_whitney": mwu_cases,
    "wilcoxon": wilcoxon_cases,
    "welch": welch_cases,
    "holm": holm_cases,
    "friedman": friedman_cases,
    "pairwise": pairwise_cases,
    "kendall": kendall_cases,
}

OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(json.dumps(fixture, indent=1, allow_nan=False) + "\n")
print(f"wrote {OUT}")
