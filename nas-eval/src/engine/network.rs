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
use super::simd::SimdPath;

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

impl Plan {
    /// Plans `arch` on `input` with a head of `classes` outputs, or says why it cannot
    /// be built.
    pub fn new(arch: &Architecture, input: InputShape, classes: u32) -> Result<Plan, String> {
        if input.is_empty() || classes == 0 {
            return Err(format!("input {input} with {classes} classes"));
        }
        let arch = arch.as_chain().ok_or_else(|| {
            format!(
                "a {} architecture is planned as a graph of tensors (engine::cellnet), not a chain",
                arch.kind_name()
            )
        })?;
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

    /// The steps computed image by image: every step before the first dense layer
    /// (convolutions, pooling and dropout on feature maps). Dense layers run on the
    /// whole micro-batch at once, where a product reuses each weight row.
    pub fn spatial_steps(&self) -> usize {
        self.steps
            .iter()
            .position(|s| matches!(s.op, Op::Dense { .. }))
            .unwrap_or(self.steps.len())
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
    /// The kernel family every layer runs on.
    pub path: SimdPath,
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
    /// Per conv layer: padded copies and prepared weights.
    bufs: Vec<conv::Buffers>,
    grad_a: Vec<f32>,
    grad_b: Vec<f32>,
    /// Gradients of one image through the spatial steps.
    img_a: Vec<f32>,
    img_b: Vec<f32>,
    /// Parameter gradients of the last backward pass (this micro-batch's share).
    pub grads: Vec<f32>,
    /// The loss of the last pass.
    pub last: LossSum,
}

impl Workspace {
    /// Buffers for `plan` and up to `capacity` examples, computing on `path`.
    pub fn new(plan: &Plan, capacity: usize, path: SimdPath) -> Self {
        let n = capacity;
        let mut outs = Vec::new();
        let mut pre = Vec::new();
        let mut args = Vec::new();
        let mut masks = Vec::new();
        let mut bufs = Vec::new();
        let mut widest = plan.input_len();
        let mut widest_spatial = 0;
        for (l, step) in plan.steps.iter().enumerate() {
            outs.push(vec![0.0; n * step.out_len]);
            widest = widest.max(step.out_len);
            if l < plan.spatial_steps() {
                widest_spatial = widest_spatial.max(step.in_len).max(step.out_len);
            }
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
            bufs.push(match step.op {
                Op::Conv { geom, .. } => conv::Buffers::new(&geom, step.input_grad),
                _ => conv::Buffers::default(),
            });
        }
        Workspace {
            path,
            capacity,
            x: vec![0.0; n * plan.input_len()],
            labels: vec![0; n],
            outs,
            pre,
            args,
            masks,
            bufs,
            grad_a: vec![0.0; n * widest],
            grad_b: vec![0.0; n * widest],
            img_a: vec![0.0; widest_spatial],
            img_b: vec![0.0; widest_spatial],
            grads: vec![0.0; plan.params],
            last: LossSum::default(),
        }
    }
}

/// Examples `first..first + n` of a buffer of `len` values per example (an empty
/// buffer, for a layer that keeps nothing, stays empty).
fn part<T>(buf: &mut [T], first: usize, n: usize, len: usize) -> &mut [T] {
    if buf.is_empty() {
        buf
    } else {
        &mut buf[first * len..(first + n) * len]
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

/// Forward pass over the first `n` examples of `ws.x`: the spatial steps image by
/// image (each image's feature maps stay in cache from one layer to the next), then the
/// dense steps on all `n` at once.
pub(crate) fn forward(plan: &Plan, params: &[f32], ws: &mut Workspace, n: usize, mode: Mode<'_>) {
    assert!(n <= ws.capacity, "micro-batch larger than its workspace");
    let mut rng = match mode {
        Mode::Train { rng, .. } if plan.dropout_words > 0 => Some(rng.clone()),
        _ => None,
    };
    let spatial = plan.spatial_steps();
    for (step, bufs) in plan.steps[..spatial].iter().zip(&mut ws.bufs) {
        if let Op::Conv { geom, .. } = step.op {
            bufs.set_forward_weight(&geom, &params[step.weight..step.bias]);
        }
    }
    for img in 0..n {
        for l in 0..spatial {
            forward_step(plan, l, params, ws, (img, 1), mode, &mut rng);
        }
    }
    for l in spatial..plan.steps.len() {
        forward_step(plan, l, params, ws, (0, n), mode, &mut rng);
    }
}

/// Step `l` of the forward pass on examples `first..first + n`.
fn forward_step(
    plan: &Plan,
    l: usize,
    params: &[f32],
    ws: &mut Workspace,
    (first, n): (usize, usize),
    mode: Mode<'_>,
    rng: &mut Option<NasRng>,
) {
    let Workspace {
        path,
        x,
        outs,
        pre,
        args,
        masks,
        bufs,
        ..
    } = ws;
    let path = *path;
    let step = &plan.steps[l];
    let (done, rest) = outs.split_at_mut(l);
    let input: &[f32] = if l == 0 { x } else { &done[l - 1] };
    let input = &input[first * step.in_len..(first + n) * step.in_len];
    let out = part(&mut rest[0], first, n, step.out_len);
    let pre = part(&mut pre[l], first, n, step.out_len);
    match step.op {
        Op::Conv { geom, act } => conv::forward(
            path,
            &geom,
            n,
            input,
            &params[step.weight..step.bias],
            &params[step.bias..step.bias + geom.cout],
            act,
            out,
            pre,
            &mut bufs[l],
        ),
        Op::Pool(geom) => pool::forward(
            path,
            &geom,
            n,
            input,
            out,
            part(&mut args[l], first, n, step.out_len),
        ),
        Op::Dense { geom, act } => dense::forward(
            path,
            &geom,
            n,
            input,
            &params[step.weight..step.bias],
            &params[step.bias..step.bias + geom.nout],
            act,
            out,
            pre,
        ),
        Op::Dropout(spec) => match (mode, rng.as_mut()) {
            (Mode::Train { at, .. }, Some(rng)) => {
                let at = MaskPosition {
                    first_example: at.first_example + first,
                    ..at
                };
                let mask = part(&mut masks[l], first, n, step.out_len);
                dropout::forward_train(&spec, n, at, rng, input, out, mask);
            }
            _ => out.copy_from_slice(input),
        },
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

/// Backward pass from the logit gradient [`loss`] left, writing `ws.grads`: the dense
/// steps on the whole micro-batch, then the spatial steps image by image (the weight
/// and bias gradients of a convolution continue their sums from image to image).
pub(crate) fn backward(plan: &Plan, params: &[f32], ws: &mut Workspace, n: usize) {
    assert!(n > 0, "a backward pass needs an example");
    let Workspace {
        path,
        x,
        outs,
        pre,
        args,
        masks,
        bufs,
        grad_a,
        grad_b,
        img_a,
        img_b,
        grads,
        ..
    } = ws;
    let path = *path;
    let spatial = plan.spatial_steps();
    for (step, bufs) in plan.steps[..spatial].iter().zip(bufs.iter_mut()) {
        if let Op::Conv { geom, .. } = step.op {
            bufs.set_flipped_weight(&geom, &params[step.weight..step.bias]);
        }
    }
    let (mut cur, mut next) = (grad_a, grad_b);
    for l in (spatial..plan.steps.len()).rev() {
        let step = &plan.steps[l];
        let input: &[f32] = if l == 0 { x } else { &outs[l - 1] };
        let grad_in = step.input_grad.then_some(&mut next[..n * step.in_len]);
        match step.op {
            Op::Dense { geom, act } => {
                let (gw, gb) =
                    grads[step.weight..step.bias + geom.nout].split_at_mut(step.weight_len());
                dense::backward(
                    path,
                    &geom,
                    n,
                    input,
                    &params[step.weight..step.bias],
                    act,
                    &outs[l],
                    &pre[l],
                    cur,
                    gw,
                    gb,
                    grad_in,
                );
            }
            Op::Dropout(spec) => {
                if let Some(gi) = grad_in {
                    dropout::backward(n, spec.len, cur, &masks[l], gi);
                }
            }
            Op::Conv { .. } | Op::Pool(_) => unreachable!("a spatial step after a dense one"),
        }
        if !step.input_grad {
            return;
        }
        std::mem::swap(&mut cur, &mut next);
    }
    if spatial == 0 {
        return;
    }
    let last = plan.steps[spatial - 1].out_len;
    for img in 0..n {
        let (mut g, mut gi) = (&mut img_a[..], &mut img_b[..]);
        g[..last].copy_from_slice(&cur[img * last..(img + 1) * last]);
        // Whether `g` is already the gradient of the pre-activation of the conv layer
        // below (pooling after ReLU applied ReLU's derivative while routing).
        let mut pre_activation = false;
        for l in (0..spatial).rev() {
            let step = &plan.steps[l];
            let (in_len, out_len) = (step.in_len, step.out_len);
            let input: &[f32] = if l == 0 { x } else { &outs[l - 1] };
            let input = &input[img * in_len..(img + 1) * in_len];
            let out = &outs[l][img * out_len..(img + 1) * out_len];
            let grad_out = &mut g[..out_len];
            let grad_in = step.input_grad.then_some(&mut gi[..in_len]);
            let below_relu = l > 0
                && matches!(
                    plan.steps[l - 1].op,
                    Op::Conv {
                        act: Activation::Relu,
                        ..
                    }
                );
            match step.op {
                Op::Conv { geom, act } => {
                    let (gw, gb) =
                        grads[step.weight..step.bias + geom.cout].split_at_mut(step.weight_len());
                    let pre = if pre[l].is_empty() {
                        &[][..]
                    } else {
                        &pre[l][img * out_len..(img + 1) * out_len]
                    };
                    conv::backward(
                        path,
                        &geom,
                        1,
                        input,
                        (!pre_activation).then_some(act),
                        out,
                        pre,
                        grad_out,
                        gw,
                        gb,
                        grad_in,
                        &mut bufs[l],
                        img == 0,
                    );
                    pre_activation = false;
                }
                Op::Pool(geom) => {
                    if let Some(gi) = grad_in {
                        let arg = &args[l][img * out_len..(img + 1) * out_len];
                        if below_relu {
                            pool::backward_relu(path, &geom, 1, grad_out, arg, out, gi);
                            pre_activation = true;
                        } else {
                            pool::backward(path, &geom, 1, grad_out, arg, gi);
                        }
                    }
                }
                Op::Dropout(spec) => {
                    if let Some(gi) = grad_in {
                        let mask = &masks[l][img * out_len..(img + 1) * out_len];
                        dropout::backward(1, spec.len, grad_out, mask, gi);
                    }
                }
                Op::Dense { .. } => unreachable!("a dense step among the spatial ones"),
            }
            if !step.input_grad {
                break;
            }
            std::mem::swap(&mut g, &mut gi);
        }
    }
}
