//! nas-eval's own CPU training engine for the layer types of the search space.
//!
//! Why not stock candle: on a 2-core AVX-512 machine candle 0.11 trains the reference
//! CNN at ~550 img/s against ~7,500 for PyTorch, its `max_pool2d` backward is wrong, and
//! its CPU RNG cannot be seeded. The engine is small and specialised instead:
//!
//! - **layout**: channels-last (NHWC) activations; direct convolution from a
//!   zero-padded copy of each image ([`conv`]), dense layers as one product
//!   ([`dense`], [`gemm`]), bias and activation fused into one pass ([`activation`]) or
//!   into the convolution's kernel (ReLU), exact 2x2 max pooling ([`pool`]), fused
//!   softmax cross-entropy ([`loss`]), inverted dropout ([`dropout`]); the layers before
//!   the first dense one run image by image, so that an image's feature maps stay in
//!   cache ([`network`]);
//! - **numerics**: every sum of products is one chain of fused multiply-adds in an
//!   order fixed by the program ([`kernels`]), and every other operation is the same
//!   sequence of IEEE operations on every kernel family ([`simd`]: scalar, AVX2,
//!   AVX-512, chosen at run time or by `NAS_SIMD`): the same bits on every x86-64 CPU
//!   ([`NUMERIC_CONTRACT`]);
//! - **memory**: every buffer is allocated when a model is built (or, for the packed
//!   blocks of a matrix product, at the first step) and reused by every step
//!   ([`network::Workspace`]);
//! - **threads**: a batch is cut into micro-batches of a fixed size (a training
//!   parameter, independent of the thread count); each micro-batch runs forward and
//!   backward on one thread with its own partial gradient; the partial gradients are
//!   summed in micro-batch order, parameter block by parameter block, fused with the
//!   optimiser update ([`optim`]). One thread or eight give bit-identical results;
//! - **randomness**: weights, batch order and dropout masks come from the trial's
//!   ChaCha8 streams ([`init`], [`dropout`]).

pub(crate) mod activation;
pub(crate) mod avgpool;
pub(crate) mod batchnorm;
pub(crate) mod cellnet;
pub(crate) mod conv;
pub(crate) mod dense;
pub(crate) mod depthwise;
pub(crate) mod dropout;
pub(crate) mod gemm;
pub(crate) mod init;
pub(crate) mod kernels;
pub(crate) mod loss;
pub(crate) mod network;
pub(crate) mod optim;
pub(crate) mod pool;
pub(crate) mod simd;
pub(crate) mod strided;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

pub(crate) use nas_core::NasRng;
pub(crate) use optim::Optimizer;

use crate::backend::{Batch, Model, TrainState};
use crate::error::{Error, Result};
use dropout::MaskPosition;
use loss::LossSum;
use network::{Mode, Plan, Workspace};
use simd::SimdPath as Path;
pub use simd::{SimdPath, simd_path};

/// Version of the engine's numeric contract: which sequence of roundings produces every
/// number a trained network yields (see "Numerics" in nas-eval's README, and the
/// engine's `kernels` module for the sums of products). Results of the same
/// architecture, seed, parameters and data are bit-identical across machines, kernel
/// families and thread counts when this number is the same; it changes whenever a
/// change to the engine changes any trained bit.
///
/// 1: the engine up to nas 0.1.0 (`gemm` crate, separate multiply and add elsewhere,
/// platform `exp`/`ln` in the loss: machine-dependent in the last bits).
/// 2: fixed-order fused multiply-add chains in every product and convolution, own
/// f64 `exp`/`ln`, identical on the scalar, AVX2 and AVX-512 kernels.
pub const NUMERIC_CONTRACT: u32 = 2;

/// Parameters per block of the parallel gradient reduction and update.
const UPDATE_BLOCK: usize = 1 << 14;
/// Micro-batches per step whose gradients are referenced from the stack.
const STACK_CHUNKS: usize = 64;

/// Runs `f` on every item, on the pool's threads when there is a pool.
fn for_each_item<T: Send>(
    pool: Option<&rayon::ThreadPool>,
    items: &mut [T],
    f: impl Fn(usize, &mut T) + Sync + Send,
) {
    match pool {
        Some(pool) if items.len() > 1 => pool.install(|| {
            items
                .par_iter_mut()
                .with_max_len(1)
                .enumerate()
                .for_each(|(i, t)| f(i, t));
        }),
        _ => items.iter_mut().enumerate().for_each(|(i, t)| f(i, t)),
    }
}

/// The pool a model with `threads` threads runs on (None for one thread).
fn thread_pool(threads: usize) -> Result<Option<rayon::ThreadPool>> {
    if threads <= 1 {
        return Ok(None);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("nas-eval-{i}"))
        .build()
        .map(Some)
        .map_err(|e| Error::Threads {
            threads,
            reason: e.to_string(),
        })
}

/// A model's optimiser with its state: the moment buffers (empty when unused) and the
/// number of steps taken.
pub(crate) struct OptimState {
    optimizer: Optimizer,
    m: Vec<f32>,
    v: Vec<f32>,
    t: u64,
}

impl OptimState {
    /// `optimizer` before its first step on `n` parameters.
    fn new(optimizer: Optimizer, n: usize) -> Self {
        OptimState {
            optimizer,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// The training state of `params` (and batch-norm `running` statistics) with this
    /// optimiser's moments and step count.
    fn state(&self, params: &[f32], running: Vec<f32>) -> TrainState {
        TrainState {
            params: params.to_vec(),
            m: self.m.clone(),
            v: self.v.clone(),
            t: self.t,
            running,
        }
    }

    /// Back to `state` (of a network with as many parameters): its parameters into
    /// `params`, its moments and step count here.
    fn restore(&mut self, params: &mut [f32], state: &TrainState) {
        assert_eq!(
            (state.params.len(), state.m.len(), state.v.len()),
            (params.len(), self.m.len(), self.v.len()),
            "state of another network"
        );
        params.copy_from_slice(&state.params);
        self.m.copy_from_slice(&state.m);
        self.v.copy_from_slice(&state.v);
        self.t = state.t;
    }

    /// The next step on `params` from the micro-batches' partial gradients, with the
    /// learning rate scaled by `lr_scale` (see [`update_params`]).
    fn step(
        &mut self,
        pool: Option<&rayon::ThreadPool>,
        path: Path,
        params: &mut [f32],
        partials: &[&[f32]],
        lr_scale: f64,
    ) {
        self.t += 1;
        let step = self.optimizer.step(self.t, lr_scale);
        update_params(
            pool,
            path,
            step,
            (params, &mut self.m, &mut self.v),
            partials,
        );
    }
}

/// One optimiser step on every parameter, from the micro-batches' partial gradients
/// (summed in micro-batch order), block by block, on the pool's threads when there is a
/// pool: the same bits whatever the thread count.
fn update_params(
    pool: Option<&rayon::ThreadPool>,
    path: Path,
    step: optim::Step,
    (params, m, v): (&mut [f32], &mut [f32], &mut [f32]),
    partials: &[&[f32]],
) {
    match pool {
        Some(pool) if params.len() > UPDATE_BLOCK => pool.install(|| {
            params
                .par_chunks_mut(UPDATE_BLOCK)
                .zip(m.par_chunks_mut(UPDATE_BLOCK))
                .zip(v.par_chunks_mut(UPDATE_BLOCK))
                .enumerate()
                .for_each(|(i, ((p, m), v))| {
                    optim::update(path, step, p, i * UPDATE_BLOCK, partials, m, v);
                });
        }),
        _ => {
            let blocks = params
                .chunks_mut(UPDATE_BLOCK)
                .zip(m.chunks_mut(UPDATE_BLOCK))
                .zip(v.chunks_mut(UPDATE_BLOCK));
            for (i, ((p, m), v)) in blocks.enumerate() {
                optim::update(path, step, p, i * UPDATE_BLOCK, partials, m, v);
            }
        }
    }
}

/// A network with its parameters, optimiser state and workspaces: the native backend.
pub(crate) struct NativeModel {
    plan: Plan,
    params: Vec<f32>,
    optim: OptimState,
    workspaces: Vec<Workspace>,
    micro: usize,
    batch_size: usize,
    dropout_rng: NasRng,
    pool: Option<rayon::ThreadPool>,
    path: Path,
}

impl NativeModel {
    /// A model for `plan` with initial `params`, training batches of up to `batch_size`
    /// examples in micro-batches of `micro` on `threads` threads, with the kernels of
    /// `path`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        path: Path,
        plan: Plan,
        params: Vec<f32>,
        optimizer: Optimizer,
        batch_size: usize,
        micro: usize,
        threads: usize,
        dropout_rng: NasRng,
    ) -> Result<Self> {
        let micro = micro.min(batch_size).max(1);
        let chunks = batch_size.div_ceil(micro);
        let workspaces = (0..chunks)
            .map(|_| Workspace::new(&plan, micro, path))
            .collect();
        let pool = thread_pool(threads)?;
        let n = plan.params;
        Ok(NativeModel {
            plan,
            params,
            optim: OptimState::new(optimizer, n),
            workspaces,
            micro,
            batch_size,
            dropout_rng,
            pool,
            path,
        })
    }

    /// Forward (and backward when `grads`) over explicit channels-last inputs
    /// (`n x input_len`) in training mode for step `step`, without updating: the loss sum
    /// and the summed partial gradients of the batch-mean loss. For the gradient checks
    /// and the candle comparison.
    #[cfg(test)]
    pub fn gradients(
        &mut self,
        x: &[f32],
        labels: &[u8],
        step: u64,
        grads: bool,
    ) -> (Vec<f32>, f64) {
        let n = labels.len();
        let len = self.plan.input_len();
        let chunks = n.div_ceil(self.micro);
        let (plan, params, micro) = (&self.plan, &self.params, self.micro);
        let at = self.mask_base(step);
        let rng = &self.dropout_rng;
        for_each_item(
            self.pool.as_ref(),
            &mut self.workspaces[..chunks],
            |c, ws| {
                let lo = c * micro;
                let hi = (lo + micro).min(n);
                ws.x[..(hi - lo) * len].copy_from_slice(&x[lo * len..hi * len]);
                ws.labels[..hi - lo].copy_from_slice(&labels[lo..hi]);
                let at = MaskPosition {
                    first_example: lo,
                    ..at
                };
                forward(plan, params, ws, hi - lo, Mode::Train { rng, at });
                ws.last = network::loss(plan, ws, hi - lo, grads.then_some(1.0 / n as f32));
                if grads {
                    network::backward(plan, params, ws, hi - lo);
                }
            },
        );
        let loss = self.workspaces[..chunks].iter().map(|w| w.last.loss).sum();
        let mut g = vec![0.0f32; self.plan.params];
        if grads {
            let partials: Vec<&[f32]> = self.workspaces[..chunks]
                .iter()
                .map(|w| &w.grads[..])
                .collect();
            optim::sum_partials(self.path, &mut g, &partials, 0);
        }
        (g, loss)
    }

    fn mask_base(&self, step: u64) -> MaskPosition {
        MaskPosition {
            step_base: u128::from(step) * self.batch_size as u128 * self.plan.dropout_words as u128,
            first_example: 0,
            words_per_example: self.plan.dropout_words,
        }
    }

    /// Replaces the parameters (tests).
    #[cfg(test)]
    pub fn set_params(&mut self, params: Vec<f32>) {
        assert_eq!(params.len(), self.plan.params);
        self.params = params;
    }
}

use network::forward;

impl Model for NativeModel {
    fn train_step(&mut self, batch: Batch<'_>, step: u64, lr_scale: f64) -> Result<f64> {
        let n = batch.indices.len();
        assert!(
            n <= self.batch_size,
            "batch larger than the model was built for"
        );
        let chunks = n.div_ceil(self.micro);
        let (plan, params, micro) = (&self.plan, &self.params, self.micro);
        let at = self.mask_base(step);
        let rng = &self.dropout_rng;
        let scale = 1.0 / n as f32;
        for_each_item(
            self.pool.as_ref(),
            &mut self.workspaces[..chunks],
            |c, ws| {
                let lo = c * micro;
                let idx = &batch.indices[lo..(lo + micro).min(n)];
                let k = idx.len();
                batch
                    .norm
                    .gather(batch.images, idx, &mut ws.x, &mut ws.labels);
                let at = MaskPosition {
                    first_example: lo,
                    ..at
                };
                forward(plan, params, ws, k, Mode::Train { rng, at });
                ws.last = network::loss(plan, ws, k, Some(scale));
                network::backward(plan, params, ws, k);
            },
        );
        let loss: f64 = self.workspaces[..chunks].iter().map(|w| w.last.loss).sum();
        if !loss.is_finite() {
            return Ok(loss);
        }
        // The partial gradients, by reference, on the stack (no allocation per step
        // unless a batch has more than STACK_CHUNKS micro-batches).
        let empty: &[f32] = &[];
        let mut on_stack = [empty; STACK_CHUNKS];
        let on_heap: Vec<&[f32]>;
        let partials: &[&[f32]] = if chunks <= STACK_CHUNKS {
            for (slot, ws) in on_stack.iter_mut().zip(&self.workspaces[..chunks]) {
                *slot = &ws.grads;
            }
            &on_stack[..chunks]
        } else {
            on_heap = self.workspaces[..chunks]
                .iter()
                .map(|w| &w.grads[..])
                .collect();
            &on_heap
        };
        self.optim.step(
            self.pool.as_ref(),
            self.path,
            &mut self.params,
            partials,
            lr_scale,
        );
        Ok(loss)
    }

    fn weights(&self) -> Vec<f32> {
        self.params.clone()
    }

    fn save(&self) -> Option<TrainState> {
        Some(self.optim.state(&self.params, Vec::new()))
    }

    fn restore(&mut self, state: &TrainState) {
        self.optim.restore(&mut self.params, state);
    }

    fn evaluate(&mut self, batch: Batch<'_>) -> Result<LossSum> {
        let mut total = LossSum::default();
        let (plan, params, micro) = (&self.plan, &self.params, self.micro);
        let wave = micro * self.workspaces.len();
        for part in batch.indices.chunks(wave) {
            let chunks = part.len().div_ceil(micro);
            for_each_item(
                self.pool.as_ref(),
                &mut self.workspaces[..chunks],
                |c, ws| {
                    let idx = &part[c * micro..((c + 1) * micro).min(part.len())];
                    batch
                        .norm
                        .gather(batch.images, idx, &mut ws.x, &mut ws.labels);
                    forward(plan, params, ws, idx.len(), Mode::Eval);
                    ws.last = network::loss(plan, ws, idx.len(), None);
                },
            );
            for ws in &self.workspaces[..chunks] {
                total.loss += ws.last.loss;
                total.correct += ws.last.correct;
            }
        }
        Ok(total)
    }
}
