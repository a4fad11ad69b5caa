//! Exactness of cell networks: parameter counts against nas-core's analytic count and
//! NAS-Bench-201's published counts, every gradient against finite differences (whole-
//! batch batch norm over several micro-batches), bit-identity across thread counts and
//! kernel families, and training that learns.

use nas_core::space::{CellParams, CellSkeleton, MacroParams, MacroSkeleton};
use nas_core::{Cell, InputShape, MacroNet, rng_from_seed};
use rand::RngCore;

use super::{CellModel, CellPlan};
use crate::engine::simd::SimdPath;
use crate::engine::{Optimizer, init};

/// NAS-Bench-201's best CIFAR-10 cell by test accuracy after 200 epochs (index 13714).
const BEST_C10: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|";
/// NAS-Bench-201 index 0.
const INDEX_0: &str = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";
/// Every op, a shared ReLU (two convolutions read node 0) and a node summing three terms.
const ALL_OPS: &str =
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|";
/// Node 1 is zero (its only edge is `none`), node 2 reads it through a convolution, and
/// the output node pools node 1 and skips node 2.
const ZERO_NODE: &str =
    "|none~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|skip_connect~2|";

const SGD: Optimizer = Optimizer::Sgd {
    lr: 0.05,
    momentum: 0.9,
    weight_decay: 5e-4,
    nesterov: true,
};

fn cell(text: &str) -> Cell {
    text.parse().unwrap()
}

fn tiny() -> CellSkeleton {
    CellSkeleton {
        stem_channels: 4,
        cells_per_stage: 1,
        stages: 2,
    }
}

struct Case {
    plan: CellPlan,
    params: Vec<f32>,
    x: Vec<f32>,
    labels: Vec<u8>,
}

fn case(text: &str, skeleton: &CellSkeleton, input: InputShape, n: usize, seed: u64) -> Case {
    case_of(
        CellPlan::new(&cell(text), skeleton, input, 3).unwrap(),
        input,
        n,
        seed,
    )
}

/// A macro network in a small skeleton (stem 4, head 8 channels) with 3 classes.
fn macro_case(text: &str, input: InputShape, n: usize, seed: u64) -> Case {
    let skeleton = MacroSkeleton {
        stem_channels: 4,
        head_channels: 8,
        ..MacroSkeleton::default()
    };
    let plan = CellPlan::new_macro(&text.parse().unwrap(), &skeleton, input, 3).unwrap();
    case_of(plan, input, n, seed)
}

fn case_of(plan: CellPlan, input: InputShape, n: usize, seed: u64) -> Case {
    let mut rng = rng_from_seed(seed);
    let mut params = plan.init_params(&mut rng);
    // Batch-norm scales away from 1, and shifts of 2.5 to 3.5: most inputs of the ReLUs
    // that follow are positive, so that few of them switch within a finite-difference
    // step (with shifts near 0, a step moves hundreds of normalised values across zero
    // and the differences stop measuring the derivative), and some are negative, so
    // that the ReLUs' masks matter.
    for op in &plan.ops {
        if let super::Op::Bn { c, p, .. } = *op {
            for v in &mut params[p..p + c] {
                *v += init::uniform(&mut rng, 0.5);
            }
            for v in &mut params[p + c..p + 2 * c] {
                *v = 3.0 + init::uniform(&mut rng, 0.5);
            }
        }
    }
    let x = (0..n * input.len())
        .map(|_| init::uniform(&mut rng, 1.5))
        .collect();
    let labels = (0..n).map(|_| (rng.next_u32() % 3) as u8).collect();
    Case {
        plan,
        params,
        x,
        labels,
    }
}

fn model(c: &Case, micro: usize, threads: usize, path: SimdPath) -> CellModel {
    CellModel::new(
        path,
        c.plan.clone(),
        c.params.clone(),
        SGD,
        c.labels.len(),
        micro,
        threads,
    )
    .unwrap()
}

#[test]
fn parameter_counts_equal_nas_core_and_nas_bench_201() {
    let space = |input, skeleton: CellSkeleton| {
        CellParams {
            skeleton,
            ..CellParams::default()
        }
        .check(input)
        .unwrap()
    };
    // NAS-Bench-201's published counts (params_mb_nats of ../shared/benchmarks'
    // nb201_200ep_valid_per_seed.csv, CIFAR-10, 10 classes): exact.
    let c10 = InputShape::new(3, 32, 32);
    for (text, published) in [(INDEX_0, 129_306), (BEST_C10, 1_073_466)] {
        let plan = CellPlan::new(&cell(text), &CellSkeleton::default(), c10, 10).unwrap();
        assert_eq!(plan.params, published, "{text}");
    }
    for (input, skeleton) in [
        (c10, CellSkeleton::default()),
        (InputShape::new(1, 28, 28), tiny()),
        (
            InputShape::new(1, 28, 28),
            CellSkeleton {
                stem_channels: 8,
                cells_per_stage: 2,
                stages: 3,
            },
        ),
    ] {
        let s = space(input, skeleton.clone());
        for text in [INDEX_0, BEST_C10, ALL_OPS, ZERO_NODE] {
            let plan = CellPlan::new(&cell(text), &skeleton, input, 10).unwrap();
            assert_eq!(plan.params as u64, s.cost(&cell(text), 10).params, "{text}");
        }
    }
}

#[test]
fn a_skeleton_that_shrinks_the_map_too_far_says_which_stage() {
    let skeleton = CellSkeleton {
        stem_channels: 4,
        cells_per_stage: 1,
        stages: 4,
    };
    // 28 -> 14 -> 7: the fourth stage's reduction block has an odd map.
    let err = CellPlan::new(&cell(ALL_OPS), &skeleton, InputShape::new(1, 28, 28), 10).unwrap_err();
    assert!(err.contains("stage 4") && err.contains("7x7"), "{err}");
}

/// Central differences of the batch-mean loss for every parameter against the engine's
/// gradient, as the chain networks' check (`engine::tests`): |g - fd| <= 3e-4 + 2e-2
/// max(|g|, |fd|); parameters where a ReLU switches within the step (the differences at
/// three step sizes disagree) are skipped, at most one in ten.
fn check_finite_differences(text: &str, micro: usize) {
    let c = case(text, &tiny(), InputShape::new(2, 6, 6), 7, 5);
    check_case_finite_differences(text, &c, micro);
}

fn check_case_finite_differences(text: &str, c: &Case, micro: usize) {
    let mut m = model(c, micro, 1, SimdPath::best());
    let (g, _) = m.gradients(&c.x, &c.labels, true);
    let n = c.labels.len() as f64;
    let mut loss_at = |i: usize, delta: f32| {
        let mut p = c.params.clone();
        p[i] += delta;
        m.set_params(p);
        m.gradients(&c.x, &c.labels, false).1 / n
    };
    let tol = |a: f64, b: f64| 3e-4 + 2e-2 * a.abs().max(b.abs());
    let mut skipped = 0;
    for (i, &gi) in g.iter().enumerate() {
        let mut fd = |eps: f32| (loss_at(i, eps) - loss_at(i, -eps)) / (2.0 * f64::from(eps));
        let (coarse, mid, fine) = (fd(2e-3), fd(1e-3), fd(5e-4));
        if (coarse - mid).abs() > tol(coarse, mid) || (mid - fine).abs() > tol(mid, fine) {
            skipped += 1;
            continue;
        }
        let gi = f64::from(gi);
        assert!(
            (gi - fine).abs() <= tol(gi, fine),
            "{text}: parameter {i} of {}: engine {gi:e}, finite differences {fine:e}",
            g.len()
        );
    }
    assert!(
        skipped * 10 <= g.len(),
        "{text}: {skipped} of {} parameters are not smooth enough to check",
        g.len()
    );
}

#[test]
fn every_op_matches_finite_differences_with_whole_batch_statistics() {
    // Micro-batches of 3: the 7 examples' batch norms merge three partial sums.
    check_finite_differences(ALL_OPS, 3);
}

#[test]
fn a_zero_node_and_pooled_edges_match_finite_differences() {
    check_finite_differences(ZERO_NODE, 4);
}

#[test]
fn the_best_nas_bench_201_cell_matches_finite_differences() {
    check_finite_differences(BEST_C10, 7);
}

fn bits(g: &[f32]) -> Vec<u32> {
    g.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn gradients_do_not_depend_on_threads_or_kernel_family() {
    let c = case(ALL_OPS, &tiny(), InputShape::new(3, 8, 8), 11, 3);
    let (g1, l1) = model(&c, 4, 1, SimdPath::best()).gradients(&c.x, &c.labels, true);
    let (g2, l2) = model(&c, 4, 2, SimdPath::best()).gradients(&c.x, &c.labels, true);
    let (g3, l3) = model(&c, 4, 3, SimdPath::best()).gradients(&c.x, &c.labels, true);
    assert_eq!(l1.to_bits(), l2.to_bits());
    assert_eq!(l1.to_bits(), l3.to_bits());
    assert_eq!(bits(&g1), bits(&g2));
    assert_eq!(bits(&g1), bits(&g3));
    for path in SimdPath::supported() {
        let (g, l) = model(&c, 4, 2, path).gradients(&c.x, &c.labels, true);
        assert_eq!(l.to_bits(), l1.to_bits(), "{path}");
        assert_eq!(bits(&g), bits(&g1), "{path}");
    }
}

/// `plan` with every ReLU output stored without a border.
fn unpadded(plan: &CellPlan) -> CellPlan {
    let mut plain = plan.clone();
    plain.act_lens = plain.lens.clone();
    for op in &mut plain.ops {
        match op {
            super::Op::Relu { pad, .. } => *pad = 0,
            super::Op::Conv { in_pad, .. } => *in_pad = 0,
            _ => {}
        }
    }
    plain
}

#[test]
fn relu_outputs_stored_padded_give_the_same_bits_as_plain_ones() {
    for text in [BEST_C10, ALL_OPS, ZERO_NODE] {
        let c = case(text, &tiny(), InputShape::new(3, 8, 8), 9, 5);
        // Every cell ReLU feeds only stride-1 convolutions: stored padded, read in place.
        let padded = c
            .plan
            .ops
            .iter()
            .filter(|op| matches!(op, super::Op::Relu { pad: 1, .. }))
            .count();
        assert!(padded >= 2, "{text}: {padded} padded ReLU outputs");
        let plain = Case {
            plan: unpadded(&c.plan),
            ..case(text, &tiny(), InputShape::new(3, 8, 8), 9, 5)
        };
        for path in SimdPath::supported() {
            let mut a = model(&c, 4, 2, path);
            let mut b = model(&plain, 4, 2, path);
            let (ga, la) = a.gradients(&c.x, &c.labels, true);
            let (gb, lb) = b.gradients(&c.x, &c.labels, true);
            assert_eq!(la.to_bits(), lb.to_bits(), "{text} {path}");
            assert_eq!(bits(&ga), bits(&gb), "{text} {path}");
            for ((ma, va), (mb, vb)) in a.running().iter().zip(b.running()) {
                assert_eq!((bits(ma), bits(va)), (bits(mb), bits(vb)), "{text} {path}");
            }
        }
    }
}

#[test]
fn the_statistics_are_those_of_the_whole_batch() {
    // One micro-batch of 8 or four of 2: the same batch statistics (up to the order of
    // the f64 sums), so the same loss and gradients to f32 rounding.
    let c = case(BEST_C10, &tiny(), InputShape::new(1, 8, 8), 8, 9);
    let (g1, l1) = model(&c, 8, 1, SimdPath::best()).gradients(&c.x, &c.labels, true);
    let (g4, l4) = model(&c, 2, 1, SimdPath::best()).gradients(&c.x, &c.labels, true);
    assert!((l1 - l4).abs() <= 1e-5 * l1.abs(), "{l1} vs {l4}");
    let scale = g1.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (a, b) in g1.iter().zip(&g4) {
        assert!((a - b).abs() <= 1e-4 * scale, "{a} vs {b}");
    }
    // Per-micro-batch statistics would differ visibly.
    let m2: Vec<f32> = {
        let mut m = model(&c, 2, 1, SimdPath::best());
        m.gradients(&c.x, &c.labels, true);
        m.running()[0].0.clone()
    };
    let m8: Vec<f32> = {
        let mut m = model(&c, 8, 1, SimdPath::best());
        m.gradients(&c.x, &c.labels, true);
        m.running()[0].0.clone()
    };
    for (a, b) in m2.iter().zip(&m8) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn the_memory_estimate_covers_what_a_model_allocates() {
    for (text, micro) in [
        (BEST_C10, 4),
        (ALL_OPS, 7),
        (ZERO_NODE, 3),
        (MACRO_ALL, 4),
        (MACRO_BEST, 3),
    ] {
        let c = if text.contains('|') {
            case(text, &tiny(), InputShape::new(3, 8, 8), 10, 1)
        } else {
            macro_case(text, InputShape::new(3, 8, 8), 10, 1)
        };
        let m = model(&c, micro, 1, SimdPath::best());
        let allocated: usize = m
            .workspaces
            .iter()
            .map(|ws| {
                ws.acts.iter().chain(&ws.grads).map(Vec::len).sum::<usize>()
                    + ws.pgrads.len()
                    + ws.patches.len()
                    + ws.dpatches.len()
                    + ws.pooled.len()
            })
            .sum::<usize>()
            + 3 * m.params.len();
        let workspaces = m.workspaces.len() as u64;
        let estimate = 3 * c.plan.params as u64
            + workspaces * c.plan.floats_per_workspace(micro)
            + workspaces * micro as u64 * c.plan.floats_per_example();
        assert!(
            allocated as u64 <= estimate,
            "{text}: {allocated} floats allocated, {estimate} estimated"
        );
    }
}

/// Every block of a macro network: a stride-2 inverted residual without expansion, an
/// identity that passes its input on, a stride-2 identity (1x1 convolution + BN), and
/// an inverted residual with expansion and its shortcut.
const MACRO_ALL: &str = "mbconv_k3_e1 identity / identity mbconv_k3_e2";
/// NAS-Bench-Macro's best network (key 22212220).
const MACRO_BEST: &str = "mbconv_k5_e6 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k3_e3 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k5_e6 identity";
/// Key 00000000.
const MACRO_IDENTITY: &str =
    "identity identity / identity identity identity / identity identity identity";

#[test]
fn macro_parameter_counts_equal_nas_core_and_nas_bench_macro() {
    // NAS-Bench-Macro's published counts (`params` of benchmarks/nas-bench-macro, from
    // the benchmark's own file), 3x32x32, 10 classes, its skeleton: exact.
    let c10 = InputShape::new(3, 32, 32);
    for (text, published) in [(MACRO_IDENTITY, 387_882), (MACRO_BEST, 1_985_514)] {
        let net: MacroNet = text.parse().unwrap();
        let plan = CellPlan::new_macro(&net, &MacroSkeleton::default(), c10, 10).unwrap();
        assert_eq!(plan.params, published, "{text}");
    }
    for (input, skeleton) in [
        (c10, MacroSkeleton::default()),
        (
            InputShape::new(1, 28, 28),
            MacroSkeleton {
                stem_channels: 4,
                head_channels: 8,
                ..MacroSkeleton::default()
            },
        ),
    ] {
        for text in [MACRO_ALL, MACRO_BEST, MACRO_IDENTITY] {
            let net: MacroNet = text.parse().unwrap();
            let plan = CellPlan::new_macro(&net, &skeleton, input, 10).unwrap();
            let space = MacroParams::holding(&net, skeleton.clone())
                .check(input)
                .unwrap();
            assert_eq!(plan.params as u64, space.cost(&net, 10).params, "{text}");
        }
    }
}

/// The parameter blocks of a plan: every op's weights (and bias), a batch norm's scale
/// and its shift apart.
fn blocks(plan: &CellPlan) -> Vec<(String, std::ops::Range<usize>)> {
    use super::Op;
    let mut out = Vec::new();
    for (i, op) in plan.ops.iter().enumerate() {
        match *op {
            Op::Conv { g, w, .. } => out.push((format!("op {i} conv"), w..w + g.patch() * g.cout)),
            Op::Strided { g, w, .. } => {
                out.push((format!("op {i} strided conv"), w..w + g.weight_len()));
            }
            Op::Depthwise { g, w, .. } => {
                out.push((format!("op {i} depthwise"), w..w + g.weight_len()));
            }
            Op::Bn { c, p, .. } => {
                out.push((format!("op {i} batch norm scale"), p..p + c));
                out.push((format!("op {i} batch norm shift"), p + c..p + 2 * c));
            }
            Op::Head { g, w, b, .. } => {
                out.push((format!("op {i} classifier"), w..b));
                out.push((format!("op {i} classifier bias"), b..b + g.nout));
            }
            _ => {}
        }
    }
    out
}

/// The gradient of every parameter block against central differences of the batch-mean
/// loss along that block's gradient direction: the derivative there is the block's
/// gradient norm. One direction per block averages the f32 rounding noise of the loss
/// over the block's parameters, so that deep networks, where single-parameter
/// differences sit at the noise floor, are checked to 2% (plus 3e-4, the f32 noise of the differences): |g| against the
/// differences at step 5e-4. Blocks where the differences at 1e-3 and 5e-4 disagree (a
/// ReLU switches within the step: at 1e-2, enough of them switch to move the
/// differences by a few percent) are skipped, at most one in five.
fn check_directional_derivatives(text: &str, c: &Case, micro: usize) {
    let mut m = model(c, micro, 1, SimdPath::best());
    let (g, _) = m.gradients(&c.x, &c.labels, true);
    let n = c.labels.len() as f64;
    let (mut checked, mut skipped) = (0, Vec::new());
    for (name, range) in blocks(&c.plan) {
        let norm = g[range.clone()]
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            continue;
        }
        let mut loss_along = |step: f64| {
            let mut p = c.params.clone();
            for i in range.clone() {
                p[i] += (step * f64::from(g[i]) / norm) as f32;
            }
            m.set_params(p);
            m.gradients(&c.x, &c.labels, false).1 / n
        };
        let mut fd = |eps: f64| (loss_along(eps) - loss_along(-eps)) / (2.0 * eps);
        let (coarse, fine) = (fd(1e-3), fd(5e-4));
        let tol = 3e-4 + 2e-2 * norm;
        checked += 1;
        if (coarse - fine).abs() > tol {
            skipped.push(name);
            continue;
        }
        assert!(
            (norm - fine).abs() <= tol,
            "{text}, {name}: gradient norm {norm:e}, finite differences {fine:e}"
        );
    }
    assert!(
        skipped.len() * 5 <= checked,
        "{text}: the loss is not smooth enough along {skipped:?} of {checked} blocks"
    );
}

#[test]
fn every_macro_block_matches_finite_differences_with_whole_batch_statistics() {
    for (text, input) in [
        (MACRO_ALL, InputShape::new(2, 6, 6)),
        ("identity / identity mbconv_k3_e2", InputShape::new(2, 6, 6)),
        (
            "mbconv_k5_e2 / mbconv_k3_e1 mbconv_k5_e3",
            InputShape::new(3, 7, 5),
        ),
    ] {
        for seed in [5, 6] {
            let c = macro_case(text, input, 7, seed);
            check_directional_derivatives(text, &c, 3);
        }
    }
}

#[test]
fn every_cell_op_matches_directional_finite_differences() {
    for text in [ALL_OPS, ZERO_NODE, BEST_C10] {
        let c = case(text, &tiny(), InputShape::new(2, 6, 6), 7, 5);
        check_directional_derivatives(text, &c, 3);
    }
}

#[test]
fn macro_gradients_do_not_depend_on_threads_or_kernel_family() {
    let c = macro_case(MACRO_ALL, InputShape::new(3, 9, 9), 11, 3);
    let (g1, l1) = model(&c, 4, 1, SimdPath::best()).gradients(&c.x, &c.labels, true);
    for threads in [2, 3] {
        let (g, l) = model(&c, 4, threads, SimdPath::best()).gradients(&c.x, &c.labels, true);
        assert_eq!(l.to_bits(), l1.to_bits(), "{threads} threads");
        assert_eq!(bits(&g), bits(&g1), "{threads} threads");
    }
    for path in SimdPath::supported() {
        let (g, l) = model(&c, 4, 2, path).gradients(&c.x, &c.labels, true);
        assert_eq!(l.to_bits(), l1.to_bits(), "{path}");
        assert_eq!(bits(&g), bits(&g1), "{path}");
    }
}
