//! Cell and macro networks: a NAS-Bench-201 cell stacked in its skeleton (Dong & Yang,
//! ICLR 2020, section 2.1; `TinyNetwork` and `InferCell` in the benchmark's code) and a
//! NAS-Bench-Macro network of MobileNetV2 blocks (Su et al., CVPR 2021; `Network` in its
//! `train/model.py`), trained by the engine as a DAG of tensors rather than a chain of
//! layers.
//!
//! # The cell network
//!
//! - stem: 3x3 convolution (no bias) to `stem_channels`, batch norm;
//! - `stages` stages of `cells_per_stage` cells; node 0 of a cell is its input, node `i`
//!   sums its incoming edges `j -> i` (`j < i`) in the order of `j`, the last node is
//!   the cell's output. Edges: `nor_conv_kxk` = ReLU, k x k convolution (stride 1,
//!   padding k/2, no bias), batch norm; `avg_pool_3x3` (stride 1, padding 1, padding not
//!   counted); `skip_connect` (the identity); `none` (an exact zero: no work, no term in
//!   the sum; a node whose every edge is `none` is zero);
//! - between stages, the residual reduction block (`ResNetBasicblock`, stride 2):
//!   `avgpool2x2(x) -> conv1x1` on the shortcut plus `ReLU -> conv3x3 stride 2 -> BN ->
//!   ReLU -> conv3x3 -> BN`, channels doubled;
//! - batch norm, ReLU, global average pooling, a linear classifier.
//!
//! # The macro network
//!
//! - stem: 3x3 convolution (no bias) to `stem_channels`, batch norm, ReLU;
//! - the layers, stage by stage; the first layer of a stage has stride 2 and twice the
//!   channels. `identity` passes its input on, or (stride 2) is a 1x1 convolution with
//!   stride 2 and batch norm; `mbconv_k<k>_e<e>` is MobileNetV2's inverted residual block:
//!   1x1 expansion to `e` times the channels + BN + ReLU (none when `e` is 1), k x k
//!   depthwise convolution (padding k/2, the layer's stride) + BN + ReLU, 1x1 projection
//!   + BN, plus the block's input when stride and channels allow;
//! - 1x1 convolution to `head_channels`, batch norm, ReLU, global average pooling, a
//!   linear classifier.
//!
//! Batch norms are `BatchNorm2d(affine = True, track_running_stats = True)`; their
//! parameter count is included, so [`CellPlan::params`] equals nas-core's
//! [`CellSpace::cost`](nas_core::space::CellSpace::cost) and
//! [`MacroSpace::cost`](nas_core::space::MacroSpace::cost), which match the benchmarks'
//! published counts.
//!
//! # Execution
//!
//! Every tensor of the graph lives in every micro-batch's workspace. A training step runs
//! the ops in order, each on every micro-batch (in parallel): a batch norm first sums its
//! input per micro-batch, merges the sums in micro-batch order and only then normalises
//! (statistics of the whole batch, as one PyTorch forward pass; see
//! [`batchnorm`](super::batchnorm)). The backward pass runs the ops in reverse; a tensor
//! read by several ops receives their gradients in reverse op order (the first written,
//! the others added), a fixed order. Parameter gradients are per micro-batch partial sums
//! added in micro-batch order by the update, except the batch norms' scale and shift,
//! whose gradients are batch sums computed once (in micro-batch 0's share). The results
//! depend on the micro-batch size and never on the thread count or the kernel family.
//!
//! A ReLU output that only stride-1 convolutions read (a cell node's, shared by its
//! `nor_conv` edges) is stored inside a zero border as wide as the widest padding they
//! read, and they read it in place instead of copying each image into a padded buffer,
//! in the forward pass and for the weight gradient ([`CellPlan::act_lens`]). The values
//! they see are the same, so are the bits.

use nas_core::space::{CellSkeleton, MacroSkeleton};
use nas_core::{Architecture, Block, Cell, CellOp, InputShape, MacroNet};

use super::avgpool::{self, MapGeom};
use super::batchnorm::{self, GradMoments, Moments, Norm};
use super::conv::{self, ConvGeom};
use super::dense::{self, DenseGeom};
use super::depthwise::{self, DwGeom};
use super::init;
use super::loss::{LossSum, softmax_cross_entropy};
use super::simd::SimdPath;
use super::strided::{self, StridedGeom};
use super::{NasRng, OptimState, Optimizer, for_each_item};
use crate::backend::{Batch, Model, TrainState};
use crate::error::Result;
use crate::params::TrainValidParams;

/// A tensor of the graph (index into the plan's lengths and the workspace's buffers).
type T = usize;

/// The network's input tensor.
const INPUT: T = 0;

/// One op of the graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    /// Stride-1 convolution without bias, `src -> dst` (written); `slot`: its buffers;
    /// `in_pad`: the zero border `src` is stored with (0: none; see
    /// [`CellPlan::act_lens`]).
    Conv {
        g: ConvGeom,
        src: T,
        dst: T,
        w: usize,
        slot: usize,
        in_pad: usize,
    },
    /// Strided convolution without bias, `src -> dst` (written).
    Strided {
        g: StridedGeom,
        src: T,
        dst: T,
        w: usize,
    },
    /// Batch norm of `src` (which becomes `xhat` in place) into `dst`, written or added;
    /// `gamma` then `beta` at `p`; `slot`: its running statistics.
    Bn {
        c: usize,
        src: T,
        dst: T,
        add: bool,
        p: usize,
        slot: usize,
    },
    /// `dst = max(src, 0)` on a `g` map; `dst` is stored inside a zero border of `pad`
    /// rows and columns when `pad > 0` (every reader is a stride-1 convolution, which
    /// then reads it in place instead of copying it into a padded buffer).
    Relu {
        g: MapGeom,
        src: T,
        dst: T,
        pad: usize,
    },
    /// `avg_pool_3x3` of `src`, written to or added to `dst`.
    Pool3 {
        g: MapGeom,
        src: T,
        dst: T,
        add: bool,
    },
    /// 2x2 stride-2 average pooling (the reduction block's shortcut), written.
    Pool2 { g: MapGeom, src: T, dst: T },
    /// `skip_connect`: `src` written to or added to `dst`.
    Skip { src: T, dst: T, add: bool },
    /// A node with no incoming edge but `none`: zero.
    Zero { dst: T },
    /// Global average pooling.
    Gap { g: MapGeom, src: T, dst: T },
    /// Depthwise convolution without bias (a MobileNetV2 block's middle layer),
    /// `src -> dst` (written).
    Depthwise { g: DwGeom, src: T, dst: T, w: usize },
    /// The linear classifier, weight at `w`, bias at `b`.
    Head {
        g: DenseGeom,
        src: T,
        dst: T,
        w: usize,
        b: usize,
    },
}

impl Op {
    /// The tensor the op reads, if it reads one.
    fn src(&self) -> Option<T> {
        match *self {
            Op::Conv { src, .. }
            | Op::Strided { src, .. }
            | Op::Bn { src, .. }
            | Op::Relu { src, .. }
            | Op::Pool3 { src, .. }
            | Op::Pool2 { src, .. }
            | Op::Skip { src, .. }
            | Op::Gap { src, .. }
            | Op::Depthwise { src, .. }
            | Op::Head { src, .. } => Some(src),
            Op::Zero { .. } => None,
        }
    }

    /// The tensor the op writes (or adds to).
    fn dst(&self) -> T {
        match *self {
            Op::Conv { dst, .. }
            | Op::Strided { dst, .. }
            | Op::Bn { dst, .. }
            | Op::Relu { dst, .. }
            | Op::Pool3 { dst, .. }
            | Op::Pool2 { dst, .. }
            | Op::Skip { dst, .. }
            | Op::Zero { dst }
            | Op::Gap { dst, .. }
            | Op::Depthwise { dst, .. }
            | Op::Head { dst, .. } => dst,
        }
    }

    fn set_add(&mut self, to: bool) {
        match self {
            Op::Bn { add, .. } | Op::Pool3 { add, .. } | Op::Skip { add, .. } => *add = to,
            _ => assert!(!to, "{self:?} cannot add to its output"),
        }
    }
}

/// What the backward pass of an op does with its input's gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputGrad {
    /// Not needed (the network's input).
    None,
    /// Written: the first gradient the input receives.
    Write,
    /// Added to the gradients other ops wrote.
    Add,
}

/// A cell network planned on an input shape: its tensors, ops and parameter layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CellPlan {
    /// The input shape.
    pub input: InputShape,
    /// Classes of the classifier.
    pub classes: usize,
    /// Ops in forward order.
    pub ops: Vec<Op>,
    /// What each op's backward does with its input's gradient.
    input_grads: Vec<InputGrad>,
    /// Values per example of every tensor (and of its gradient).
    pub lens: Vec<usize>,
    /// Floats per example of every tensor's values as stored: `lens`, or more for a
    /// ReLU output kept inside a zero border (see [`Op::Relu`]).
    pub act_lens: Vec<usize>,
    /// Number of parameters.
    pub params: usize,
    /// Channels of every batch norm, by slot.
    pub bn_channels: Vec<usize>,
    /// Geometry of every stride-1 convolution, by slot.
    pub convs: Vec<ConvGeom>,
    /// The logits tensor.
    pub logits: T,
}

/// Builds a plan: tensors, ops, parameter offsets.
struct Builder {
    lens: Vec<usize>,
    ops: Vec<Op>,
    params: usize,
    bn_channels: Vec<usize>,
    convs: Vec<ConvGeom>,
}

/// A feature map in the builder: its tensor and geometry.
#[derive(Debug, Clone, Copy)]
struct Map {
    t: T,
    g: MapGeom,
}

impl Builder {
    /// An empty graph on `input` (tensor 0) and the input's map, or why no network
    /// can be built on it.
    fn start(input: InputShape, classes: u32) -> std::result::Result<(Builder, Map), String> {
        if input.is_empty() || classes == 0 {
            return Err(format!("input {input} with {classes} classes"));
        }
        let b = Builder {
            lens: vec![input.len()],
            ops: Vec::new(),
            params: 0,
            bn_channels: Vec::new(),
            convs: Vec::new(),
        };
        let x = Map {
            t: INPUT,
            g: MapGeom {
                h: input.height as usize,
                w: input.width as usize,
                c: input.channels as usize,
            },
        };
        Ok((b, x))
    }

    fn tensor(&mut self, len: usize) -> T {
        self.lens.push(len);
        self.lens.len() - 1
    }

    fn relu(&mut self, x: Map) -> Map {
        let dst = self.tensor(x.g.len());
        self.ops.push(Op::Relu {
            g: x.g,
            src: x.t,
            dst,
            pad: 0,
        });
        Map { t: dst, g: x.g }
    }

    /// A `k x k` stride-1 convolution with padding `k / 2` (no bias) to `cout` channels.
    fn conv(&mut self, x: Map, k: usize, cout: usize) -> Map {
        let g = ConvGeom {
            cin: x.g.c,
            cout,
            k,
            pad: k / 2,
            hin: x.g.h,
            win: x.g.w,
            hout: x.g.h,
            wout: x.g.w,
        };
        let out = MapGeom { c: cout, ..x.g };
        let dst = self.tensor(out.len());
        let w = self.params;
        self.params += g.patch() * cout;
        self.convs.push(g);
        self.ops.push(Op::Conv {
            g,
            src: x.t,
            dst,
            w,
            slot: self.convs.len() - 1,
            in_pad: 0,
        });
        Map { t: dst, g: out }
    }

    /// A `k x k` stride-2 convolution with padding `k / 2` (no bias) to `cout` channels.
    fn conv_s2(&mut self, x: Map, k: usize, cout: usize) -> Map {
        let g = StridedGeom {
            cin: x.g.c,
            cout,
            hin: x.g.h,
            win: x.g.w,
            k,
            stride: 2,
            pad: k / 2,
        };
        let out = MapGeom {
            h: g.hout(),
            w: g.wout(),
            c: cout,
        };
        let dst = self.tensor(out.len());
        let w = self.params;
        self.params += g.weight_len();
        self.ops.push(Op::Strided {
            g,
            src: x.t,
            dst,
            w,
        });
        Map { t: dst, g: out }
    }

    /// Batch norm of `x` into `dst` (a new tensor when None).
    fn bn(&mut self, x: Map, dst: Option<T>) -> Map {
        let dst = dst.unwrap_or_else(|| self.tensor(x.g.len()));
        let p = self.params;
        self.params += 2 * x.g.c;
        self.bn_channels.push(x.g.c);
        self.ops.push(Op::Bn {
            c: x.g.c,
            src: x.t,
            dst,
            add: false,
            p,
            slot: self.bn_channels.len() - 1,
        });
        Map { t: dst, g: x.g }
    }

    /// One cell on `x` (same channels and size out).
    fn cell(&mut self, cell: &Cell, x: Map) -> Map {
        let mut nodes = vec![x];
        let mut relus: Vec<Option<Map>> = vec![None];
        for to in 1..cell.nodes() {
            let node = Map {
                t: self.tensor(x.g.len()),
                g: x.g,
            };
            let mut terms = 0;
            for (from, &src) in nodes.iter().enumerate() {
                match cell.op(to, from) {
                    CellOp::None => continue,
                    CellOp::SkipConnect => self.ops.push(Op::Skip {
                        src: src.t,
                        dst: node.t,
                        add: false,
                    }),
                    CellOp::AvgPool3x3 => self.ops.push(Op::Pool3 {
                        g: src.g,
                        src: src.t,
                        dst: node.t,
                        add: false,
                    }),
                    CellOp::NorConv(k) => {
                        let r = match relus[from] {
                            Some(r) => r,
                            None => {
                                let r = self.relu(src);
                                relus[from] = Some(r);
                                r
                            }
                        };
                        let y = self.conv(r, k as usize, src.g.c);
                        self.bn(y, Some(node.t));
                    }
                }
                terms += 1;
            }
            if terms == 0 {
                self.ops.push(Op::Zero { dst: node.t });
            }
            nodes.push(node);
            relus.push(None);
        }
        *nodes.last().expect("a cell has at least two nodes")
    }

    /// A `k x k` depthwise convolution with padding `k / 2` and `stride` (no bias).
    fn depthwise(&mut self, x: Map, k: usize, stride: usize) -> Map {
        let g = DwGeom {
            c: x.g.c,
            hin: x.g.h,
            win: x.g.w,
            k,
            stride,
        };
        let out = MapGeom {
            h: g.hout(),
            w: g.wout(),
            c: x.g.c,
        };
        let dst = self.tensor(out.len());
        let w = self.params;
        self.params += g.weight_len();
        self.ops.push(Op::Depthwise {
            g,
            src: x.t,
            dst,
            w,
        });
        Map { t: dst, g: out }
    }

    /// One layer of a macro network with `stride` (2 on the first layer of a stage) and
    /// `cout` output channels: NAS-Bench-Macro's `Identity` and `InvertedResidual`
    /// (its `train/model.py`).
    fn block(&mut self, block: Block, x: Map, stride: usize, cout: usize) -> Map {
        let reshapes = stride != 1 || cout != x.g.c;
        match block {
            Block::Identity if !reshapes => x,
            Block::Identity => {
                // 1x1 convolution with the stride, batch norm.
                let y = if stride == 1 {
                    self.conv(x, 1, cout)
                } else {
                    self.conv_s2(x, 1, cout)
                };
                self.bn(y, None)
            }
            Block::MbConv { kernel, expansion } => {
                let hidden = x.g.c * expansion as usize;
                let expanded = if expansion == 1 {
                    x
                } else {
                    let e = self.conv(x, 1, hidden);
                    let e = self.bn(e, None);
                    self.relu(e)
                };
                let d = self.depthwise(expanded, kernel as usize, stride);
                let d = self.bn(d, None);
                let d = self.relu(d);
                let p = self.conv(d, 1, cout);
                if reshapes {
                    self.bn(p, None)
                } else {
                    // The shortcut: the block's output is x plus the projection.
                    let out = self.tensor(x.g.len());
                    self.ops.push(Op::Skip {
                        src: x.t,
                        dst: out,
                        add: false,
                    });
                    self.bn(p, Some(out))
                }
            }
        }
    }

    /// Global average pooling and the linear classifier on `x`; the logits.
    fn classifier(&mut self, x: Map, classes: usize) -> T {
        let pooled = self.tensor(x.g.c);
        self.ops.push(Op::Gap {
            g: x.g,
            src: x.t,
            dst: pooled,
        });
        let logits = self.tensor(classes);
        let (w, bias) = (self.params, self.params + x.g.c * classes);
        self.params += x.g.c * classes + classes;
        self.ops.push(Op::Head {
            g: DenseGeom {
                nin: x.g.c,
                nout: classes,
            },
            src: pooled,
            dst: logits,
            w,
            b: bias,
        });
        logits
    }

    /// The plan of the graph built, with logits `logits`: which ops write and which add
    /// to their output, and which write and which add their input's gradient.
    fn finish(mut self, input: InputShape, classes: usize, logits: T) -> CellPlan {
        // Forward: the first op to write a tensor writes it, later ones add.
        let mut written = vec![false; self.lens.len()];
        for op in &mut self.ops {
            let dst = op.dst();
            if written[dst] {
                op.set_add(true);
            }
            written[dst] = true;
        }
        // Backward (reverse order): the first gradient a tensor gets is written.
        let mut input_grads = vec![InputGrad::None; self.ops.len()];
        let mut got = vec![false; self.lens.len()];
        for (i, op) in self.ops.iter().enumerate().rev() {
            if let Some(src) = op.src().filter(|&s| s != INPUT) {
                input_grads[i] = if got[src] {
                    InputGrad::Add
                } else {
                    InputGrad::Write
                };
                got[src] = true;
            }
        }
        // A ReLU output that only stride-1 convolutions read is stored inside the widest
        // zero border they read: they then read it in place.
        let mut act_lens = self.lens.clone();
        for r in 0..self.ops.len() {
            let Op::Relu { g, dst, .. } = self.ops[r] else {
                continue;
            };
            let mut pad = 0;
            for op in self.ops.iter().filter(|op| op.src() == Some(dst)) {
                match op {
                    Op::Conv { g, .. } => pad = pad.max(g.pad),
                    _ => {
                        pad = 0;
                        break;
                    }
                }
            }
            if pad == 0 {
                continue;
            }
            for op in &mut self.ops {
                match op {
                    Op::Relu { dst: d, pad: p, .. } if *d == dst => *p = pad,
                    Op::Conv { src, in_pad, .. } if *src == dst => *in_pad = pad,
                    _ => {}
                }
            }
            act_lens[dst] = (g.h + 2 * pad) * (g.w + 2 * pad) * g.c;
        }
        CellPlan {
            input,
            classes,
            ops: self.ops,
            input_grads,
            act_lens,
            lens: self.lens,
            params: self.params,
            bn_channels: self.bn_channels,
            convs: self.convs,
            logits,
        }
    }

    /// NAS-Bench-201's `ResNetBasicblock(c, 2c, stride 2)`.
    fn reduction(&mut self, x: Map) -> Map {
        let cout = 2 * x.g.c;
        let pooled_g = MapGeom {
            h: x.g.h / 2,
            w: x.g.w / 2,
            c: x.g.c,
        };
        let pooled = self.tensor(pooled_g.len());
        self.ops.push(Op::Pool2 {
            g: x.g,
            src: x.t,
            dst: pooled,
        });
        let shortcut = self.conv(
            Map {
                t: pooled,
                g: pooled_g,
            },
            1,
            cout,
        );
        let r = self.relu(x);
        let a = self.conv_s2(r, 3, cout);
        let a = self.bn(a, None);
        let b = self.relu(a);
        let b = self.conv(b, 3, cout);
        self.bn(b, Some(shortcut.t))
    }
}

impl CellPlan {
    /// The plan of a cell (in `params.cell_skeleton`) or macro network (with
    /// `params.macro_skeleton`'s stem and head) on `input`, or why it cannot be built;
    /// None for a chain, which is not a graph.
    pub fn of(
        arch: &Architecture,
        params: &TrainValidParams,
        input: InputShape,
        classes: u32,
    ) -> Option<std::result::Result<CellPlan, String>> {
        match arch {
            Architecture::Chain(_) => None,
            Architecture::Cell(cell) => {
                Some(CellPlan::new(cell, &params.cell_skeleton, input, classes))
            }
            Architecture::Macro(net) => Some(CellPlan::new_macro(
                net,
                &params.macro_skeleton,
                input,
                classes,
            )),
        }
    }

    /// Plans `cell` in `skeleton` on `input` with `classes` outputs, or says why it
    /// cannot be built (a reduction block needs an even feature map of at least 2 x 2).
    pub fn new(
        cell: &Cell,
        skeleton: &CellSkeleton,
        input: InputShape,
        classes: u32,
    ) -> std::result::Result<CellPlan, String> {
        let (mut b, mut x) = Builder::start(input, classes)?;
        let stem = b.conv(x, 3, skeleton.stem_channels as usize);
        x = b.bn(stem, None);
        for stage in 0..skeleton.stages {
            if stage > 0 {
                if x.g.h < 2 || x.g.w < 2 || !x.g.h.is_multiple_of(2) || !x.g.w.is_multiple_of(2) {
                    return Err(format!(
                        "stage {} starts with a {}x{} feature map; its reduction block needs an even map of at least 2x2 (fewer space.skeleton.stages, or larger images)",
                        stage + 1,
                        x.g.h,
                        x.g.w
                    ));
                }
                x = b.reduction(x);
            }
            for _ in 0..skeleton.cells_per_stage {
                x = b.cell(cell, x);
            }
        }
        let x = b.bn(x, None);
        let x = b.relu(x);
        let logits = b.classifier(x, classes as usize);
        Ok(b.finish(input, classes as usize, logits))
    }

    /// Plans the macro network `net` in `skeleton` (its stem and head channels; the
    /// stages are `net`'s) on `input` with `classes` outputs: NAS-Bench-Macro's `Network`
    /// (3x3 stem + BN + ReLU, the layers, the first of each stage with stride 2 and
    /// twice the channels, 1x1 convolution to `head_channels` + BN + ReLU, global average
    /// pooling, linear). Feature maps halve rounding up, as PyTorch's padded strided
    /// convolutions do, so every input of at least 1x1 can be built.
    pub fn new_macro(
        net: &MacroNet,
        skeleton: &MacroSkeleton,
        input: InputShape,
        classes: u32,
    ) -> std::result::Result<CellPlan, String> {
        let (mut b, x) = Builder::start(input, classes)?;
        let stem = b.conv(x, 3, skeleton.stem_channels as usize);
        let stem = b.bn(stem, None);
        let mut x = b.relu(stem);
        for stage in net.stages() {
            for (i, &block) in stage.iter().enumerate() {
                let (stride, cout) = if i == 0 { (2, 2 * x.g.c) } else { (1, x.g.c) };
                x = b.block(block, x, stride, cout);
            }
        }
        let head = b.conv(x, 1, skeleton.head_channels as usize);
        let head = b.bn(head, None);
        let head = b.relu(head);
        let logits = b.classifier(head, classes as usize);
        Ok(b.finish(input, classes as usize, logits))
    }

    /// Values per example of the input.
    #[cfg(test)]
    pub fn input_len(&self) -> usize {
        self.lens[INPUT]
    }

    /// Initial parameters drawn from `rng`: convolutions and the classifier as PyTorch's
    /// defaults (`U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, weights in PyTorch's `out x in x kh
    /// x kw` order, see [`init`]), batch norms γ = 1, β = 0.
    pub fn init_params(&self, rng: &mut NasRng) -> Vec<f32> {
        let mut p = vec![0.0f32; self.params];
        let conv_init =
            |rng: &mut NasRng, p: &mut [f32], w: usize, (k, cin, cout): (usize, usize, usize)| {
                let b = init::bound(k * k * cin);
                for co in 0..cout {
                    for ci in 0..cin {
                        for ky in 0..k {
                            for kx in 0..k {
                                let row = (ky * k + kx) * cin + ci;
                                p[w + row * cout + co] = init::uniform(rng, b);
                            }
                        }
                    }
                }
            };
        for op in &self.ops {
            match *op {
                Op::Conv { g, w, .. } => conv_init(rng, &mut p, w, (g.k, g.cin, g.cout)),
                Op::Strided { g, w, .. } => conv_init(rng, &mut p, w, (g.k, g.cin, g.cout)),
                Op::Depthwise { g, w, .. } => {
                    // PyTorch's grouped convolution: fan-in k * k, weights drawn in
                    // its `c x 1 x kh x kw` order.
                    let bound = init::bound(g.k * g.k);
                    for ch in 0..g.c {
                        for tap in 0..g.k * g.k {
                            p[w + tap * g.c + ch] = init::uniform(rng, bound);
                        }
                    }
                }
                Op::Bn { c, p: at, .. } => p[at..at + c].fill(1.0),
                Op::Head { g, w, b, .. } => {
                    let bound = init::bound(g.nin);
                    for o in 0..g.nout {
                        for i in 0..g.nin {
                            p[w + i * g.nout + o] = init::uniform(rng, bound);
                        }
                    }
                    for o in 0..g.nout {
                        p[b + o] = init::uniform(rng, bound);
                    }
                }
                _ => {}
            }
        }
        p
    }

    /// Floats a training step holds per example: every tensor, and the gradient of
    /// every tensor but the input.
    pub fn floats_per_example(&self) -> u64 {
        let acts: u64 = self.act_lens.iter().map(|&l| l as u64).sum();
        let grads: u64 = self.lens.iter().map(|&l| l as u64).sum();
        acts + grads - self.lens[INPUT] as u64
    }

    /// Floats of the buffers of one workspace of `micro` examples besides the tensors:
    /// parameter gradients, each convolution's padded copies and prepared weights
    /// (bounded above), the unfolded patches of the strided convolutions and the
    /// pooling scratch.
    pub fn floats_per_workspace(&self, micro: usize) -> u64 {
        let mut n = self.params as u64;
        for g in &self.convs {
            let (k, cin, cout) = (g.k as u64, g.cin as u64, g.cout as u64);
            let padded = (g.hout as u64 + k) * (g.wout as u64 + k);
            n += padded * cin + padded * cout + k * k * (cin + 16) * (cout + 16);
            n += (g.hin * g.win * g.cin + g.positions() * (g.cout + 16)) as u64;
        }
        let (mut patches, mut pooled) = (0, 0);
        for op in &self.ops {
            match op {
                Op::Strided { g, .. } => patches = patches.max(strided::patches_len(g, micro)),
                Op::Pool3 { g, .. } => pooled = pooled.max(g.len() * micro),
                _ => {}
            }
        }
        n + 2 * patches as u64 + pooled as u64
    }
}

/// The buffers of one micro-batch.
pub(crate) struct CellWorkspace {
    capacity: usize,
    /// Every tensor, `capacity x len`; tensor 0 is the input.
    acts: Vec<Vec<f32>>,
    /// Every tensor's gradient (empty for the input).
    grads: Vec<Vec<f32>>,
    /// Labels.
    labels: Vec<u8>,
    bufs: Vec<conv::Buffers>,
    moments: Vec<Moments>,
    gmoments: Vec<GradMoments>,
    /// An average pooling's output before it is added to its node.
    pooled: Vec<f32>,
    /// Unfolded patches of a strided convolution and their gradient.
    patches: Vec<f32>,
    dpatches: Vec<f32>,
    /// Parameter gradients of this micro-batch (its share of the sum).
    pgrads: Vec<f32>,
    /// The loss of the last pass.
    last: LossSum,
    /// Examples in the current pass.
    n: usize,
}

impl CellWorkspace {
    fn new(plan: &CellPlan, capacity: usize) -> Self {
        let unfolded = plan
            .ops
            .iter()
            .map(|op| match op {
                Op::Strided { g, .. } => strided::patches_len(g, capacity),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let pooled = plan
            .ops
            .iter()
            .map(|op| match op {
                Op::Pool3 { g, .. } => g.len() * capacity,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        CellWorkspace {
            pooled: vec![0.0; pooled],
            patches: vec![0.0; unfolded],
            dpatches: vec![0.0; unfolded],
            capacity,
            acts: plan
                .act_lens
                .iter()
                .map(|&l| vec![0.0; capacity * l])
                .collect(),
            grads: plan
                .lens
                .iter()
                .enumerate()
                .map(|(t, &l)| {
                    if t == INPUT {
                        Vec::new()
                    } else {
                        vec![0.0; capacity * l]
                    }
                })
                .collect(),
            labels: vec![0; capacity],
            bufs: plan
                .convs
                .iter()
                .map(|g| conv::Buffers::new(g, true))
                .collect(),
            moments: plan.bn_channels.iter().map(|&c| Moments::new(c)).collect(),
            gmoments: plan
                .bn_channels
                .iter()
                .map(|&c| GradMoments::new(c))
                .collect(),
            pgrads: vec![0.0; plan.params],
            last: LossSum::default(),
            n: 0,
        }
    }
}

/// `(&a[i], &mut a[j])` for `i != j`.
fn read_write(a: &mut [Vec<f32>], i: usize, j: usize) -> (&[f32], &mut [f32]) {
    assert_ne!(i, j, "an op reads and writes the same tensor");
    if i < j {
        let (lo, hi) = a.split_at_mut(j);
        (&lo[i], &mut hi[0])
    } else {
        let (lo, hi) = a.split_at_mut(i);
        (&hi[0], &mut lo[j])
    }
}

/// `out (+)= v` over two slices.
fn write_or_add(out: &mut [f32], v: &[f32], add: bool) {
    if add {
        for (o, &x) in out.iter_mut().zip(v) {
            *o += x;
        }
    } else {
        out.copy_from_slice(v);
    }
}

/// Runs op `op` forward on one micro-batch. A batch norm uses `norms[slot]`.
fn forward_op(
    path: SimdPath,
    plan: &CellPlan,
    op: &Op,
    params: &[f32],
    ws: &mut CellWorkspace,
    norms: &[Norm],
) {
    let n = ws.n;
    let len = |t: T| n * plan.lens[t];
    match *op {
        Op::Conv {
            g,
            src,
            dst,
            w,
            slot,
            in_pad,
        } => {
            ws.bufs[slot].set_forward_weight(&g, &params[w..w + g.patch() * g.cout]);
            let (x, out) = read_write(&mut ws.acts, src, dst);
            conv::forward_plain(
                path,
                &g,
                n,
                &x[..n * plan.act_lens[src]],
                in_pad,
                &params[w..w + g.patch() * g.cout],
                &mut out[..len(dst)],
                &mut ws.bufs[slot],
            );
        }
        Op::Strided { g, src, dst, w } => {
            let (x, out) = read_write(&mut ws.acts, src, dst);
            strided::forward_fast(
                path,
                &g,
                n,
                x,
                &params[w..w + g.weight_len()],
                out,
                &mut ws.patches,
            );
        }
        Op::Bn {
            c,
            src,
            dst,
            add,
            p,
            slot,
        } => {
            let (lo, hi) = (len(src), len(dst));
            let (x, out) = two_mut(&mut ws.acts, src, dst);
            batchnorm::forward_in_place(
                &mut x[..lo],
                &norms[slot],
                &params[p..p + c],
                &params[p + c..p + 2 * c],
                &mut out[..hi],
                add,
            );
        }
        Op::Relu { g, src, dst, pad } => {
            let relu = |out: &mut [f32], x: &[f32]| {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = if v < 0.0 { 0.0 } else { v };
                }
            };
            let (x, out) = read_write(&mut ws.acts, src, dst);
            if pad == 0 {
                relu(&mut out[..len(src)], &x[..len(src)]);
            } else {
                // Row by row into the interior; the border was zeroed when the buffer
                // was made and nothing writes it.
                let (row, wp) = (g.w * g.c, g.w + 2 * pad);
                let stored = plan.act_lens[dst];
                for (x, out) in x[..len(src)]
                    .chunks_exact(g.len())
                    .zip(out.chunks_exact_mut(stored))
                {
                    for (y, x) in x.chunks_exact(row).enumerate() {
                        relu(&mut out[((y + pad) * wp + pad) * g.c..][..row], x);
                    }
                }
            }
        }
        Op::Pool3 { g, src, dst, add } => {
            let (x, out) = read_write(&mut ws.acts, src, dst);
            if add {
                // The pooled values, then the sum: the same roundings as a separate
                // edge output added to the node.
                let tmp = &mut ws.pooled[..n * g.len()];
                avgpool::forward_3x3(g, n, x, tmp);
                write_or_add(&mut out[..n * g.len()], tmp, true);
            } else {
                avgpool::forward_3x3(g, n, x, out);
            }
        }
        Op::Pool2 { g, src, dst } => {
            let (x, out) = read_write(&mut ws.acts, src, dst);
            avgpool::forward_2x2(g, n, x, out);
        }
        Op::Skip { src, dst, add } => {
            let l = len(src);
            let (x, out) = read_write(&mut ws.acts, src, dst);
            write_or_add(&mut out[..l], &x[..l], add);
        }
        Op::Zero { dst } => {
            let l = len(dst);
            ws.acts[dst][..l].fill(0.0);
        }
        Op::Gap { g, src, dst } => {
            let (x, out) = read_write(&mut ws.acts, src, dst);
            avgpool::global_forward(g, n, x, out);
        }
        Op::Depthwise { g, src, dst, w } => {
            let (x, out) = read_write(&mut ws.acts, src, dst);
            depthwise::forward(
                path,
                &g,
                n,
                &x[..len(src)],
                &params[w..w + g.weight_len()],
                &mut out[..len(dst)],
            );
        }
        Op::Head { g, src, dst, w, b } => {
            let (x, out) = read_write(&mut ws.acts, src, dst);
            dense::forward(
                path,
                &g,
                n,
                x,
                &params[w..b],
                &params[b..b + g.nout],
                None,
                out,
                &mut [],
            );
        }
    }
}

/// `(&mut a[i], &mut a[j])` for `i != j`.
fn two_mut(a: &mut [Vec<f32>], i: usize, j: usize) -> (&mut [f32], &mut [f32]) {
    assert_ne!(i, j, "an op reads and writes the same tensor");
    if i < j {
        let (lo, hi) = a.split_at_mut(j);
        (&mut lo[i], &mut hi[0])
    } else {
        let (lo, hi) = a.split_at_mut(i);
        (&mut hi[0], &mut lo[j])
    }
}

/// Runs op `i` backward on one micro-batch: the gradient of its input (per
/// [`CellPlan::input_grads`]) and its parameters' share. A batch norm uses the merged
/// sums `sums[slot]` and `norms[slot]`.
#[allow(clippy::too_many_arguments)]
fn backward_op(
    path: SimdPath,
    plan: &CellPlan,
    i: usize,
    params: &[f32],
    ws: &mut CellWorkspace,
    norms: &[Norm],
    sums: &[GradMoments],
    rows: usize,
) {
    let n = ws.n;
    let op = plan.ops[i];
    let mode = plan.input_grads[i];
    let add = mode == InputGrad::Add;
    let CellWorkspace {
        acts,
        grads,
        bufs,
        pgrads,
        patches,
        dpatches,
        ..
    } = ws;
    let len = |t: T| n * plan.lens[t];
    match op {
        Op::Conv {
            g,
            src,
            dst,
            w,
            slot,
            in_pad,
        } => {
            let wlen = g.patch() * g.cout;
            bufs[slot].set_flipped_weight(&g, &params[w..w + wlen]);
            let (dy, dx) = if mode == InputGrad::None {
                (&grads[dst][..len(dst)], None)
            } else {
                let (dy, dx) = read_write(grads, dst, src);
                (&dy[..len(dst)], Some((&mut dx[..len(src)], add)))
            };
            conv::backward_plain(
                path,
                &g,
                n,
                &acts[src][..n * plan.act_lens[src]],
                in_pad,
                dy,
                &mut pgrads[w..w + wlen],
                dx,
                &mut bufs[slot],
            );
        }
        Op::Strided { g, src, dst, w } => {
            let wlen = g.weight_len();
            let (dy, dx) = if mode == InputGrad::None {
                (&grads[dst][..], None)
            } else {
                let (dy, dx) = read_write(grads, dst, src);
                (dy, Some((dx, add)))
            };
            strided::backward_fast(
                path,
                &g,
                n,
                &acts[src],
                dy,
                &params[w..w + wlen],
                &mut pgrads[w..w + wlen],
                dx,
                patches,
                dpatches,
            );
        }
        Op::Bn {
            c,
            src,
            dst,
            p,
            slot,
            ..
        } => {
            let (dy, dx) = read_write(grads, dst, src);
            batchnorm::backward_input(
                &dy[..len(dst)],
                &acts[src][..len(src)],
                &sums[slot],
                rows,
                &norms[slot],
                &params[p..p + c],
                &mut dx[..len(src)],
                add,
            );
        }
        Op::Relu { src, dst, .. } => {
            let l = len(src);
            let (dy, dx) = read_write(grads, dst, src);
            for ((d, &g), &x) in dx[..l].iter_mut().zip(&dy[..l]).zip(&acts[src][..l]) {
                let v = if x > 0.0 { g } else { 0.0 };
                *d = if add { *d + v } else { v };
            }
        }
        Op::Pool3 { g, src, dst, .. } => {
            let (dy, dx) = read_write(grads, dst, src);
            avgpool::backward_3x3(g, n, dy, dx, add);
        }
        Op::Pool2 { g, src, dst } => {
            let (dy, dx) = read_write(grads, dst, src);
            avgpool::backward_2x2(g, n, dy, dx, add);
        }
        Op::Skip { src, dst, .. } => {
            let l = len(src);
            let (dy, dx) = read_write(grads, dst, src);
            write_or_add(&mut dx[..l], &dy[..l], add);
        }
        Op::Zero { .. } => {}
        Op::Gap { g, src, dst } => {
            let (dy, dx) = read_write(grads, dst, src);
            avgpool::global_backward(g, n, dy, dx, add);
        }
        Op::Depthwise { g, src, dst, w } => {
            let wlen = g.weight_len();
            let gw = &mut pgrads[w..w + wlen];
            gw.fill(0.0);
            depthwise::backward_weight(
                path,
                &g,
                n,
                &acts[src][..len(src)],
                &grads[dst][..len(dst)],
                gw,
            );
            if mode != InputGrad::None {
                let (dy, dx) = read_write(grads, dst, src);
                depthwise::backward_input(
                    path,
                    &g,
                    n,
                    &dy[..len(dst)],
                    &params[w..w + wlen],
                    &mut dx[..len(src)],
                    add,
                );
            }
        }
        Op::Head { g, src, dst, w, b } => {
            // The head reads the pooled features, which nothing else reads: its input
            // gradient is always the first.
            debug_assert!(!add, "the pooled features have one reader");
            let (gw, gb) = pgrads[w..b + g.nout].split_at_mut(b - w);
            let (dy, dx) = two_mut(grads, dst, src);
            // No activation: the logit gradient is left as it is.
            dense::backward(
                path,
                &g,
                n,
                &acts[src],
                &params[w..b],
                None,
                &acts[dst][..n * g.nout],
                &[],
                &mut dy[..n * g.nout],
                gw,
                gb,
                Some(&mut dx[..n * g.nin]),
            );
        }
    }
}

/// A cell network with its parameters, running statistics, optimiser state and
/// workspaces: the native backend for cell architectures.
pub(crate) struct CellModel {
    plan: CellPlan,
    params: Vec<f32>,
    /// Running mean then running variance of every batch norm, by slot.
    running: Vec<(Vec<f32>, Vec<f32>)>,
    optim: OptimState,
    workspaces: Vec<CellWorkspace>,
    micro: usize,
    batch_size: usize,
    pool: Option<rayon::ThreadPool>,
    path: SimdPath,
}

impl CellModel {
    /// A model for `plan` with initial `params`, training batches of up to `batch_size`
    /// examples in micro-batches of `micro` on `threads` threads.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        path: SimdPath,
        plan: CellPlan,
        params: Vec<f32>,
        optimizer: Optimizer,
        batch_size: usize,
        micro: usize,
        threads: usize,
    ) -> Result<Self> {
        let micro = micro.min(batch_size).max(1);
        let chunks = batch_size.div_ceil(micro);
        let workspaces = (0..chunks)
            .map(|_| CellWorkspace::new(&plan, micro))
            .collect();
        let pool = super::thread_pool(threads)?;
        let n = plan.params;
        let running = plan
            .bn_channels
            .iter()
            .map(|&c| (vec![0.0; c], vec![1.0; c]))
            .collect();
        Ok(CellModel {
            plan,
            params,
            running,
            optim: OptimState::new(optimizer, n),
            workspaces,
            micro,
            batch_size,
            pool,
            path,
        })
    }

    /// Forward and backward over the first `chunks` workspaces (filled), in training
    /// mode: batch statistics, running statistics updated; returns the loss sum, and
    /// leaves the partial parameter gradients in the workspaces when `grads`.
    fn train_pass(&mut self, chunks: usize, n: usize, grads: bool) -> f64 {
        let CellModel {
            plan,
            params,
            running,
            workspaces,
            pool,
            path,
            ..
        } = self;
        let (plan, params, path) = (&*plan, &params[..], *path);
        let wss = &mut workspaces[..chunks];
        let mut norms: Vec<Norm> = plan
            .bn_channels
            .iter()
            .map(|&c| Norm {
                mean: vec![0.0; c],
                invstd: vec![0.0; c],
            })
            .collect();
        let mut rows_of = vec![0usize; plan.bn_channels.len()];
        // Forward, in segments that end at a batch norm.
        let mut start = 0;
        for (i, op) in plan.ops.iter().enumerate() {
            if let Op::Bn { src, slot, .. } = *op {
                let seg = &plan.ops[start..i];
                for_each_item(pool.as_ref(), wss, |_, ws| {
                    for op in seg {
                        forward_op(path, plan, op, params, ws, &norms);
                    }
                    let l = ws.n * plan.lens[src];
                    let (m, x) = (&mut ws.moments[slot], &ws.acts[src][..l]);
                    m.of(x);
                });
                let mut total = wss[0].moments[slot].clone();
                for ws in &wss[1..] {
                    total.merge(&ws.moments[slot]);
                }
                let (mean, var) = total.mean_var();
                norms[slot] = Norm::from_batch(&mean, &var);
                rows_of[slot] = total.rows;
                let (rm, rv) = &mut running[slot];
                batchnorm::update_running(rm, rv, &mean, &var, total.rows);
                start = i;
            }
        }
        let scale = 1.0 / n as f32;
        let tail = &plan.ops[start..];
        for_each_item(pool.as_ref(), wss, |_, ws| {
            for op in tail {
                forward_op(path, plan, op, params, ws, &norms);
            }
            let k = ws.n;
            let (logits, dl) = (
                &ws.acts[plan.logits][..k * plan.classes],
                &mut ws.grads[plan.logits],
            );
            ws.last = softmax_cross_entropy(
                logits,
                &ws.labels[..k],
                plan.classes,
                scale,
                grads.then_some(&mut dl[..k * plan.classes]),
            );
        });
        let loss = wss.iter().map(|w| w.last.loss).sum();
        if !grads {
            return loss;
        }
        // Backward, in segments that end (in reverse) at a batch norm.
        let mut sums: Vec<GradMoments> = plan
            .bn_channels
            .iter()
            .map(|&c| GradMoments::new(c))
            .collect();
        let mut end = plan.ops.len();
        for i in (0..plan.ops.len()).rev() {
            if let Op::Bn {
                c,
                src,
                dst,
                p,
                slot,
                ..
            } = plan.ops[i]
            {
                let seg = i + 1..end;
                let (norms_r, sums_r, rows_r) = (&norms, &sums, &rows_of);
                for_each_item(pool.as_ref(), wss, |_, ws| {
                    for j in seg.clone().rev() {
                        backward_op(
                            path,
                            plan,
                            j,
                            params,
                            ws,
                            norms_r,
                            sums_r,
                            bn_rows(plan, j, rows_r),
                        );
                    }
                    let k = ws.n;
                    let (gm, dy, xhat) = (
                        &mut ws.gmoments[slot],
                        &ws.grads[dst][..k * plan.lens[dst]],
                        &ws.acts[src][..k * plan.lens[src]],
                    );
                    gm.of(dy, xhat);
                });
                let mut total = wss[0].gmoments[slot].clone();
                for ws in &wss[1..] {
                    total.merge(&ws.gmoments[slot]);
                }
                let (g0, b0) = wss[0].pgrads[p..p + 2 * c].split_at_mut(c);
                batchnorm::param_grads(&total, g0, b0);
                sums[slot] = total;
                end = i + 1;
            }
        }
        let (norms_r, sums_r, rows_r) = (&norms, &sums, &rows_of);
        for_each_item(pool.as_ref(), wss, |_, ws| {
            for j in (0..end).rev() {
                backward_op(
                    path,
                    plan,
                    j,
                    params,
                    ws,
                    norms_r,
                    sums_r,
                    bn_rows(plan, j, rows_r),
                );
            }
        });
        loss
    }

    /// Fills workspace `c` with the examples `idx` of `batch`.
    fn fill(ws: &mut CellWorkspace, batch: &Batch<'_>, idx: &[u32]) {
        assert!(
            idx.len() <= ws.capacity,
            "micro-batch larger than its workspace"
        );
        batch
            .norm
            .gather(batch.images, idx, &mut ws.acts[INPUT], &mut ws.labels);
        ws.n = idx.len();
    }

    /// Forward (and backward when `grads`) over explicit channels-last inputs in
    /// training mode, without updating the parameters: the loss sum and the summed
    /// gradient of the batch-mean loss (tests).
    #[cfg(test)]
    pub fn gradients(&mut self, x: &[f32], labels: &[u8], grads: bool) -> (Vec<f32>, f64) {
        let n = labels.len();
        let len = self.plan.input_len();
        let chunks = n.div_ceil(self.micro);
        let micro = self.micro;
        for (c, ws) in self.workspaces[..chunks].iter_mut().enumerate() {
            let lo = c * micro;
            let hi = (lo + micro).min(n);
            ws.acts[INPUT][..(hi - lo) * len].copy_from_slice(&x[lo * len..hi * len]);
            ws.labels[..hi - lo].copy_from_slice(&labels[lo..hi]);
            ws.n = hi - lo;
        }
        let loss = self.train_pass(chunks, n, grads);
        let mut g = vec![0.0f32; self.plan.params];
        if grads {
            let partials: Vec<&[f32]> = self.workspaces[..chunks]
                .iter()
                .map(|w| &w.pgrads[..])
                .collect();
            super::optim::sum_partials(self.path, &mut g, &partials, 0);
        }
        (g, loss)
    }

    /// Replaces the parameters (tests).
    #[cfg(test)]
    pub fn set_params(&mut self, params: Vec<f32>) {
        assert_eq!(params.len(), self.plan.params);
        self.params = params;
    }

    /// The running statistics, mean then variance of every batch norm (tests).
    #[cfg(test)]
    pub fn running(&self) -> &[(Vec<f32>, Vec<f32>)] {
        &self.running
    }
}

/// Rows of the batch norm that op `j` is (its batch's `n·h·w`), or 0.
fn bn_rows(plan: &CellPlan, j: usize, rows: &[usize]) -> usize {
    match plan.ops[j] {
        Op::Bn { slot, .. } => rows[slot],
        _ => 0,
    }
}

impl Model for CellModel {
    fn train_step(&mut self, batch: Batch<'_>, _step: u64, lr_scale: f64) -> Result<f64> {
        let n = batch.indices.len();
        assert!(
            n <= self.batch_size,
            "batch larger than the model was built for"
        );
        let chunks = n.div_ceil(self.micro);
        let micro = self.micro;
        for_each_item(
            self.pool.as_ref(),
            &mut self.workspaces[..chunks],
            |c, ws| {
                Self::fill(
                    ws,
                    &batch,
                    &batch.indices[c * micro..((c + 1) * micro).min(n)],
                )
            },
        );
        let saved = self.running.clone();
        let loss = self.train_pass(chunks, n, true);
        if !loss.is_finite() {
            // The step is not applied: neither are its statistics.
            self.running = saved;
            return Ok(loss);
        }
        let partials: Vec<&[f32]> = self.workspaces[..chunks]
            .iter()
            .map(|w| &w.pgrads[..])
            .collect();
        self.optim.step(
            self.pool.as_ref(),
            self.path,
            &mut self.params,
            &partials,
            lr_scale,
        );
        Ok(loss)
    }

    fn evaluate(&mut self, batch: Batch<'_>) -> Result<LossSum> {
        let norms: Vec<Norm> = self
            .running
            .iter()
            .map(|(m, v)| Norm::from_running(m, v))
            .collect();
        let mut total = LossSum::default();
        let (plan, params, micro, path) = (&self.plan, &self.params, self.micro, self.path);
        let wave = micro * self.workspaces.len();
        for part in batch.indices.chunks(wave) {
            let chunks = part.len().div_ceil(micro);
            for_each_item(
                self.pool.as_ref(),
                &mut self.workspaces[..chunks],
                |c, ws| {
                    Self::fill(
                        ws,
                        &batch,
                        &part[c * micro..((c + 1) * micro).min(part.len())],
                    );
                    for op in &plan.ops {
                        forward_op(path, plan, op, params, ws, &norms);
                    }
                    let k = ws.n;
                    ws.last = softmax_cross_entropy(
                        &ws.acts[plan.logits][..k * plan.classes],
                        &ws.labels[..k],
                        plan.classes,
                        1.0,
                        None,
                    );
                },
            );
            for ws in &self.workspaces[..chunks] {
                total.loss += ws.last.loss;
                total.correct += ws.last.correct;
            }
        }
        Ok(total)
    }

    fn weights(&self) -> Vec<f32> {
        // The trained parameters, then the running statistics (they are part of what
        // an evaluation computes with).
        let mut w = self.params.clone();
        for (m, v) in &self.running {
            w.extend_from_slice(m);
            w.extend_from_slice(v);
        }
        w
    }

    fn save(&self) -> Option<TrainState> {
        let running = self
            .running
            .iter()
            .flat_map(|(m, v)| m.iter().chain(v))
            .copied()
            .collect();
        Some(self.optim.state(&self.params, running))
    }

    fn restore(&mut self, state: &TrainState) {
        self.optim.restore(&mut self.params, state);
        let mut at = 0;
        for (m, v) in &mut self.running {
            let c = m.len();
            m.copy_from_slice(&state.running[at..at + c]);
            v.copy_from_slice(&state.running[at + c..at + 2 * c]);
            at += 2 * c;
        }
        assert_eq!(at, state.running.len(), "state of another network");
    }
}

#[cfg(test)]
mod tests;
