//! Exactness of the engine: every layer's gradient against finite differences, losses
//! and gradients against the same network built from stock candle ops, parameter
//! counts against nas-core's analytic count, and thread-count independence.

use nas_core::{Architecture, InputShape, SearchSpaceParams, rng_from_seed};
use rand::RngCore;

use super::network::Plan;
use super::simd::SimdPath;
use super::{NativeModel, Optimizer};
use crate::engine::init;
use crate::reference::CandleModel;

const ADAMW: Optimizer = Optimizer::AdamW {
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0.01,
};

struct Case {
    plan: Plan,
    params: Vec<f32>,
    x: Vec<f32>,
    labels: Vec<u8>,
}

fn case(arch: &str, input: InputShape, classes: u32, n: usize, seed: u64) -> Case {
    let arch: Architecture = arch.parse().unwrap();
    let plan = Plan::new(&arch, input, classes).unwrap();
    let mut rng = rng_from_seed(seed);
    let params = plan.init_params(&mut rng);
    let x: Vec<f32> = (0..n * input.len())
        .map(|_| init::uniform(&mut rng, 1.5))
        .collect();
    let labels: Vec<u8> = (0..n).map(|_| (rng.next_u32() % classes) as u8).collect();
    Case {
        plan,
        params,
        x,
        labels,
    }
}

fn native(c: &Case, micro: usize, threads: usize) -> NativeModel {
    native_on(c, micro, threads, SimdPath::best())
}

fn native_on(c: &Case, micro: usize, threads: usize, path: SimdPath) -> NativeModel {
    NativeModel::new(
        path,
        c.plan.clone(),
        c.params.clone(),
        ADAMW,
        c.labels.len(),
        micro,
        threads,
        rng_from_seed(99),
    )
    .unwrap()
}

/// Central differences of the batch-mean loss for every parameter, compared with the
/// engine's gradient: |g - fd| <= abs + rel * max(|g|, |fd|). Where a ReLU or a pooling
/// window switches within the step, the differences at three step sizes disagree: such
/// parameters are skipped, and at most one in ten may be.
fn check_finite_differences(arch: &str, input: InputShape, n: usize, micro: usize) {
    let c = case(arch, input, 3, n, 5);
    let mut model = native(&c, micro, 1);
    let (g, _) = model.gradients(&c.x, &c.labels, 7, true);
    let mut loss_at = |i: usize, delta: f32| {
        let mut p = c.params.clone();
        p[i] += delta;
        model.set_params(p);
        model.gradients(&c.x, &c.labels, 7, false).1 / n as f64
    };
    let tol = |a: f64, b: f64| 3e-4 + 2e-2 * a.abs().max(b.abs());
    let mut skipped = 0;
    for (i, &gi) in g.iter().enumerate() {
        let fd = |eps: f32, f: &mut dyn FnMut(usize, f32) -> f64| {
            (f(i, eps) - f(i, -eps)) / (2.0 * f64::from(eps))
        };
        let coarse = fd(2e-3, &mut loss_at);
        let mid = fd(1e-3, &mut loss_at);
        let fine = fd(5e-4, &mut loss_at);
        if (coarse - mid).abs() > tol(coarse, mid) || (mid - fine).abs() > tol(mid, fine) {
            skipped += 1;
            continue;
        }
        let gi = f64::from(gi);
        assert!(
            (gi - fine).abs() <= tol(gi, fine),
            "{arch}: parameter {i}: engine {gi:e}, finite differences {fine:e}"
        );
    }
    assert!(
        skipped * 10 <= c.plan.params,
        "{arch}: {skipped} of {} parameters are not smooth enough to check",
        c.plan.params
    );
}

#[test]
fn conv_same_padding_gradients_match_finite_differences() {
    check_finite_differences(
        "conv3x3-3-tanh > dense4-sigmoid",
        InputShape::new(2, 5, 5),
        4,
        4,
    );
}

#[test]
fn conv_valid_and_even_kernels_match_finite_differences() {
    check_finite_differences(
        "conv3x3-3-gelu-valid > conv2x2-2-tanh-valid > conv4x4-2-sigmoid",
        InputShape::new(1, 7, 6),
        3,
        2,
    );
}

#[test]
fn many_channel_conv_matches_finite_differences() {
    // Five input channels and more, with input gradients.
    check_finite_differences(
        "conv3x3-6-tanh > conv3x3-5-sigmoid-valid > conv2x2-3-gelu",
        InputShape::new(5, 5, 5),
        3,
        2,
    );
}

#[test]
fn pointwise_conv_matches_finite_differences() {
    check_finite_differences(
        "conv1x1-3-gelu > conv5x5-2-tanh",
        InputShape::new(2, 4, 4),
        3,
        3,
    );
}

#[test]
fn pooling_even_and_odd_matches_finite_differences() {
    check_finite_differences(
        "conv3x3-3-tanh > maxpool2 > conv3x3-2-sigmoid > maxpool2",
        InputShape::new(1, 7, 9),
        3,
        2,
    );
}

#[test]
fn dense_relu_and_dropout_match_finite_differences() {
    check_finite_differences(
        "dropout0.2 > dense6-relu > dropout0.5 > dense5-gelu",
        InputShape::new(1, 3, 4),
        5,
        2,
    );
}

#[test]
fn relu_conv_pool_network_matches_finite_differences() {
    check_finite_differences(
        "conv3x3-4-relu > maxpool2 > dropout0.25 > dense5-tanh",
        InputShape::new(2, 6, 6),
        3,
        2,
    );
}

/// Losses and gradients of the engine and of stock candle ops on the same network,
/// weights, inputs and dropout masks.
fn check_against_candle(arch: &str, input: InputShape, classes: u32, n: usize) {
    check_case_against_candle(arch, case(arch, input, classes, n, 11));
}

fn check_case_against_candle(arch: &str, c: Case) {
    let n = c.labels.len();
    let reference = CandleModel::new(
        SimdPath::Scalar,
        c.plan.clone(),
        &c.params,
        ADAMW,
        n,
        1,
        rng_from_seed(99),
    )
    .unwrap();
    let (gc, loss_c) = reference.gradients(&c.x, &c.labels, 4);
    for path in SimdPath::supported() {
        let mut model = native_on(&c, 3, 1, path);
        let (g, loss) = model.gradients(&c.x, &c.labels, 4, true);
        compare_with_candle(&format!("{arch} on {path}"), (&g, loss), (&gc, loss_c));
    }
}

fn compare_with_candle(arch: &str, (g, loss): (&[f32], f64), (gc, loss_c): (&[f32], f64)) {
    assert!(
        (loss - loss_c).abs() <= 1e-5 * loss.abs().max(1.0),
        "{arch}: loss {loss} vs candle {loss_c}"
    );
    let scale = gc.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in g.iter().zip(gc).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * scale + 1e-4 * b.abs(),
            "{arch}: gradient {i}: engine {a:e}, candle {b:e} (largest {scale:e})"
        );
    }
}

#[test]
fn reference_cnn_agrees_with_candle() {
    check_against_candle(
        "conv3x3-16-relu > maxpool2 > conv3x3-32-relu > maxpool2",
        InputShape::new(1, 28, 28),
        10,
        8,
    );
}

#[test]
fn every_layer_type_agrees_with_candle() {
    check_against_candle(
        "conv5x5-4-gelu-valid > maxpool2 > conv3x3-5-tanh > dropout0.3 > conv4x4-3-sigmoid > maxpool2 > dense7-relu > dropout0.5 > dense6-gelu",
        InputShape::new(3, 13, 11),
        4,
        7,
    );
}

/// Max pooling's ties: on a zero background a tanh convolution gives equal values over
/// whole windows, and the gradient must reach one element (the first in row-major
/// order, as PyTorch's `max_pool2d`), not every tied one, in both backends.
#[test]
fn pooling_ties_go_to_the_first_maximum_in_both_backends() {
    let arch = "conv3x3-3-tanh > maxpool2 > dense5-tanh";
    let input = InputShape::new(1, 10, 10);
    let mut c = case(arch, input, 4, 6, 11);
    // The top half of every image is zero: windows of equal activations.
    for image in c.x.chunks_mut(input.len()) {
        image[..50].fill(0.0);
    }
    check_case_against_candle(arch, c);
}

#[test]
fn mlp_agrees_with_candle() {
    check_against_candle(
        "dense32-relu > dense16-tanh",
        InputShape::new(1, 28, 28),
        10,
        9,
    );
}

#[test]
fn gradients_do_not_depend_on_threads() {
    let c = case(
        "conv3x3-4-relu > maxpool2 > dropout0.3 > dense8-gelu",
        InputShape::new(1, 8, 8),
        5,
        13,
        3,
    );
    let (g1, l1) = native(&c, 4, 1).gradients(&c.x, &c.labels, 2, true);
    let (g2, l2) = native(&c, 4, 2).gradients(&c.x, &c.labels, 2, true);
    let (g3, l3) = native(&c, 4, 3).gradients(&c.x, &c.labels, 2, true);
    assert_eq!(l1.to_bits(), l2.to_bits());
    assert_eq!(l1.to_bits(), l3.to_bits());
    let bits = |g: &[f32]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&g1), bits(&g2));
    assert_eq!(bits(&g1), bits(&g3));
}

#[test]
fn gradients_are_bit_identical_on_every_path() {
    let paths = SimdPath::supported();
    for (arch, input, classes, n) in [
        (
            "conv3x3-16-relu > maxpool2 > conv3x3-32-relu > maxpool2",
            InputShape::new(1, 28, 28),
            10,
            5,
        ),
        (
            "conv5x5-9-gelu-valid > maxpool2 > conv3x3-21-tanh > dropout0.3 > conv4x4-35-sigmoid > conv1x1-17-relu > maxpool2 > dense7-relu > dropout0.5 > dense19-gelu",
            InputShape::new(3, 17, 13),
            4,
            7,
        ),
        (
            "dense40-relu > dense33-tanh",
            InputShape::new(2, 7, 9),
            11,
            9,
        ),
    ] {
        let c = case(arch, input, classes, n, 17);
        let results: Vec<(Vec<u32>, u64)> = paths
            .iter()
            .map(|&path| {
                let (g, loss) = native_on(&c, 3, 1, path).gradients(&c.x, &c.labels, 6, true);
                (g.iter().map(|v| v.to_bits()).collect(), loss.to_bits())
            })
            .collect();
        for (path, r) in paths.iter().zip(&results).skip(1) {
            assert!(*r == results[0], "{arch}: {path} differs from {}", paths[0]);
        }
    }
}

#[test]
fn parameter_counts_equal_the_analytic_cost() {
    for input in [InputShape::new(1, 28, 28), InputShape::new(3, 32, 32)] {
        let space = SearchSpaceParams::default().check(input).unwrap();
        let mut rng = rng_from_seed(21);
        for _ in 0..200 {
            let arch = space.sample(&mut rng);
            let plan = Plan::new(&arch, input, 10).unwrap();
            let cost = arch.as_chain().unwrap().cost(input, 10).unwrap();
            assert_eq!(plan.params as u64, cost.params, "{arch}");
            let counted: usize = plan
                .steps
                .iter()
                .map(|s| s.weight_len() + s.bias_len())
                .sum();
            assert_eq!(counted, plan.params, "{arch}");
        }
    }
}

#[test]
fn unbuildable_architectures_say_why() {
    let arch: Architecture = "dense8-relu > conv3x3-4-relu".parse().unwrap();
    assert!(Plan::new(&arch, InputShape::new(1, 8, 8), 10).is_err());
    let arch: Architecture = "conv5x5-4-relu-valid".parse().unwrap();
    assert!(Plan::new(&arch, InputShape::new(1, 3, 3), 10).is_err());
}
