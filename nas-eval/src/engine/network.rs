//! A network built from an [`Architecture`]: the layer plan, its parameters and the
//! per-micro-batch workspace, with the forward and backward passes.
//!
//! Activations are channels-last (NHWC) within a micro-batch; a dense layer reads a
//! feature map flattened in (h, w, c) order. Every buffer is allocated once, when the
//! workspace is created, and reused by every step.

use nas_core::{Activation, Architecture, Geometry, InputShape, Layer, Padding};

use super::NasRng;
use super::conv::{self, ConvGeom};
use super::dense::{self, DenseGeom};
use super::dropout::{self, DropoutSpec, MaskPosition};
use super::init;
use super::loss::{LossSum, softmax_cross_entropy};
use super::pool::{self, PoolGeom};

/// One layer of the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    /// Convolution + bias + activation.
    Conv {
        /// Geometry.
        geom: ConvGeom,
        /// Activation.
        act: Activation,
    },
    /// 2x2 max pooling.
    Pool(PoolGeom),
    /// Dense + bias + optional activation (none for the head).
    Dense {
        /// Shape.
        geom: DenseGeom,
        /// Activation, None for the classifier head.
        act: Option<Activation>,
    },
    /// Dropout.
    Dropout(DropoutSpec),
}

/// A planned layer: the op, where its parameters live and its sizes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    /// What the layer does.
    pub op: Op,
    /// Offset of the weight in the flat parameter vector.
    pub weight: usize,
    /// Offset of the bias (right after the weight).
    pub bias: usize,
    /// Values per example entering the layer.
    pub in_len: usize,
    /// Values per example leaving the layer.
    pub out_len: usize,
    /// Whether the backward pass must produce the gradient of the layer's input (some
    /// earlier layer has parameters).
    pub input_grad: bool,
    /// The geometry entering the layer (for the candle reference and the init order).
    pub in_geometry: Geometry,
}

impl Step {
    /// Number of weights.
    pub fn weight_len(&self) -> usize {
        self.bias - self.weight
    }
    /// Number of biases.
    pub fn bias_len(&self) -> usize {
        match self.op {
            Op::Conv { geom, .. } => geom.cout,
            Op::Dense { geom, .. } => geom.nout,
            _ => 0,
        }
    }
}

/// The layers of a network on an input shape, with its classifier head.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// Input shape.
    pub input: InputShape,
    /// Hidden layers, then the head.
    pub steps: Vec<Step>,
    /// Number of classes.
    pub classes: usize,
    /// Number of parameters.
    pub params: usize,
    /// Dropout words per example.
    pub dropout_words: usize,
}

/// Why a cell or macro network cannot be trained (yet).
pub(crate) fn untrainable(arch: &Architecture) -> String {
    format!(
        "nas's engine trains chain architectures only so far; this is a {} architecture (search {} spaces with a tabular benchmark, e.g. benchmarks/nas-bench-201)",
        arch.kind_name(),
        arch.kind_name()
    )
}

impl Plan {
    /// Plans `arch` on `input` with a head of `classes` outputs, or says why it cannot
    /// be built.
    pub fn new(arch: &Architecture, input: InputShape, classes: u32) -> Result<Plan, String> {
        if input.is_empty() || classes == 0 {
            return Err(format!("input {input} with {classes} classes"));
        }
        let arch = arch.as_chain().ok_or_else(|| untrainable(arch))?;
        let geometries = arch.geometries(input)?;
        let mut steps = Vec::with_capacity(arch.depth() + 1);
        let mut prev = input.geometry();
        let mut params = 0usize;
        let mut dropout_words = 0usize;
        let mut has_params = false;
        let as_usize = |x: u32| x as usize;
        for (layer, next) in arch.layers().iter().zip(geometries) {
            let in_len = prev.len() as usize;
            let out_len = next.len() as usize;
            let (op, n_params) = match (*layer, prev, next) {
                (
                    Layer::Conv2d {
                        kernel,
                        activation,
                        padding,
                        ..
                    },
                    Geometry::Spatial {
                        channels,
                        height,
                        width,
                    },
                    Geometry::Spatial {
                        channels: cout,
                        height: hout,
                        width: wout,
                    },
                ) => {
                    let k = as_usize(kernel);
                    let pad = match padding {
                        Padding::Same => (k - 1) / 2,
                        Padding::Valid => 0,
                    };
                    let geom = ConvGeom {
                        cin: as_usize(channels),
                        cout: as_usize(cout),
                        k,
                        pad,
                        hin: as_usize(height),
                        win: as_usize(width),
                        hout: as_usize(hout),
                        wout: as_usize(wout),
                    };
                    (
                        Op::Conv {
                            geom,
                            act: activation,
                        },
                        geom.patch() * geom.cout + geom.cout,
                    )
                }
                (
                    Layer::MaxPool2d,
                    Geometry::Spatial {
                        channels,
                        height,
                        width,
                    },
                    _,
                ) => (
                    Op::Pool(PoolGeom {
                        c: as_usize(channels),
                        hin: as_usize(height),
                        win: as_usize(width),
                    }),
                    0,
                ),
                (Layer::Dense { units, activation }, _, _) => {
                    let geom = DenseGeom {
                        nin: in_len,
                        nout: as_usize(units),
                    };
                    (
                        Op::Dense {
                            geom,
                            act: Some(activation),
                        },
                        geom.nin * geom.nout + geom.nout,
                    )
                }
                (Layer::Dropout { rate }, _, _) => {
                    let spec = DropoutSpec::new(in_len, rate.as_f64(), dropout_words);
                    dropout_words += in_len;
                    (Op::Dropout(spec), 0)
                }
                (layer, g, _) => return Err(format!("`{layer}` cannot follow {g:?}")),
            };
            let weight = params;
            let bias = params + n_params - bias_len_of(&op);
            steps.push(Step {
                op,
                weight,
                bias,
                in_len,
                out_len,
                input_grad: has_params,
                in_geometry: prev,
            });
            has_params |= n_params > 0;
            params += n_params;
            prev = next;
        }
        let geom = DenseGeom {
            nin: prev.len() as usize,
            nout: classes as usize,
        };
        steps.push(Step {
            op: Op::Dense { geom, act: None },
            weight: params,
            bias: params + geom.nin * geom.nout,
            in_len: geom.nin,
            out_len: geom.nout,
            input_grad: has_params,
            in_geometry: prev,
        });
        params += geom.nin * geom.nout + geom.nout;
        Ok(Plan {
            input,
            steps,
            classes: classes as usize,
            params,
            dropout_words,
        })
    }

    /// Values per input example.
    pub fn input_len(&self) -> usize {
        self.input.len()
    }

    /// Fresh parameters, PyTorch's default initialisation drawn from `rng` (see
    /// [`init`](super::init)).
    pub fn init_params(&self, rng: &mut NasRng) -> Vec<f32> {
        let mut p = vec![0.0f32; self.params];
        for step in &self.steps {
            match step.op {
                Op::Conv { geom, .. } => {
                    let b = init::bound(geom.patch());
                    // PyTorch order: [cout][cin][ky][kx]; engine: [(ky, kx, cin)][cout].
                    for co in 0..geom.cout {
                        for ci in 0..geom.cin {
                            for ky in 0..geom.k {
                                for kx in 0..geom.k {
                                    let row = (ky * geom.k + kx) * geom.cin + ci;
                                    p[step.weight + row * geom.cout + co] = init::uniform(rng, b);
                                }
                            }
                        }
                    }
                    for co in 0..geom.cout {
                        p[step.bias + co] = init::uniform(rng, b);
                    }
                }
                Op::Dense { geom, .. } => {
                    let b = init::bound(geom.nin);
                    for o in 0..geom.nout {
                        for i in 0..geom.nin {
                            let row = flat_to_engine(step.in_geometry, i);
                            p[step.weight + row * geom.nout + o] = init::uniform(rng, b);
                        }
                    }
                    for o in 0..geom.nout {
                        p[step.bias + o] = init::uniform(rng, b);
                    }
                }
                Op::Pool(_) | Op::Dropout(_) => {}
            }
        }
        p
    }
}

fn bias_len_of(op: &Op) -> usize {
    match op {
        Op::Conv { geom, .. } => geom.cout,
        Op::Dense { geom, .. } => geom.nout,
        _ => 0,
    }
}

/// The engine's index of the `i`-th value of a PyTorch-flattened (c, h, w) input.
pub(crate) fn flat_to_engine(g: Geometry, i: usize) -> usize {
    match g {
        Geometry::Spatial {
            channels,
            height,
            width,
        } => {
            let (c, h, w) = (channels as usize, height as usize, width as usize);
            let ch = i / (h * w);
            let y = (i / w) % h;
            let x = i % w;
            (y * w + x) * c + ch
        }
        Geometry::Flat { .. } => i,
    }
}

/// Scratch and activations for one micro-batch of up to `capacity` examples.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    capacity: usize,
    /// Inputs, `capacity x input_len`, channels-last.
    pub x: Vec<f32>,
    /// Labels.
    pub labels: Vec<u8>,
    outs: Vec<Vec<f32>>,
    /// Per layer: pre-activations (GELU), pooling winners, dropout masks.
    pre: Vec<Vec<f32>>,
    args: Vec<Vec<u8>>,
    masks: Vec<Vec<f32>>,
    grad_a: Vec<f32>,
    grad_b: Vec<f32>,
    scratch: Vec<f32>,
    /// Parameter gradients of the last backward pass (this micro-batch's share).
    pub grads: Vec<f32>,
    /// The loss of the last pass.
    pub last: LossSum,
}

impl Workspace {
    /// Buffers for `plan` and up to `capacity` examples.
    pub fn new(plan: &Plan, capacity: usize) -> Self {
        let n = capacity;
        let mut outs = Vec::new();
        let mut pre = Vec::new();
        let mut args = Vec::new();
        let mut masks = Vec::new();
        let mut scratch = 0;
        let mut widest = plan.input_len();
        for step in &plan.steps {
            outs.push(vec![0.0; n * step.out_len]);
            widest = widest.max(step.out_len);
            let gelu = matches!(
                step.op,
                Op::Conv {
                    act: Activation::Gelu,
                    ..
                } | Op::Dense {
                    act: Some(Activation::Gelu),
                    ..
                }
            );
            pre.push(if gelu {
                vec![0.0; n * step.out_len]
            } else {
                Vec::new()
            });
            args.push(if matches!(step.op, Op::Pool(_)) {
                vec![0; n * step.out_len]
            } else {
                Vec::new()
            });
            masks.push(if matches!(step.op, Op::Dropout(_)) {
                vec![0.0; n * step.out_len]
            } else {
                Vec::new()
            });
            if let Op::Conv { geom, .. } = step.op {
                scratch = scratch.max(geom.scratch_len(n));
            }
        }
        Workspace {
            capacity,
            x: vec![0.0; n * plan.input_len()],
            labels: vec![0; n],
            outs,
            pre,
            args,
            masks,
            grad_a: vec![0.0; n * widest],
            grad_b: vec![0.0; n * widest],
            scratch: vec![0.0; scratch],
            grads: vec![0.0; plan.params],
            last: LossSum::default(),
        }
    }
}

/// How a forward pass treats dropout.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode<'a> {
    /// Dropout is the identity.
    Eval,
    /// Dropout draws its masks from `rng` at `at`.
    Train {
        /// The dropout stream.
        rng: &'a NasRng,
        /// Where this micro-batch's masks start.
        at: MaskPosition,
    },
}

/// Forward pass over the first `n` examples of `ws.x`.
pub(crate) fn forward(plan: &Plan, params: &[f32], ws: &mut Workspace, n: usize, mode: Mode<'_>) {
    assert!(n <= ws.capacity, "micro-batch larger than its workspace");
    let mut rng = match mode {
        Mode::Train { rng, .. } if plan.dropout_words > 0 => Some(rng.clone()),
        _ => None,
    };
    for (l, step) in plan.steps.iter().enumerate() {
        let (done, rest) = ws.outs.split_at_mut(l);
        let input: &[f32] = if l == 0 { &ws.x } else { &done[l - 1] };
        let out = &mut rest[0];
        match step.op {
            Op::Conv { geom, act } => conv::forward(
                &geom,
                n,
                input,
                &params[step.weight..step.bias],
                &params[step.bias..step.bias + geom.cout],
                act,
                out,
                &mut ws.pre[l],
                &mut ws.scratch,
            ),
            Op::Pool(geom) => pool::forward(&geom, n, input, out, &mut ws.args[l]),
            Op::Dense { geom, act } => dense::forward(
                &geom,
                n,
                input,
                &params[step.weight..step.bias],
                &params[step.bias..step.bias + geom.nout],
                act,
                out,
                &mut ws.pre[l],
            ),
            Op::Dropout(spec) => match (mode, rng.as_mut()) {
                (Mode::Train { at, .. }, Some(rng)) => {
                    dropout::forward_train(&spec, n, at, rng, input, out, &mut ws.masks[l]);
                }
                _ => out[..n * spec.len].copy_from_slice(&input[..n * spec.len]),
            },
        }
    }
}

/// Loss of the last forward pass against `ws.labels`; with `scale`, also the gradient
/// of `scale * loss sum` with respect to the logits, ready for [`backward`].
pub(crate) fn loss(plan: &Plan, ws: &mut Workspace, n: usize, scale: Option<f32>) -> LossSum {
    let last = plan.steps.len() - 1;
    let logits = &ws.outs[last][..n * plan.classes];
    let labels = &ws.labels[..n];
    match scale {
        Some(scale) => softmax_cross_entropy(
            logits,
            labels,
            plan.classes,
            scale,
            Some(&mut ws.grad_a[..n * plan.classes]),
        ),
        None => softmax_cross_entropy(logits, labels, plan.classes, 1.0, None),
    }
}

/// Backward pass from the logit gradient [`loss`] left, writing `ws.grads`.
pub(crate) fn backward(plan: &Plan, params: &[f32], ws: &mut Workspace, n: usize) {
    let Workspace {
        x,
        outs,
        pre,
        args,
        masks,
        grad_a,
        grad_b,
        scratch,
        grads,
        ..
    } = ws;
    let (mut cur, mut next) = (grad_a, grad_b);
    for (l, step) in plan.steps.iter().enumerate().rev() {
        let input: &[f32] = if l == 0 { x } else { &outs[l - 1] };
        let out = &outs[l];
        let grad_in = step.input_grad.then_some(&mut next[..n * step.in_len]);
        match step.op {
            Op::Conv { geom, act } => {
                let (gw, gb) =
                    grads[step.weight..step.bias + geom.cout].split_at_mut(step.weight_len());
                conv::backward(
                    &geom,
                    n,
                    input,
                    &params[step.weight..step.bias],
                    act,
                    out,
                    &pre[l],
                    cur,
                    gw,
                    gb,
                    grad_in,
                    scratch,
                );
            }
            Op::Dense { geom, act } => {
                let (gw, gb) =
                    grads[step.weight..step.bias + geom.nout].split_at_mut(step.weight_len());
                dense::backward(
                    &geom,
                    n,
                    input,
                    &params[step.weight..step.bias],
                    act,
                    out,
                    &pre[l],
                    cur,
                    gw,
                    gb,
                    grad_in,
                );
            }
            Op::Pool(geom) => {
                if let Some(gi) = grad_in {
                    pool::backward(&geom, n, cur, &args[l], gi);
                }
            }
            Op::Dropout(spec) => {
                if let Some(gi) = grad_in {
                    dropout::backward(n, spec.len, cur, &masks[l], gi);
                }
            }
        }
        if !step.input_grad {
            break;
        }
        std::mem::swap(&mut cur, &mut next);
    }
}
