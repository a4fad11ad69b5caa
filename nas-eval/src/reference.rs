//! The candle reference backend: the same network built from stock candle ops, with the
//! same weights, data pipeline, dropout masks and optimiser as the native engine.
//!
//! It exists to check the engine (tests compare losses and gradients of the two) and
//! as a selectable backend (`backend = "candle"`). Only the forward and backward passes
//! are candle's: the optimiser runs on the engine's copy of the parameters, which is
//! written back to candle's variables after every step.
//!
//! - max pooling is crop + reshape + a one-hot mask of each window's first maximum,
//!   never `Tensor::max_pool2d` (candle 0.11 scales its gradient by 1/4 and misroutes it
//!   on odd feature maps) nor `max` (whose backward sends the gradient to every tied
//!   maximum, where PyTorch and the engine send it to the first);
//! - "same" padding of an even kernel pads `(k-1)/2` before and `k/2` after, as
//!   PyTorch's `padding="same"`;
//! - weights are converted between the engine's layout and PyTorch's (`out x in x kh x
//!   kw`, `out x in` with (c, h, w) flattening).
//!
//! candle's CPU matrix products split work by its thread count, so this backend is
//! deterministic for a given `threads` but not across thread counts.

use candle_core::{DType, Device, Tensor, Var};
use nas_core::{Activation, Geometry};
use rayon::ThreadPool;

use crate::backend::{Batch, Model};
use crate::engine::NasRng;
use crate::engine::dropout::{self, MaskPosition};
use crate::engine::loss::{LossSum, softmax_cross_entropy};
use crate::engine::network::{Op, Plan, Step, flat_to_engine};
use crate::engine::optim::{self, Optimizer};
use crate::engine::simd::SimdPath;
use crate::error::{Error, Result};

/// Converts a layer's weight from the engine's layout to PyTorch's.
fn to_torch(step: &Step, w: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; w.len()];
    match step.op {
        Op::Conv { geom, .. } => {
            let mut t = 0;
            for co in 0..geom.cout {
                for ci in 0..geom.cin {
                    for ky in 0..geom.k {
                        for kx in 0..geom.k {
                            let row = (ky * geom.k + kx) * geom.cin + ci;
                            out[t] = w[row * geom.cout + co];
                            t += 1;
                        }
                    }
                }
            }
        }
        Op::Dense { geom, .. } => {
            for o in 0..geom.nout {
                for i in 0..geom.nin {
                    out[o * geom.nin + i] = w[flat_to_engine(step.in_geometry, i) * geom.nout + o];
                }
            }
        }
        _ => {}
    }
    out
}

/// The inverse of [`to_torch`].
fn from_torch(step: &Step, t: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; t.len()];
    match step.op {
        Op::Conv { geom, .. } => {
            let mut i = 0;
            for co in 0..geom.cout {
                for ci in 0..geom.cin {
                    for ky in 0..geom.k {
                        for kx in 0..geom.k {
                            let row = (ky * geom.k + kx) * geom.cin + ci;
                            out[row * geom.cout + co] = t[i];
                            i += 1;
                        }
                    }
                }
            }
        }
        Op::Dense { geom, .. } => {
            for o in 0..geom.nout {
                for i in 0..geom.nin {
                    out[flat_to_engine(step.in_geometry, i) * geom.nout + o] = t[o * geom.nin + i];
                }
            }
        }
        _ => {}
    }
    out
}

fn act(x: Tensor, a: Activation) -> candle_core::Result<Tensor> {
    match a {
        Activation::Relu => x.relu(),
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => candle_nn::ops::sigmoid(&x),
        Activation::Gelu => x.gelu_erf(),
    }
}

/// The candle backend.
pub(crate) struct CandleModel {
    plan: Plan,
    /// Per plan step: (weight, bias) variables for layers with parameters.
    vars: Vec<Option<(Var, Var)>>,
    params: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    optimizer: Optimizer,
    t: u64,
    batch_size: usize,
    dropout_rng: NasRng,
    pool: ThreadPool,
    path: SimdPath,
    x: Vec<f32>,
    labels: Vec<u8>,
}

impl CandleModel {
    /// The network of `plan` with the engine-layout `params` (the optimiser runs on the
    /// engine's kernels of `path`).
    pub fn new(
        path: SimdPath,
        plan: Plan,
        params: &[f32],
        optimizer: Optimizer,
        batch_size: usize,
        threads: usize,
        dropout_rng: NasRng,
    ) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Threads {
                threads,
                reason: e.to_string(),
            })?;
        let mut vars = Vec::with_capacity(plan.steps.len());
        for step in &plan.steps {
            let shape: Option<Vec<usize>> = match step.op {
                Op::Conv { geom, .. } => Some(vec![geom.cout, geom.cin, geom.k, geom.k]),
                Op::Dense { geom, .. } => Some(vec![geom.nout, geom.nin]),
                _ => None,
            };
            vars.push(match shape {
                Some(shape) => {
                    let w = to_torch(step, &params[step.weight..step.bias]);
                    let b = &params[step.bias..step.bias + step.bias_len()];
                    Some((
                        Var::from_tensor(&Tensor::from_vec(w, shape, &Device::Cpu)?)?,
                        Var::from_tensor(&Tensor::from_slice(b, step.bias_len(), &Device::Cpu)?)?,
                    ))
                }
                None => None,
            });
        }
        let n = plan.params;
        let input_len = plan.input_len();
        Ok(CandleModel {
            plan,
            vars,
            params: params.to_vec(),
            m: vec![0.0; n],
            v: vec![0.0; n],
            optimizer,
            t: 0,
            batch_size,
            dropout_rng,
            pool,
            path,
            x: vec![0.0; batch_size * input_len],
            labels: vec![0; batch_size],
        })
    }

    /// The logits of `n` channels-last inputs; dropout masks drawn for step `step` when
    /// training.
    fn forward(&self, x: &[f32], n: usize, train: Option<u64>) -> candle_core::Result<Tensor> {
        let s = self.plan.input;
        let (c, h, w) = (s.channels as usize, s.height as usize, s.width as usize);
        let mut t = Tensor::from_slice(&x[..n * c * h * w], (n, h, w, c), &Device::Cpu)?
            .permute((0, 3, 1, 2))?
            .contiguous()?;
        for (l, step) in self.plan.steps.iter().enumerate() {
            t = match step.op {
                Op::Conv { geom, act: a } => {
                    let (wv, bv) = self.vars[l].as_ref().expect("conv has parameters");
                    let (before, after) =
                        (geom.pad, (geom.hout + geom.k - 1) - geom.hin - geom.pad);
                    let padded = if before + after > 0 {
                        t.pad_with_zeros(2, before, after)?
                            .pad_with_zeros(3, before, after)?
                    } else {
                        t
                    };
                    let y = padded.conv2d(wv.as_tensor(), 0, 1, 1, 1)?;
                    let y = y.broadcast_add(&bv.as_tensor().reshape((1, geom.cout, 1, 1))?)?;
                    act(y, a)?
                }
                Op::Pool(geom) => {
                    // Each window's four values in row-major order; the output is the
                    // first maximum times a one-hot mask, so the gradient reaches that
                    // one element, as PyTorch's max_pool2d routes it (candle's `max`
                    // backward sends it to every tied maximum, and ties are common: a
                    // zero background gives equal activations).
                    let (ho, wo) = (geom.hout(), geom.wout());
                    let windows = t
                        .narrow(2, 0, 2 * ho)?
                        .narrow(3, 0, 2 * wo)?
                        .reshape((n, geom.c, ho, 2, wo, 2))?
                        .permute((0, 1, 2, 4, 3, 5))?
                        .reshape((n, geom.c, ho, wo, 4))?;
                    let first = windows.detach().argmax_keepdim(4)?;
                    let lanes = Tensor::arange(0u32, 4, &Device::Cpu)?;
                    let one_hot = first.broadcast_eq(&lanes)?.to_dtype(DType::F32)?;
                    (windows * one_hot)?.sum(4)?
                }
                Op::Dense { geom, act: a } => {
                    let (wv, bv) = self.vars[l].as_ref().expect("dense has parameters");
                    let flat = t.reshape((n, geom.nin))?;
                    let y = flat
                        .matmul(&wv.as_tensor().t()?)?
                        .broadcast_add(bv.as_tensor())?;
                    match a {
                        Some(a) => act(y, a)?,
                        None => y,
                    }
                }
                Op::Dropout(spec) => match train {
                    None => t,
                    Some(step_index) => {
                        let at = MaskPosition {
                            step_base: u128::from(step_index)
                                * self.batch_size as u128
                                * self.plan.dropout_words as u128,
                            first_example: 0,
                            words_per_example: self.plan.dropout_words,
                        };
                        let ones = vec![1.0f32; n * spec.len];
                        let mut out = vec![0.0f32; n * spec.len];
                        let mut mask = vec![0.0f32; n * spec.len];
                        let mut rng = self.dropout_rng.clone();
                        dropout::forward_train(&spec, n, at, &mut rng, &ones, &mut out, &mut mask);
                        let mask = match step.in_geometry {
                            Geometry::Spatial {
                                channels,
                                height,
                                width,
                            } => Tensor::from_vec(
                                mask,
                                (n, height as usize, width as usize, channels as usize),
                                &Device::Cpu,
                            )?
                            .permute((0, 3, 1, 2))?,
                            Geometry::Flat { features } => {
                                Tensor::from_vec(mask, (n, features as usize), &Device::Cpu)?
                            }
                        };
                        t.mul(&mask)?
                    }
                },
            };
        }
        Ok(t)
    }

    /// Loss sum and the engine-layout gradient of the batch-mean loss.
    fn loss_and_grads(
        &self,
        x: &[f32],
        labels: &[u8],
        step: u64,
    ) -> candle_core::Result<(f64, Vec<f32>)> {
        let n = labels.len();
        let logits = self.forward(x, n, Some(step))?;
        let targets: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
        let targets = Tensor::from_vec(targets, n, &Device::Cpu)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &targets)?;
        let loss_value = f64::from(loss.to_dtype(DType::F32)?.to_scalar::<f32>()?) * n as f64;
        let grads = loss.backward()?;
        let mut flat = vec![0.0f32; self.plan.params];
        for (step, vars) in self.plan.steps.iter().zip(&self.vars) {
            let Some((wv, bv)) = vars else { continue };
            let gw = match grads.get(wv.as_tensor()) {
                Some(g) => g.flatten_all()?.to_vec1::<f32>()?,
                None => vec![0.0; step.weight_len()],
            };
            let gb = match grads.get(bv.as_tensor()) {
                Some(g) => g.to_vec1::<f32>()?,
                None => vec![0.0; step.bias_len()],
            };
            flat[step.weight..step.bias].copy_from_slice(&from_torch(step, &gw));
            flat[step.bias..step.bias + step.bias_len()].copy_from_slice(&gb);
        }
        Ok((loss_value, flat))
    }

    /// Loss sum and gradient for explicit channels-last inputs (tests).
    #[cfg(test)]
    pub fn gradients(&self, x: &[f32], labels: &[u8], step: u64) -> (Vec<f32>, f64) {
        let (loss, g) = self
            .pool
            .install(|| self.loss_and_grads(x, labels, step))
            .expect("candle forward/backward");
        (g, loss)
    }

    fn write_back(&self) -> candle_core::Result<()> {
        for (step, vars) in self.plan.steps.iter().zip(&self.vars) {
            let Some((wv, bv)) = vars else { continue };
            let w = to_torch(step, &self.params[step.weight..step.bias]);
            wv.set(&Tensor::from_vec(w, wv.shape(), &Device::Cpu)?)?;
            let b = &self.params[step.bias..step.bias + step.bias_len()];
            bv.set(&Tensor::from_slice(b, step.bias_len(), &Device::Cpu)?)?;
        }
        Ok(())
    }
}

impl Model for CandleModel {
    fn train_step(&mut self, batch: Batch<'_>, step: u64, lr_scale: f64) -> Result<f64> {
        let n = batch.indices.len();
        let mut x = std::mem::take(&mut self.x);
        let mut labels = std::mem::take(&mut self.labels);
        batch
            .norm
            .gather(batch.images, batch.indices, &mut x, &mut labels);
        let result = self
            .pool
            .install(|| self.loss_and_grads(&x, &labels[..n], step));
        self.x = x;
        self.labels = labels;
        let (loss, grads) = result?;
        if !loss.is_finite() {
            return Ok(loss);
        }
        self.t += 1;
        let s = self.optimizer.step(self.t, lr_scale);
        optim::update(
            self.path,
            s,
            &mut self.params,
            0,
            &[&grads],
            &mut self.m,
            &mut self.v,
        );
        self.write_back()?;
        Ok(loss)
    }

    fn weights(&self) -> Vec<f32> {
        self.params.clone()
    }

    fn evaluate(&mut self, batch: Batch<'_>) -> Result<LossSum> {
        let mut total = LossSum::default();
        let len = self.plan.input_len();
        for idx in batch.indices.chunks(self.batch_size) {
            let n = idx.len();
            batch
                .norm
                .gather(batch.images, idx, &mut self.x, &mut self.labels);
            let logits = self
                .pool
                .install(|| self.forward(&self.x[..n * len], n, None))?
                .flatten_all()?
                .to_vec1::<f32>()?;
            let s = softmax_cross_entropy(&logits, &self.labels[..n], self.plan.classes, 1.0, None);
            total.loss += s.loss;
            total.correct += s.correct;
        }
        Ok(total)
    }
}
