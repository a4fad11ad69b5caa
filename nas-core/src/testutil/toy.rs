//! The toy search spaces (a chain space, a NAS-Bench-201 cell space and a NAS-Bench-Macro
//! space) and the synthetic evaluator.
//!
//! The synthetic fitness has a known optimum in each kind ([`toy_optimum`],
//! [`toy_cell_optimum`], [`toy_macro_optimum`]) and a learnable structure: for chains, a
//! sum over layer slots of how close each slot is to the optimum's layer in that slot
//! (right kind first, then right options); for cells and macro networks, a sum over edges
//! or layers of how close each decision is to the optimum's (right operation, or a
//! similar one), so a strategy that learns which decisions work climbs towards the
//! optimum, while random search rarely gets close.

use crate::architecture::{Architecture, Chain};
use crate::cell::CellOp;
use crate::evaluator::{EvalError, EvalRequest, Evaluation, Evaluator};
use crate::layer::{Activation, DropoutRate, Layer};
use crate::macro_net::Block;
use crate::seed::derive_seed;
use crate::shape::InputShape;
use crate::space::{
    CellParams, ChainParams, Conv2dChoices, DenseChoices, DropoutChoices, MacroParams, SearchSpace,
    SearchSpaceParams,
};
use crate::trial::{Metrics, Status};

/// Input shape of the toy space: small images, so four poolings fit.
pub const TOY_INPUT: InputShape = InputShape {
    channels: 1,
    height: 16,
    width: 16,
};

/// Classes of the toy problem (for parameter counts).
pub const TOY_CLASSES: u32 = 10;

/// The toy space's params: up to 5 layers of conv (4 widths x 2 kernels x 4 activations),
/// pooling, dense (4 widths x 4 activations) and dropout (2 rates): 51 layer choices.
pub fn toy_params() -> SearchSpaceParams {
    SearchSpaceParams::Chain(ChainParams {
        min_layers: 1,
        max_layers: 5,
        conv2d: Some(Conv2dChoices {
            filters: vec![8, 16, 32, 64],
            kernels: vec![3, 5],
            activations: Activation::ALL.to_vec(),
            padding: Default::default(),
        }),
        maxpool2d: true,
        dense: Some(DenseChoices {
            units: vec![16, 32, 64, 128],
            activations: Activation::ALL.to_vec(),
        }),
        dropout: Some(DropoutChoices {
            rates: vec![
                DropoutRate::from_f64(0.1).expect("valid rate"),
                DropoutRate::from_f64(0.5).expect("valid rate"),
            ],
        }),
    })
}

/// The toy space bound to [`TOY_INPUT`].
pub fn toy_space() -> SearchSpace {
    toy_params()
        .check(TOY_INPUT)
        .expect("the toy space is valid")
}

/// A space of exactly 6 architectures, one or two of {dense8-relu, dropout0.5} on 1x4x4
/// inputs, for tests that exhaust a space.
pub fn tiny_space() -> SearchSpace {
    SearchSpaceParams::Chain(ChainParams {
        min_layers: 1,
        max_layers: 2,
        conv2d: None,
        maxpool2d: false,
        dense: Some(DenseChoices {
            units: vec![8],
            activations: vec![Activation::Relu],
        }),
        dropout: Some(DropoutChoices {
            rates: vec![DropoutRate::from_f64(0.5).expect("valid rate")],
        }),
    })
    .check(InputShape::new(1, 4, 4))
    .expect("the tiny space is valid")
}

/// The architecture with the highest synthetic fitness.
pub fn toy_optimum() -> Architecture {
    "conv3x3-32-relu > maxpool2 > conv3x3-64-relu > maxpool2 > dense128-relu"
        .parse()
        .expect("valid text")
}

/// Closeness of `layer` to `target` in [0, 2]: 1 for the right kind, up to 1 more for
/// the right options.
fn slot_score(layer: &Layer, target: &Layer) -> f64 {
    let width = |a: u32, b: u32| 1.0 - (f64::from(a).log2() - f64::from(b).log2()).abs() / 4.0;
    let act = |a: Activation, b: Activation| if a == b { 1.0 } else { 0.0 };
    match (*layer, *target) {
        (
            Layer::Conv2d {
                filters,
                kernel,
                activation,
                ..
            },
            Layer::Conv2d {
                filters: f,
                kernel: k,
                activation: a,
                ..
            },
        ) => {
            1.0 + 0.4 * width(filters, f)
                + 0.2 * f64::from(u8::from(kernel == k))
                + 0.4 * act(activation, a)
        }
        (Layer::MaxPool2d, Layer::MaxPool2d) => 2.0,
        (
            Layer::Dense { units, activation },
            Layer::Dense {
                units: u,
                activation: a,
            },
        ) => 1.0 + 0.5 * width(units, u) + 0.5 * act(activation, a),
        _ => 0.0,
    }
}

/// NAS-Bench-201's cell space (`kind = "cell"` with every default: 4 nodes, 5 ops,
/// 15,625 cells) on [`TOY_INPUT`].
pub fn toy_cell_space() -> SearchSpace {
    SearchSpaceParams::Cell(CellParams::default())
        .check(TOY_INPUT)
        .expect("the toy cell space is valid")
}

/// NAS-Bench-Macro's space (`kind = "macro"` with every default: 8 layers, 3 blocks,
/// 6,561 networks) on [`TOY_INPUT`].
pub fn toy_macro_space() -> SearchSpace {
    SearchSpaceParams::Macro(MacroParams::default())
        .check(TOY_INPUT)
        .expect("the toy macro space is valid")
}

/// The toy spaces of every kind: chain, cell, macro.
pub fn toy_spaces() -> Vec<SearchSpace> {
    vec![toy_space(), toy_cell_space(), toy_macro_space()]
}

/// The cell with the highest synthetic fitness: NAS-Bench-201's best CIFAR-10 cell.
pub fn toy_cell_optimum() -> Architecture {
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
        .parse()
        .expect("valid text")
}

/// The macro network with the highest synthetic fitness: NAS-Bench-Macro's best
/// (`22212220`).
pub fn toy_macro_optimum() -> Architecture {
    "mbconv_k5_e6 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k3_e3 mbconv_k5_e6 / mbconv_k5_e6 mbconv_k5_e6 identity"
        .parse()
        .expect("valid text")
}

/// Closeness of a cell operation to the optimum's, in [0, 1]: 1 when equal, 0.4 for
/// another convolution where a convolution is best, 0 otherwise.
fn op_score(op: CellOp, target: CellOp) -> f64 {
    match (op, target) {
        (a, b) if a == b => 1.0,
        (CellOp::NorConv(_), CellOp::NorConv(_)) => 0.4,
        _ => 0.0,
    }
}

/// Closeness of a block to the optimum's, in [0, 1]: 1 when equal, 0.4 for another
/// inverted residual block where one is best, 0 otherwise.
fn block_score(block: Block, target: Block) -> f64 {
    match (block, target) {
        (a, b) if a == b => 1.0,
        (Block::MbConv { .. }, Block::MbConv { .. }) => 0.4,
        _ => 0.0,
    }
}

/// The noise-free synthetic fitness of an architecture of a toy space, in [0.3, 0.98];
/// exactly 0.98 for the kind's optimum ([`toy_optimum`], [`toy_cell_optimum`],
/// [`toy_macro_optimum`]) and lower for every other architecture of its toy space.
pub fn synthetic_fitness(arch: &Architecture) -> f64 {
    let scale = |score: f64, max: f64| 0.3 + 0.68 * score / max;
    match arch {
        Architecture::Chain(c) => chain_fitness(c),
        Architecture::Cell(cell) => {
            let Architecture::Cell(target) = toy_cell_optimum() else {
                unreachable!("the optimum is a cell")
            };
            let score: f64 = cell
                .ops()
                .iter()
                .zip(target.ops())
                .map(|(&a, &b)| op_score(a, b))
                .sum();
            scale(score, target.ops().len() as f64)
        }
        Architecture::Macro(net) => {
            let Architecture::Macro(target) = toy_macro_optimum() else {
                unreachable!("the optimum is a macro network")
            };
            let score: f64 = net
                .blocks()
                .zip(target.blocks())
                .map(|(a, b)| block_score(a, b))
                .sum();
            scale(score, target.blocks().count() as f64)
        }
    }
}

fn chain_fitness(arch: &Chain) -> f64 {
    let Architecture::Chain(target) = toy_optimum() else {
        unreachable!("the optimum is a chain")
    };
    let max = 2.0 * target.depth() as f64;
    let score: f64 = arch
        .layers()
        .iter()
        .zip(target.layers())
        .map(|(l, t)| slot_score(l, t))
        .sum();
    // Layers past the optimum's depth cost a little, so deeper is not free.
    let extra = arch.depth().saturating_sub(target.depth()) as f64;
    0.3 + 0.68 * (score - 0.5 * extra).max(0.0) / max
}

/// A deterministic evaluator computing [`synthetic_fitness`] plus seeded noise.
#[derive(Debug, Clone)]
pub struct SyntheticEvaluator {
    /// Half-width of the uniform noise added to the fitness, drawn from the trial seed.
    pub noise: f64,
    /// When set, architectures whose id is divisible by this number diverge (to exercise
    /// the handling of diverged trials).
    pub diverge_every: Option<u64>,
}

impl Default for SyntheticEvaluator {
    fn default() -> Self {
        SyntheticEvaluator {
            noise: 0.005,
            diverge_every: None,
        }
    }
}

impl Evaluator for SyntheticEvaluator {
    fn evaluate(&self, request: &EvalRequest<'_>) -> Result<Evaluation, EvalError> {
        let cost = match request.arch {
            Architecture::Chain(c) => c.cost(TOY_INPUT, TOY_CLASSES)?,
            // A stand-in cost for the other kinds: the toy has no skeleton to count.
            other => {
                let text = other.to_string();
                let convs = (text.matches("conv").count() as u64).max(1);
                crate::architecture::Cost {
                    params: 1000 * convs,
                    macs: 100_000 * convs,
                }
            }
        };
        let epochs = f64::from(request.epochs());
        let mut metrics = Metrics {
            params: cost.params,
            macs: cost.macs,
            epochs,
            // A simulated, deterministic training time: 1 ns per forward MAC per epoch.
            train_seconds: cost.macs as f64 * epochs * 1e-9,
            ..Metrics::default()
        };
        if let Some(n) = self.diverge_every
            && request.arch.id().0.is_multiple_of(n)
        {
            metrics.epochs = 0.0;
            return Ok(Evaluation {
                status: Status::Diverged,
                reason: Some("loss NaN at epoch 1, step 1 (synthetic)".into()),
                metrics,
            });
        }
        let u =
            (derive_seed(request.seed, "synthetic-noise", 0) >> 11) as f64 / (1u64 << 53) as f64;
        let mut fitness = synthetic_fitness(request.arch);
        if let Some(e) = request.fidelity {
            fitness -= learning_gap(request.arch) * 0.7f64.powi(e.saturating_sub(1) as i32);
        }
        let acc = (fitness + self.noise * (2.0 * u - 1.0)).clamp(0.0, 1.0);
        metrics.val_acc = Some(acc);
        metrics.val_loss = Some(-acc.max(1e-9).ln());
        if request.test {
            metrics.test_acc = Some((acc - 0.01).max(0.0));
            metrics.test_loss = Some(-(acc - 0.01).max(1e-9).ln());
        }
        Ok(Evaluation {
            status: Status::Ok,
            reason: None,
            metrics,
        })
    }

    /// Its scores are a function of (architecture, seed, epochs) and its training seconds
    /// grow with the epochs, so a continued trial costs only its new epochs.
    fn continues(&self) -> bool {
        true
    }
}

/// How far below its final fitness an architecture scores after one epoch of a
/// multi-fidelity request (the gap shrinks by 0.7 per epoch): between 0.05 and 0.35,
/// drawn from the architecture's id, so that the ranking after a few epochs only
/// partly predicts the final one, as with real learning curves.
pub fn learning_gap(arch: &Architecture) -> f64 {
    let u = (derive_seed(arch.id().0, "synthetic-gap", 0) >> 11) as f64 / (1u64 << 53) as f64;
    0.05 + 0.3 * u
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_from_seed;

    #[test]
    fn the_tiny_space_has_six_architectures() {
        assert_eq!(tiny_space().count_architectures(), 6);
        assert_eq!(tiny_space().enumerate(100).unwrap().len(), 6);
    }

    #[test]
    fn the_optimum_is_valid_and_beats_every_sample() {
        for (space, best) in [
            (toy_space(), toy_optimum()),
            (toy_cell_space(), toy_cell_optimum()),
            (toy_macro_space(), toy_macro_optimum()),
        ] {
            assert!(space.is_valid(&best));
            assert!((synthetic_fitness(&best) - 0.98).abs() < 1e-12);
            let mut rng = rng_from_seed(0);
            for _ in 0..20_000 {
                let a = space.sample(&mut rng);
                if a != best {
                    assert!(synthetic_fitness(&a) < 0.98, "{a}");
                }
            }
        }
    }

    #[test]
    fn the_toy_spaces_have_the_benchmarks_sizes() {
        assert_eq!(toy_cell_space().count_architectures(), 15_625);
        assert_eq!(toy_macro_space().count_architectures(), 6_561);
    }
}
