//! BANANAS's neural predictor: a small fully connected ReLU regression network trained by
//! Adam on the mean absolute error, in f32 scalar arithmetic of a fixed order.
//!
//! Why not nas-eval's engine: it is an image classifier (softmax cross-entropy heads,
//! convolutions), it lives beside candle (strategy crates must not depend on it), and its
//! matrix products come from `gemm`, whose micro-kernels differ by instruction set, so its
//! results may differ in the last bits across CPUs (nas-eval's README, "Determinism
//! limits"). A predictor whose last bits differ proposes other architectures, and a
//! comparison table would then depend on the machine. This network is a few hundred lines
//! of plain loops: every sum is taken in the same order everywhere, nothing is fused
//! (Rust never contracts `a * b + c`), and the only non-arithmetic operation is `sqrt`,
//! which IEEE 754 rounds exactly. Loops over a layer's outputs are independent, so the
//! compiler may vectorize them without changing a bit.

use rand::Rng;
use rand::seq::SliceRandom;

use nas_core::NasRng;

/// Adam's β1 (naszilla and NASLib).
const BETA1: f64 = 0.9;
/// Adam's β2 (naszilla and NASLib: 0.99, not Adam's usual 0.999).
const BETA2: f64 = 0.99;
/// Adam's ε (Keras's default, naszilla's framework).
const EPSILON: f32 = 1e-7;

/// How a predictor is built and trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Training {
    /// Hidden ReLU layers.
    pub hidden_layers: usize,
    /// Units per hidden layer.
    pub hidden_units: usize,
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per Adam step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
}

/// Inputs, one row per example, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rows {
    /// Values, `len = rows * width`.
    pub values: Vec<f32>,
    /// Columns.
    pub width: usize,
}

impl Rows {
    /// Rows from features of equal length.
    pub(crate) fn new(rows: &[Vec<f64>], width: usize) -> Self {
        let mut values = Vec::with_capacity(rows.len() * width);
        for r in rows {
            debug_assert_eq!(r.len(), width);
            values.extend(r.iter().map(|&v| v as f32));
        }
        Rows { values, width }
    }

    fn len(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }
}

/// One fully connected layer: `out = in W + b`.
#[derive(Debug, Clone, PartialEq)]
struct Dense {
    inputs: usize,
    outputs: usize,
    /// `inputs x outputs`, row `i` holding input `i`'s weights.
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Dense {
    /// Glorot (Xavier) uniform weights, `U(-l, l)` with `l = sqrt(6 / (inputs +
    /// outputs))`, and zero biases: Keras's defaults (naszilla) and NASLib's init.
    fn new(inputs: usize, outputs: usize, rng: &mut NasRng) -> Self {
        let limit = (6.0 / (inputs + outputs) as f64).sqrt();
        let w = (0..inputs * outputs)
            .map(|_| ((2.0 * rng.random::<f64>() - 1.0) * limit) as f32)
            .collect();
        Dense {
            inputs,
            outputs,
            w,
            b: vec![0.0; outputs],
        }
    }

    /// `out = x W + b` for a batch of `rows` rows; zero inputs are skipped (the features
    /// are mostly zero, and about half of the ReLU outputs).
    fn forward(&self, x: &[f32], rows: usize, out: &mut Vec<f32>) {
        out.clear();
        out.resize(rows * self.outputs, 0.0);
        for r in 0..rows {
            let o = &mut out[r * self.outputs..(r + 1) * self.outputs];
            o.copy_from_slice(&self.b);
            for (i, &a) in x[r * self.inputs..(r + 1) * self.inputs].iter().enumerate() {
                if a != 0.0 {
                    let w = &self.w[i * self.outputs..(i + 1) * self.outputs];
                    for (o, w) in o.iter_mut().zip(w) {
                        *o += a * w;
                    }
                }
            }
        }
    }
}

/// Adam's moments of one layer.
#[derive(Debug, Clone)]
struct Moments {
    mw: Vec<f32>,
    vw: Vec<f32>,
    mb: Vec<f32>,
    vb: Vec<f32>,
}

/// One Adam step (Keras's form: `lr_t = lr sqrt(1 - β2^t) / (1 - β1^t)`,
/// `p -= lr_t m / (sqrt(v) + ε)`).
fn adam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr_t: f32) {
    let (b1, b2) = (BETA1 as f32, BETA2 as f32);
    for (((p, g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *p -= lr_t * *m / (v.sqrt() + EPSILON);
    }
}

/// `wt = w^T` for a row-major `rows x cols` matrix `w`.
fn transpose(w: &[f32], rows: usize, cols: usize, wt: &mut Vec<f32>) {
    wt.clear();
    wt.resize(rows * cols, 0.0);
    for i in 0..rows {
        for j in 0..cols {
            wt[j * rows + i] = w[i * cols + j];
        }
    }
}

/// A trained predictor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mlp {
    layers: Vec<Dense>,
}

impl Mlp {
    /// Trains a network on `x` (one row per example) and targets `y`: weights drawn from
    /// `rng`, then `epochs` passes over the examples in an order shuffled from `rng` each
    /// epoch (as Keras's `fit` does), one Adam step per minibatch on the mean absolute
    /// error (its gradient `sign(prediction - target) / batch`, 0 at equality).
    pub(crate) fn fit(x: &Rows, y: &[f32], t: &Training, rng: &mut NasRng) -> Self {
        let n = x.len();
        debug_assert_eq!(n, y.len());
        let mut widths = vec![x.width];
        widths.extend(std::iter::repeat_n(t.hidden_units, t.hidden_layers));
        widths.push(1);
        let mut layers: Vec<Dense> = widths
            .windows(2)
            .map(|w| Dense::new(w[0], w[1], rng))
            .collect();
        let mut moments: Vec<Moments> = layers
            .iter()
            .map(|l| Moments {
                mw: vec![0.0; l.w.len()],
                vw: vec![0.0; l.w.len()],
                mb: vec![0.0; l.outputs],
                vb: vec![0.0; l.outputs],
            })
            .collect();
        let mut grads: Vec<(Vec<f32>, Vec<f32>)> = layers
            .iter()
            .map(|l| (vec![0.0; l.w.len()], vec![0.0; l.outputs]))
            .collect();
        let mut acts: Vec<Vec<f32>> = vec![Vec::new(); layers.len() + 1];
        let (mut delta, mut delta_in, mut wt) = (Vec::new(), Vec::new(), Vec::new());
        let mut order: Vec<usize> = (0..n).collect();
        let (mut beta1_t, mut beta2_t) = (1.0f64, 1.0f64);
        for _ in 0..t.epochs {
            order.shuffle(rng);
            for batch in order.chunks(t.batch_size) {
                let rows = batch.len();
                // Forward, keeping every layer's input.
                acts[0].clear();
                for &i in batch {
                    acts[0].extend_from_slice(x.row(i));
                }
                for (l, layer) in layers.iter().enumerate() {
                    let (before, after) = acts.split_at_mut(l + 1);
                    layer.forward(&before[l], rows, &mut after[0]);
                    if l + 1 < layers.len() {
                        for a in after[0].iter_mut() {
                            *a = a.max(0.0);
                        }
                    }
                }
                // The mean absolute error's gradient.
                let scale = 1.0 / rows as f32;
                delta.clear();
                for (r, &i) in batch.iter().enumerate() {
                    let d = acts[layers.len()][r] - y[i];
                    delta.push(if d > 0.0 {
                        scale
                    } else if d < 0.0 {
                        -scale
                    } else {
                        0.0
                    });
                }
                // Backward.
                for l in (0..layers.len()).rev() {
                    let layer = &layers[l];
                    let (gw, gb) = &mut grads[l];
                    gw.iter_mut().for_each(|g| *g = 0.0);
                    gb.iter_mut().for_each(|g| *g = 0.0);
                    let input = &acts[l];
                    let (ni, no) = (layer.inputs, layer.outputs);
                    for r in 0..rows {
                        let d = &delta[r * no..(r + 1) * no];
                        for (g, d) in gb.iter_mut().zip(d) {
                            *g += d;
                        }
                        for (i, &a) in input[r * ni..(r + 1) * ni].iter().enumerate() {
                            if a != 0.0 {
                                let g = &mut gw[i * no..(i + 1) * no];
                                for (g, d) in g.iter_mut().zip(d) {
                                    *g += a * d;
                                }
                            }
                        }
                    }
                    if l > 0 {
                        // Through the weights and the previous layer's ReLU (its output
                        // is positive exactly where its gradient passes). Each input's
                        // sum runs over the outputs in order, as a dot product would, but
                        // over the transposed weights so that inputs go side by side.
                        transpose(&layer.w, ni, no, &mut wt);
                        delta_in.clear();
                        delta_in.resize(rows * ni, 0.0);
                        for r in 0..rows {
                            let out = &mut delta_in[r * ni..(r + 1) * ni];
                            for (j, &d) in delta[r * no..(r + 1) * no].iter().enumerate() {
                                if d != 0.0 {
                                    for (o, w) in out.iter_mut().zip(&wt[j * ni..(j + 1) * ni]) {
                                        *o += d * w;
                                    }
                                }
                            }
                            for (o, &a) in out.iter_mut().zip(&input[r * ni..(r + 1) * ni]) {
                                *o = if a > 0.0 { *o } else { 0.0 };
                            }
                        }
                        std::mem::swap(&mut delta, &mut delta_in);
                    }
                }
                beta1_t *= BETA1;
                beta2_t *= BETA2;
                let lr_t = (t.learning_rate * (1.0 - beta2_t).sqrt() / (1.0 - beta1_t)) as f32;
                for ((layer, m), (gw, gb)) in layers.iter_mut().zip(&mut moments).zip(&grads) {
                    adam(&mut layer.w, gw, &mut m.mw, &mut m.vw, lr_t);
                    adam(&mut layer.b, gb, &mut m.mb, &mut m.vb, lr_t);
                }
            }
        }
        Mlp { layers }
    }

    /// The predictions for every row of `x`.
    pub(crate) fn predict(&self, x: &Rows) -> Vec<f32> {
        let rows = x.len();
        let mut a = x.values.clone();
        let mut out = Vec::new();
        for (l, layer) in self.layers.iter().enumerate() {
            layer.forward(&a, rows, &mut out);
            if l + 1 < self.layers.len() {
                for v in out.iter_mut() {
                    *v = v.max(0.0);
                }
            }
            std::mem::swap(&mut a, &mut out);
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::rng_from_seed;

    fn training() -> Training {
        Training {
            hidden_layers: 3,
            hidden_units: 16,
            epochs: 300,
            batch_size: 8,
            learning_rate: 0.01,
        }
    }

    /// A noisy-free additive target on 12 binary features.
    fn data(n: usize, rng: &mut NasRng) -> (Vec<Vec<f64>>, Vec<f32>) {
        let coef = [
            3.0, -2.0, 1.0, 0.5, 4.0, -1.0, 2.0, 0.0, -3.0, 1.5, 0.7, -0.3,
        ];
        let x: Vec<Vec<f64>> = (0..n)
            .map(|_| {
                (0..12)
                    .map(|_| f64::from(u8::from(rng.random_bool(0.5))))
                    .collect()
            })
            .collect();
        let y = x
            .iter()
            .map(|r| 20.0 + r.iter().zip(coef).map(|(a, c)| a * c).sum::<f64>())
            .map(|v| v as f32)
            .collect();
        (x, y)
    }

    #[test]
    fn it_learns_an_additive_function_of_binary_features() {
        let mut rng = rng_from_seed(5);
        let (x, y) = data(200, &mut rng);
        let (xt, yt) = data(200, &mut rng);
        let net = Mlp::fit(&Rows::new(&x, 12), &y, &training(), &mut rng);
        let pred = net.predict(&Rows::new(&xt, 12));
        let mae: f32 = pred
            .iter()
            .zip(&yt)
            .map(|(p, t)| (p - t).abs())
            .sum::<f32>()
            / 200.0;
        let spread: f32 = {
            let mean = yt.iter().sum::<f32>() / 200.0;
            yt.iter().map(|t| (t - mean).abs()).sum::<f32>() / 200.0
        };
        assert!(
            mae < 0.25 * spread,
            "test MAE {mae}, mean absolute deviation {spread}"
        );
    }

    #[test]
    fn training_is_a_pure_function_of_data_and_stream() {
        let mut rng = rng_from_seed(6);
        let (x, y) = data(50, &mut rng);
        let rows = Rows::new(&x, 12);
        let a = Mlp::fit(&rows, &y, &training(), &mut rng_from_seed(7));
        let b = Mlp::fit(&rows, &y, &training(), &mut rng_from_seed(7));
        assert_eq!(a, b);
        let c = Mlp::fit(&rows, &y, &training(), &mut rng_from_seed(8));
        assert_ne!(a, c);
    }
}
