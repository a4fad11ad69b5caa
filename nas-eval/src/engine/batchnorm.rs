//! Batch normalisation over channels-last feature maps (`rows x c`: every image's
//! positions, image after image), as `torch.nn.BatchNorm2d` (Ioffe & Szegedy, ICML
//! 2015) with PyTorch's defaults: momentum 0.1, ε 1e-5, affine.
//!
//! # Training: statistics of the whole batch, in a fixed order
//!
//! A training step normalises with the mean and the biased variance of the whole batch
//! (not of a micro-batch: the numbers are those of one forward pass over the batch, as
//! in PyTorch). Each micro-batch first sums its rows per channel ([`Moments`]: the sum
//! and the sum of squares, in f64, rows in order); the partial sums are added in
//! micro-batch order ([`Moments::merge`]) and turned into the mean and `1/sqrt(var + ε)`
//! in f64, rounded once to f32. Products of two f32 are exact in f64, so each partial
//! sum is a fixed sequence of f64 additions: the result depends on the micro-batch size
//! (a training parameter) and never on the thread count or the kernel family. The
//! one-pass variance `E[x²] − E[x]²` in f64 loses digits only when a channel's mean
//! exceeds its standard deviation by ~10⁴ (relative error ~1e-16 · (mean/std)²).
//!
//! The backward pass needs two more batch sums per channel, `Σ dy` and `Σ dy·x̂`
//! ([`GradMoments`], same scheme), then
//! `dx = γ·invstd/N · (N·dy − Σdy − x̂·Σ(dy·x̂))`, `dγ = Σ(dy·x̂)`, `dβ = Σdy`.
//!
//! The running statistics follow PyTorch: `running = (1 − 0.1)·running + 0.1·batch`,
//! with the unbiased variance (`N/(N−1)`) for the running variance. Evaluation
//! normalises with them.

/// PyTorch's `BatchNorm2d` defaults.
pub(crate) const MOMENTUM: f64 = 0.1;
/// Added to the variance.
pub(crate) const EPS: f64 = 1e-5;

/// Per-channel sums of a set of rows: the partial statistics of one micro-batch, or of
/// the whole batch after [`Moments::merge`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Moments {
    /// Σ x per channel.
    pub sum: Vec<f64>,
    /// Σ x² per channel.
    pub sum_sq: Vec<f64>,
    /// Rows summed.
    pub rows: usize,
}

impl Moments {
    /// Zero sums over `c` channels.
    pub fn new(c: usize) -> Self {
        Moments {
            sum: vec![0.0; c],
            sum_sq: vec![0.0; c],
            rows: 0,
        }
    }

    /// Sets the sums to those of `x` (`rows x c`), rows in order.
    pub fn of(&mut self, x: &[f32]) {
        let c = self.sum.len();
        self.sum.fill(0.0);
        self.sum_sq.fill(0.0);
        for row in x.chunks_exact(c) {
            for ((s, q), &v) in self.sum.iter_mut().zip(&mut self.sum_sq).zip(row) {
                let v = f64::from(v);
                *s += v;
                *q += v * v;
            }
        }
        self.rows = x.len() / c;
    }

    /// Adds `other`'s sums (the next micro-batch's).
    pub fn merge(&mut self, other: &Moments) {
        for (a, b) in self.sum.iter_mut().zip(&other.sum) {
            *a += *b;
        }
        for (a, b) in self.sum_sq.iter_mut().zip(&other.sum_sq) {
            *a += *b;
        }
        self.rows += other.rows;
    }

    /// The batch mean and biased variance per channel, in f64.
    pub fn mean_var(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.rows as f64;
        self.sum
            .iter()
            .zip(&self.sum_sq)
            .map(|(&s, &q)| {
                let mean = s / n;
                (mean, (q / n - mean * mean).max(0.0))
            })
            .unzip()
    }
}

/// Per-channel `Σ dy` and `Σ dy·x̂` of a set of rows (see [`Moments`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GradMoments {
    /// Σ dy per channel.
    pub sum_dy: Vec<f64>,
    /// Σ dy·x̂ per channel.
    pub sum_dy_xhat: Vec<f64>,
}

impl GradMoments {
    /// Zero sums over `c` channels.
    pub fn new(c: usize) -> Self {
        GradMoments {
            sum_dy: vec![0.0; c],
            sum_dy_xhat: vec![0.0; c],
        }
    }

    /// Sets the sums to those of `dy` and `xhat` (`rows x c` each), rows in order.
    pub fn of(&mut self, dy: &[f32], xhat: &[f32]) {
        let c = self.sum_dy.len();
        self.sum_dy.fill(0.0);
        self.sum_dy_xhat.fill(0.0);
        // Zipped channels (no indexing): the compiler vectorises across channels; each
        // channel's two sums still take the rows in order.
        for (g, h) in dy.chunks_exact(c).zip(xhat.chunks_exact(c)) {
            for ((s, q), (&g, &h)) in self
                .sum_dy
                .iter_mut()
                .zip(self.sum_dy_xhat.iter_mut())
                .zip(g.iter().zip(h))
            {
                let g = f64::from(g);
                *s += g;
                *q += g * f64::from(h);
            }
        }
    }

    /// Adds `other`'s sums (the next micro-batch's).
    pub fn merge(&mut self, other: &GradMoments) {
        for (a, b) in self.sum_dy.iter_mut().zip(&other.sum_dy) {
            *a += *b;
        }
        for (a, b) in self.sum_dy_xhat.iter_mut().zip(&other.sum_dy_xhat) {
            *a += *b;
        }
    }
}

/// What a normalisation uses per channel: `mean` and `invstd = 1/sqrt(var + ε)`, each
/// rounded once from f64 to f32.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Norm {
    /// Mean per channel.
    pub mean: Vec<f32>,
    /// 1/sqrt(variance + ε) per channel.
    pub invstd: Vec<f32>,
}

impl Norm {
    /// From a batch's mean and biased variance (training).
    pub fn from_batch(mean: &[f64], var: &[f64]) -> Self {
        Norm {
            mean: mean.iter().map(|&m| m as f32).collect(),
            invstd: var
                .iter()
                .map(|&v| (1.0 / (v + EPS).sqrt()) as f32)
                .collect(),
        }
    }

    /// From running statistics (evaluation).
    pub fn from_running(running_mean: &[f32], running_var: &[f32]) -> Self {
        let var: Vec<f64> = running_var.iter().map(|&v| f64::from(v)).collect();
        let mean: Vec<f64> = running_mean.iter().map(|&m| f64::from(m)).collect();
        Self::from_batch(&mean, &var)
    }
}

/// Updates the running statistics with a batch of `rows` rows, as PyTorch:
/// `r = (1 − m)·r + m·batch`, the variance unbiased by `rows/(rows − 1)`, in f64 and
/// rounded to f32.
pub(crate) fn update_running(
    running_mean: &mut [f32],
    running_var: &mut [f32],
    mean: &[f64],
    var: &[f64],
    rows: usize,
) {
    let unbias = if rows > 1 {
        rows as f64 / (rows - 1) as f64
    } else {
        1.0
    };
    for (r, &m) in running_mean.iter_mut().zip(mean) {
        *r = ((1.0 - MOMENTUM) * f64::from(*r) + MOMENTUM * m) as f32;
    }
    for (r, &v) in running_var.iter_mut().zip(var) {
        *r = ((1.0 - MOMENTUM) * f64::from(*r) + MOMENTUM * v * unbias) as f32;
    }
}

/// `xhat = (x − mean)·invstd` and `out = γ·xhat + β` for `rows x c` values; `xhat`
/// is kept for the backward pass (pass an empty slice to skip it, in evaluation). The
/// networks use [`forward_in_place`]; this form is the tests' reference.
#[cfg(test)]
pub(crate) fn forward(
    x: &[f32],
    norm: &Norm,
    gamma: &[f32],
    beta: &[f32],
    xhat: &mut [f32],
    out: &mut [f32],
) {
    let c = gamma.len();
    let keep = !xhat.is_empty();
    for (r, (xr, or)) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)).enumerate() {
        for i in 0..c {
            let h = (xr[i] - norm.mean[i]) * norm.invstd[i];
            if keep {
                xhat[r * c + i] = h;
            }
            or[i] = gamma[i] * h + beta[i];
        }
    }
}

/// [`forward`] in place: `x` (`rows x c`) becomes `xhat`, and `out` gets `γ·xhat + β`,
/// or (`add`) has it added to the value it holds (a node that sums several edges, in the
/// edges' order). The same operations as [`forward`].
pub(crate) fn forward_in_place(
    x: &mut [f32],
    norm: &Norm,
    gamma: &[f32],
    beta: &[f32],
    out: &mut [f32],
    add: bool,
) {
    let c = gamma.len();
    // One pass per row over zipped channels (no indexing, the `add` test hoisted): the
    // compiler vectorises it; every value is still `(x − mean)·invstd`, then `γ·h + β`,
    // then the sum, each rounded (Rust never fuses a multiply and an add).
    let per_channel = || {
        norm.mean
            .iter()
            .zip(&norm.invstd)
            .zip(gamma.iter().zip(beta))
    };
    for (xr, or) in x.chunks_exact_mut(c).zip(out.chunks_exact_mut(c)) {
        if add {
            for ((xv, ov), ((&m, &s), (&g, &b))) in
                xr.iter_mut().zip(or.iter_mut()).zip(per_channel())
            {
                let h = (*xv - m) * s;
                *xv = h;
                *ov += g * h + b;
            }
        } else {
            for ((xv, ov), ((&m, &s), (&g, &b))) in
                xr.iter_mut().zip(or.iter_mut()).zip(per_channel())
            {
                let h = (*xv - m) * s;
                *xv = h;
                *ov = g * h + b;
            }
        }
    }
}

/// The input gradient from the output gradient `dy` (`rows x c`), the kept `xhat`,
/// and the batch sums `g` over `n` rows in all; `dx` is overwritten, or added to when
/// `accumulate` (a node whose output feeds several edges).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_input(
    dy: &[f32],
    xhat: &[f32],
    g: &GradMoments,
    n: usize,
    norm: &Norm,
    gamma: &[f32],
    dx: &mut [f32],
    accumulate: bool,
) {
    let c = gamma.len();
    let nf = n as f32;
    // Per channel: k = γ·invstd/N, and the two batch sums as f32.
    let k: Vec<f32> = (0..c).map(|i| gamma[i] * norm.invstd[i] / nf).collect();
    let sdy: Vec<f32> = g.sum_dy.iter().map(|&v| v as f32).collect();
    let sdyh: Vec<f32> = g.sum_dy_xhat.iter().map(|&v| v as f32).collect();
    // Zipped channels with the `accumulate` test hoisted (as `forward_in_place`): the
    // compiler vectorises it; every value is the same sequence of f32 operations.
    let per_channel = || k.iter().zip(&sdy).zip(&sdyh);
    let rows = dy
        .chunks_exact(c)
        .zip(xhat.chunks_exact(c))
        .zip(dx.chunks_exact_mut(c));
    for ((gr, hr), dr) in rows {
        let values = dr.iter_mut().zip(gr.iter().zip(hr)).zip(per_channel());
        if accumulate {
            for ((d, (&g, &h)), ((&k, &s1), &s2)) in values {
                *d += k * ((nf * g - s1) - h * s2);
            }
        } else {
            for ((d, (&g, &h)), ((&k, &s1), &s2)) in values {
                *d = k * ((nf * g - s1) - h * s2);
            }
        }
    }
}

/// `dγ` and `dβ` from the batch sums (the parameters' full gradients: add them once
/// per step, not per micro-batch).
pub(crate) fn param_grads(g: &GradMoments, dgamma: &mut [f32], dbeta: &mut [f32]) {
    for (d, &s) in dgamma.iter_mut().zip(&g.sum_dy_xhat) {
        *d = s as f32;
    }
    for (d, &s) in dbeta.iter_mut().zip(&g.sum_dy) {
        *d = s as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::noise;
    use super::*;

    /// A deterministic pseudo-random f32 in [-1, 1).
    struct Setup {
        x: Vec<f32>,
        gamma: Vec<f32>,
        beta: Vec<f32>,
        weights: Vec<f32>,
        c: usize,
    }

    fn setup(rows: usize, c: usize, seed: u64) -> Setup {
        let mut s = seed;
        Setup {
            x: (0..rows * c)
                .map(|i| noise(&mut s) * 2.0 + (i % c) as f32)
                .collect(),
            gamma: (0..c).map(|_| 1.0 + 0.5 * noise(&mut s)).collect(),
            beta: (0..c).map(|_| 0.3 * noise(&mut s)).collect(),
            weights: (0..rows * c).map(|_| noise(&mut s)).collect(),
            c,
        }
    }

    /// Training forward over `micro`-row micro-batches: the loss Σ w·out and the
    /// gradients of x, γ and β through the module's functions.
    fn train_pass(s: &Setup, micro: usize) -> (f64, Vec<f32>, Vec<f32>, Vec<f32>) {
        let c = s.c;
        let rows = s.x.len() / c;
        let mut total = Moments::new(c);
        for chunk in s.x.chunks(micro * c) {
            let mut part = Moments::new(c);
            part.of(chunk);
            total.merge(&part);
        }
        let (mean, var) = total.mean_var();
        let norm = Norm::from_batch(&mean, &var);
        let mut xhat = vec![0.0; s.x.len()];
        let mut out = vec![0.0; s.x.len()];
        forward(&s.x, &norm, &s.gamma, &s.beta, &mut xhat, &mut out);
        let loss: f64 = out
            .iter()
            .zip(&s.weights)
            .map(|(&o, &w)| f64::from(o) * f64::from(w))
            .sum();
        let dy = &s.weights;
        let mut g = GradMoments::new(c);
        for (d, h) in dy.chunks(micro * c).zip(xhat.chunks(micro * c)) {
            let mut part = GradMoments::new(c);
            part.of(d, h);
            g.merge(&part);
        }
        let mut dx = vec![0.0; s.x.len()];
        backward_input(dy, &xhat, &g, rows, &norm, &s.gamma, &mut dx, false);
        let (mut dgamma, mut dbeta) = (vec![0.0; c], vec![0.0; c]);
        param_grads(&g, &mut dgamma, &mut dbeta);
        (loss, dx, dgamma, dbeta)
    }

    /// The same loss in f64 from scratch (two-pass variance).
    fn loss64(x: &[f64], gamma: &[f64], beta: &[f64], w: &[f32], c: usize) -> f64 {
        let rows = x.len() / c;
        let mut loss = 0.0;
        for i in 0..c {
            let col: Vec<f64> = (0..rows).map(|r| x[r * c + i]).collect();
            let mean = col.iter().sum::<f64>() / rows as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / rows as f64;
            for (r, v) in col.iter().enumerate() {
                let out = gamma[i] * (v - mean) / (var + EPS).sqrt() + beta[i];
                loss += out * f64::from(w[r * c + i]);
            }
        }
        loss
    }

    #[test]
    fn gradients_match_finite_differences() {
        let s = setup(12, 3, 7);
        let c = s.c;
        let (loss, dx, dgamma, dbeta) = train_pass(&s, 5);
        let x: Vec<f64> = s.x.iter().map(|&v| f64::from(v)).collect();
        let gamma: Vec<f64> = s.gamma.iter().map(|&v| f64::from(v)).collect();
        let beta: Vec<f64> = s.beta.iter().map(|&v| f64::from(v)).collect();
        assert!((loss - loss64(&x, &gamma, &beta, &s.weights, c)).abs() < 1e-4);
        let h = 1e-5;
        let fd = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
        for j in 0..x.len() {
            let want = fd(&|e| {
                let mut x = x.clone();
                x[j] += e;
                loss64(&x, &gamma, &beta, &s.weights, c)
            });
            assert!(
                (f64::from(dx[j]) - want).abs() < 1e-4,
                "dx[{j}]: {} vs {want}",
                dx[j]
            );
        }
        for i in 0..c {
            let want = fd(&|e| {
                let mut g = gamma.clone();
                g[i] += e;
                loss64(&x, &g, &beta, &s.weights, c)
            });
            assert!((f64::from(dgamma[i]) - want).abs() < 1e-4, "dγ[{i}]");
            let want = fd(&|e| {
                let mut b = beta.clone();
                b[i] += e;
                loss64(&x, &gamma, &b, &s.weights, c)
            });
            assert!((f64::from(dbeta[i]) - want).abs() < 1e-4, "dβ[{i}]");
        }
    }

    #[test]
    fn the_micro_batch_changes_rounding_only() {
        let s = setup(40, 5, 3);
        let (l1, dx1, g1, b1) = train_pass(&s, 40);
        let (l2, dx2, g2, b2) = train_pass(&s, 7);
        assert!((l1 - l2).abs() < 1e-9 * l1.abs().max(1.0));
        for (a, b) in dx1
            .iter()
            .zip(&dx2)
            .chain(g1.iter().zip(&g2))
            .chain(b1.iter().zip(&b2))
        {
            assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn running_statistics_follow_pytorch() {
        // torch.nn.BatchNorm2d(1) in training mode on [1, 2, 3, 4] (one channel):
        // running_mean 0.25, running_var 0.9 + 0.1 * 1.6667 = 1.0666667.
        let mut m = Moments::new(1);
        m.of(&[1.0, 2.0, 3.0, 4.0]);
        let (mean, var) = m.mean_var();
        assert_eq!((mean[0], var[0]), (2.5, 1.25));
        let (mut rm, mut rv) = ([0.0f32], [1.0f32]);
        update_running(&mut rm, &mut rv, &mean, &var, m.rows);
        assert_eq!(rm[0], 0.25);
        assert!((rv[0] - 1.066_666_7).abs() < 1e-7, "{}", rv[0]);
        // Evaluation with the running statistics.
        let norm = Norm::from_running(&rm, &rv);
        let mut out = [0.0f32];
        forward(&[1.0], &norm, &[2.0], &[0.5], &mut [], &mut out);
        let want = 2.0 * (1.0 - 0.25) / (1.066_666_7f64 + EPS).sqrt() + 0.5;
        assert!((f64::from(out[0]) - want).abs() < 1e-6);
    }

    /// candle-nn's `BatchNorm` (training mode, its autograd for the gradients) on the
    /// same batch: output, gradients and running statistics agree to float rounding.
    #[test]
    fn agrees_with_candle_nn() {
        use candle_core::{Device, Tensor, Var};
        let (rows, c) = (37, 6);
        let s = setup(rows, c, 11);
        let (_, dx, dgamma, dbeta) = train_pass(&s, 8);
        let dev = &Device::Cpu;
        let x = Var::from_vec(s.x.clone(), (rows, c), dev).unwrap();
        let gamma = Var::from_vec(s.gamma.clone(), c, dev).unwrap();
        let beta = Var::from_vec(s.beta.clone(), c, dev).unwrap();
        let bn = candle_nn::BatchNorm::new(
            c,
            Tensor::zeros(c, candle_core::DType::F32, dev).unwrap(),
            Tensor::ones(c, candle_core::DType::F32, dev).unwrap(),
            gamma.as_tensor().clone(),
            beta.as_tensor().clone(),
            EPS,
        )
        .unwrap();
        let out = bn.forward_train(x.as_tensor()).unwrap();
        let w = Tensor::from_vec(s.weights.clone(), (rows, c), dev).unwrap();
        let grads = (out * w).unwrap().sum_all().unwrap().backward().unwrap();
        let get = |v: &Var| -> Vec<f32> {
            grads
                .get(v.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let close = |what: &str, a: &[f32], b: &[f32]| {
            let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-5 * scale,
                    "{what}[{i}]: {x} vs candle {y}"
                );
            }
        };
        close("dx", &dx, &get(&x));
        close("dgamma", &dgamma, &get(&gamma));
        close("dbeta", &dbeta, &get(&beta));

        let mut m = Moments::new(c);
        m.of(&s.x);
        let (mean, var) = m.mean_var();
        let (mut rm, mut rv) = (vec![0.0f32; c], vec![1.0f32; c]);
        update_running(&mut rm, &mut rv, &mean, &var, rows);
        let cm: Vec<f32> = bn.running_mean().to_vec1().unwrap();
        let cv: Vec<f32> = bn.running_var().to_vec1().unwrap();
        close("running_mean", &rm, &cm);
        close("running_var", &rv, &cv);
    }
}
