//! AdamW and SGD with momentum, with PyTorch's update rules, applied to the sum of
//! the micro-batch gradients.
//!
//! The gradient of a parameter is the sum of the micro-batches' partial gradients in
//! micro-batch order, and its update depends on nothing else, so updating blocks of
//! parameters on several threads gives the same bits as one thread.

use super::simd::{SimdPath, multiversion};

/// An optimiser with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Optimizer {
    /// `torch.optim.AdamW` (decoupled weight decay, bias-corrected moments).
    AdamW {
        /// Learning rate.
        lr: f64,
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Added to the denominator.
        eps: f64,
        /// Decoupled weight decay.
        weight_decay: f64,
    },
    /// `torch.optim.SGD` with momentum (no dampening), optionally Nesterov's, and L2
    /// weight decay added to the gradient.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum factor (0: plain SGD).
        momentum: f64,
        /// Nesterov momentum: the step is `d + momentum * buf` instead of `buf`.
        nesterov: bool,
        /// L2 penalty.
        weight_decay: f64,
    },
}

/// The scalars of one step, computed once in f64 (as PyTorch does in Python) and
/// applied in f32.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    /// AdamW step.
    AdamW {
        decay: f32,
        one_minus_beta1: f32,
        beta2: f32,
        one_minus_beta2: f32,
        step_size: f32,
        bc2_sqrt: f32,
        eps: f32,
    },
    /// SGD step.
    Sgd {
        lr: f32,
        momentum: f32,
        nesterov: bool,
        weight_decay: f32,
        first: bool,
    },
}

impl Optimizer {
    /// The scalars of step `t` (1-based) with the learning rate multiplied by
    /// `lr_scale` (in f64, before rounding to f32: a scale of 1 changes no bit). AdamW's
    /// decoupled decay uses the scaled rate, as `torch.optim.AdamW` under a scheduler.
    pub fn step(&self, t: u64, lr_scale: f64) -> Step {
        match *self {
            Optimizer::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                let lr = lr * lr_scale;
                let bc1 = 1.0 - powi(beta1, t);
                let bc2 = 1.0 - powi(beta2, t);
                Step::AdamW {
                    decay: (1.0 - lr * weight_decay) as f32,
                    one_minus_beta1: (1.0 - beta1) as f32,
                    beta2: beta2 as f32,
                    one_minus_beta2: (1.0 - beta2) as f32,
                    step_size: (lr / bc1) as f32,
                    bc2_sqrt: bc2.sqrt() as f32,
                    eps: eps as f32,
                }
            }
            Optimizer::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => Step::Sgd {
                lr: (lr * lr_scale) as f32,
                momentum: momentum as f32,
                nesterov,
                weight_decay: weight_decay as f32,
                first: t == 1,
            },
        }
    }
}

/// `base^e` by binary exponentiation: a fixed sequence of f64 multiplications, where
/// `f64::powi`'s is left to the compiler and its runtime library.
fn powi(mut base: f64, mut e: u64) -> f64 {
    let mut acc = 1.0;
    while e > 0 {
        if e & 1 == 1 {
            acc *= base;
        }
        base *= base;
        e >>= 1;
    }
    acc
}

/// Updates `params` (a block starting at parameter `offset`) from the partial gradients
/// `partials` (each covering all parameters) and the state buffers of the block.
pub(crate) fn update(
    path: SimdPath,
    step: Step,
    params: &mut [f32],
    offset: usize,
    partials: &[&[f32]],
    m: &mut [f32],
    v: &mut [f32],
) {
    const SUB: usize = 256;
    let mut g = [0.0f32; SUB];
    let mut lo = 0;
    while lo < params.len() {
        let hi = (lo + SUB).min(params.len());
        let g = &mut g[..hi - lo];
        sum_partials(path, g, partials, offset + lo);
        let p = &mut params[lo..hi];
        match step {
            Step::AdamW { .. } => adamw(path, step, p, g, &mut m[lo..hi], &mut v[lo..hi]),
            Step::Sgd { .. } => sgd(
                path,
                step,
                p,
                g,
                if m.is_empty() { m } else { &mut m[lo..hi] },
            ),
        }
        lo = hi;
    }
}

multiversion! {
    /// `g = sum of partials[..][offset..offset + g.len()]`, in order.
    pub(crate) fn sum_partials(g: &mut [f32], partials: &[&[f32]], offset: usize) {
        let (first, rest) = partials
            .split_first()
            .expect("a step has at least one micro-batch");
        let len = g.len();
        g.copy_from_slice(&first[offset..offset + len]);
        for p in rest {
            for (gi, pi) in g.iter_mut().zip(&p[offset..offset + len]) {
                *gi += *pi;
            }
        }
    }
}

multiversion! {
    fn adamw(step: Step, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let Step::AdamW { decay, one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps } = step else {
            return;
        };
        for (((w, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let decayed = *w * decay;
            let mi = *m + one_minus_beta1 * (g - *m);
            let vi = *v * beta2 + one_minus_beta2 * g * g;
            *m = mi;
            *v = vi;
            let denom = vi.sqrt() / bc2_sqrt + eps;
            *w = decayed - step_size * (mi / denom);
        }
    }
}

multiversion! {
    fn sgd(step: Step, p: &mut [f32], g: &[f32], m: &mut [f32]) {
        let Step::Sgd { lr, momentum, nesterov, weight_decay, first } = step else {
            return;
        };
        for (i, (w, &g)) in p.iter_mut().zip(g).enumerate() {
            let d = if weight_decay != 0.0 { g + weight_decay * *w } else { g };
            let d = if momentum == 0.0 {
                d
            } else {
                let b = if first { d } else { momentum * m[i] + d };
                m[i] = b;
                if nesterov { d + momentum * b } else { b }
            };
            *w -= lr * d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_are_close_to_std() {
        for &b in &[0.9f64, 0.999, 1.0, 0.5, 1.5] {
            for e in [0u64, 1, 2, 3, 7, 100, 1000, 12345] {
                let want = b.powf(e as f64);
                let got = powi(b, e);
                assert!(
                    got == want || (got - want).abs() <= 1e-12 * want.abs(),
                    "{b}^{e}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn adamw_first_step_moves_by_the_learning_rate() {
        // With bias correction, the first step is lr * g / (|g| + eps') ~ lr * sign(g).
        let opt = Optimizer::AdamW {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let mut p = [1.0f32, -1.0];
        let (mut m, mut v) = ([0.0f32; 2], [0.0f32; 2]);
        let g = [0.5f32, -2.0];
        update(
            SimdPath::Scalar,
            opt.step(1, 1.0),
            &mut p,
            0,
            &[&g],
            &mut m,
            &mut v,
        );
        assert!((p[0] - 0.99).abs() < 1e-6, "{p:?}");
        assert!((p[1] + 0.99).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn adamw_decays_weights_decoupled() {
        let opt = Optimizer::AdamW {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.5,
        };
        let mut p = [2.0f32];
        let (mut m, mut v) = ([0.0f32], [0.0f32]);
        update(
            SimdPath::Scalar,
            opt.step(1, 1.0),
            &mut p,
            0,
            &[&[0.0]],
            &mut m,
            &mut v,
        );
        assert!((p[0] - 2.0 * 0.95).abs() < 1e-6);
    }

    #[test]
    fn sgd_momentum_follows_pytorch() {
        let opt = Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
        };
        let mut p = [1.0f32];
        let mut buf = [0.0f32];
        // Two partial gradients summed: 0.25 + 0.75 = 1.
        update(
            SimdPath::Scalar,
            opt.step(1, 1.0),
            &mut p,
            0,
            &[&[0.25], &[0.75]],
            &mut buf,
            &mut [],
        );
        assert!((p[0] - 0.9).abs() < 1e-7);
        update(
            SimdPath::Scalar,
            opt.step(2, 1.0),
            &mut p,
            0,
            &[&[1.0]],
            &mut buf,
            &mut [],
        );
        // buf = 0.9 * 1 + 1 = 1.9
        assert!((p[0] - (0.9 - 0.19)).abs() < 1e-6);
    }

    /// `torch.optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)` from
    /// w = 1 with gradients 1, then 1, then -2, each step's rate scaled by a schedule
    /// factor (1, 0.5, 0.25). By hand, as torch's update: d = g + wd w; b = d (first
    /// step) or 0.9 b + d; w -= lr (d + 0.9 b).
    #[test]
    fn sgd_nesterov_follows_pytorch_under_a_schedule() {
        let opt = Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.01,
        };
        let (mut w, mut b) = (1.0f64, 0.0f64);
        let mut p = [1.0f32];
        let mut buf = [0.0f32];
        for (t, (g, scale)) in [(1.0, 1.0), (1.0, 0.5), (-2.0, 0.25)]
            .into_iter()
            .enumerate()
        {
            let d = g + 0.01 * w;
            b = if t == 0 { d } else { 0.9 * b + d };
            w -= 0.1 * scale * (d + 0.9 * b);
            let run = |path: SimdPath| {
                let (mut p2, mut buf2) = (p, buf);
                update(
                    path,
                    opt.step(t as u64 + 1, scale),
                    &mut p2,
                    0,
                    &[&[g as f32]],
                    &mut buf2,
                    &mut [],
                );
                (p2, buf2)
            };
            let (p2, buf2) = run(SimdPath::Scalar);
            for path in SimdPath::supported() {
                let (p3, buf3) = run(path);
                assert_eq!(p3[0].to_bits(), p2[0].to_bits(), "{path}");
                assert_eq!(buf3[0].to_bits(), buf2[0].to_bits(), "{path}");
            }
            (p, buf) = (p2, buf2);
            assert!(
                (f64::from(p[0]) - w).abs() < 1e-6,
                "step {t}: {} vs {w}",
                p[0]
            );
            assert!((f64::from(buf[0]) - b).abs() < 1e-6, "step {t}");
        }
    }
}
