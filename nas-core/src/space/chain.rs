//! Chain spaces (`kind = "chain"`, the default): a sequence of hidden layers from a list
//! of conv, pooling, dense and dropout choices, checked once against the input shape;
//! exact counting, uniform sampling and enumeration of its architectures by dynamic
//! programming over the feature-map geometry.
//!
//! ```toml
//! [space]
//! min_layers = 1
//! max_layers = 4
//! maxpool2d = true
//! [space.conv2d]
//! filters = [16, 32, 64]
//! kernels = [3, 5]
//! activations = ["relu", "tanh"]
//! padding = "same"          # or "valid"
//! [space.dense]
//! units = [64, 128]
//! activations = ["relu"]
//! [space.dropout]
//! rates = [0.25, 0.5]
//! ```

use std::collections::HashMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::architecture::Chain;
use crate::error::{Error, Result};
use crate::layer::{Activation, DropoutRate, Layer, LayerKind, Padding};
use crate::shape::{Geometry, InputShape};

/// Name of the config section that holds a search space; error messages use it.
pub const SECTION: &str = "space";
/// Deepest network a space may allow.
pub const MAX_LAYERS: u32 = 32;
/// Largest number of filters of a conv layer.
pub const MAX_FILTERS: u32 = 4096;
/// Largest number of units of a dense layer.
pub const MAX_UNITS: u32 = 65_536;
/// Largest kernel side.
pub const MAX_KERNEL: u32 = 31;

fn default_min_layers() -> u32 {
    1
}

/// A search space as written in a config: unchecked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainParams {
    /// Fewest hidden layers (at least 1).
    #[serde(default = "default_min_layers")]
    pub min_layers: u32,
    /// Most hidden layers (at most [`MAX_LAYERS`]).
    pub max_layers: u32,
    /// Convolution choices; absent means no conv layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv2d: Option<Conv2dChoices>,
    /// Whether 2x2 max pooling may be used.
    #[serde(default)]
    pub maxpool2d: bool,
    /// Dense layer choices; absent means no hidden dense layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense: Option<DenseChoices>,
    /// Dropout choices; absent means no dropout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<DropoutChoices>,
}

/// Options of a conv layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2dChoices {
    /// Output channels to choose from.
    pub filters: Vec<u32>,
    /// Kernel sides to choose from (odd with `same` padding).
    pub kernels: Vec<u32>,
    /// Activations to choose from.
    pub activations: Vec<Activation>,
    /// Padding of every conv layer of the space (not searched).
    #[serde(default)]
    pub padding: Padding,
}

/// Options of a hidden dense layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseChoices {
    /// Widths to choose from.
    pub units: Vec<u32>,
    /// Activations to choose from.
    pub activations: Vec<Activation>,
}

/// Options of a dropout layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutChoices {
    /// Rates to choose from, each in [0, 1).
    pub rates: Vec<DropoutRate>,
}

impl Default for ChainParams {
    /// A small conv/pool/dense space in the spirit of the classic MNIST NAS examples:
    /// up to 4 layers, 3x3/5x5 convs with 16-64 filters, pooling, dense 64-256.
    fn default() -> Self {
        ChainParams {
            min_layers: 1,
            max_layers: 4,
            conv2d: Some(Conv2dChoices {
                filters: vec![16, 32, 64],
                kernels: vec![3, 5],
                activations: vec![Activation::Relu, Activation::Tanh],
                padding: Padding::Same,
            }),
            maxpool2d: true,
            dense: Some(DenseChoices {
                units: vec![64, 128, 256],
                activations: vec![Activation::Relu, Activation::Tanh],
            }),
            dropout: None,
        }
    }
}

fn field(name: &str) -> String {
    format!("{SECTION}.{name}")
}

fn show<T: std::fmt::Debug>(list: &[T]) -> String {
    format!("{list:?}")
}

/// Rejects empty lists and repeated values.
fn check_list<T: PartialEq + std::fmt::Debug>(name: &str, list: &[T]) -> Result<()> {
    if list.is_empty() {
        return Err(Error::invalid(field(name), "[]", "a non-empty list"));
    }
    for (i, v) in list.iter().enumerate() {
        if list[..i].contains(v) {
            return Err(Error::invalid(
                field(name),
                show(list),
                format!("a list without repeats ({v:?} appears twice)"),
            ));
        }
    }
    Ok(())
}

fn check_range(name: &str, list: &[u32], max: u32) -> Result<()> {
    check_list(name, list)?;
    if let Some(bad) = list.iter().find(|&&v| v == 0 || v > max) {
        return Err(Error::invalid(
            field(name),
            format!("{} in {}", bad, show(list)),
            format!("integers from 1 to {max}"),
        ));
    }
    Ok(())
}

impl ChainParams {
    /// Checks every field that does not depend on the input shape.
    pub fn validate(&self) -> Result<()> {
        if self.min_layers == 0 || self.min_layers > MAX_LAYERS {
            return Err(Error::invalid(
                field("min_layers"),
                self.min_layers,
                format!("an integer from 1 to {MAX_LAYERS}"),
            ));
        }
        if self.max_layers < self.min_layers || self.max_layers > MAX_LAYERS {
            return Err(Error::invalid(
                field("max_layers"),
                self.max_layers,
                format!(
                    "an integer from min_layers ({}) to {MAX_LAYERS}",
                    self.min_layers
                ),
            ));
        }
        if self.conv2d.is_none()
            && !self.maxpool2d
            && self.dense.is_none()
            && self.dropout.is_none()
        {
            return Err(Error::invalid(
                SECTION,
                "no layer kinds",
                "at least one of conv2d, maxpool2d = true, dense, dropout",
            ));
        }
        if let Some(c) = &self.conv2d {
            check_range("conv2d.filters", &c.filters, MAX_FILTERS)?;
            check_range("conv2d.kernels", &c.kernels, MAX_KERNEL)?;
            check_list("conv2d.activations", &c.activations)?;
            if c.padding == Padding::Same
                && let Some(even) = c.kernels.iter().find(|&&k| k % 2 == 0)
            {
                return Err(Error::invalid(
                    field("conv2d.kernels"),
                    format!("{even} in {}", show(&c.kernels)),
                    "odd sides with padding = \"same\" (or set padding = \"valid\")",
                ));
            }
        }
        if let Some(d) = &self.dense {
            check_range("dense.units", &d.units, MAX_UNITS)?;
            check_list("dense.activations", &d.activations)?;
        }
        if let Some(d) = &self.dropout {
            check_list("dropout.rates", &d.rates)?;
        }
        Ok(())
    }

    /// Every concrete layer of the space, in canonical order: convs (filters, then kernel,
    /// then activation, as listed), pooling, dense layers, dropout.
    pub fn variants(&self) -> Vec<Layer> {
        let mut out = Vec::new();
        if let Some(c) = &self.conv2d {
            for &filters in &c.filters {
                for &kernel in &c.kernels {
                    for &activation in &c.activations {
                        out.push(Layer::Conv2d {
                            filters,
                            kernel,
                            activation,
                            padding: c.padding,
                        });
                    }
                }
            }
        }
        if self.maxpool2d {
            out.push(Layer::MaxPool2d);
        }
        if let Some(d) = &self.dense {
            for &units in &d.units {
                for &activation in &d.activations {
                    out.push(Layer::Dense { units, activation });
                }
            }
        }
        if let Some(d) = &self.dropout {
            for &rate in &d.rates {
                out.push(Layer::Dropout { rate });
            }
        }
        out
    }

    /// The layer kinds this space uses, in canonical order.
    pub fn kinds(&self) -> Vec<LayerKind> {
        LayerKind::ALL
            .into_iter()
            .filter(|k| match k {
                LayerKind::Conv2d => self.conv2d.is_some(),
                LayerKind::MaxPool2d => self.maxpool2d,
                LayerKind::Dense => self.dense.is_some(),
                LayerKind::Dropout => self.dropout.is_some(),
            })
            .collect()
    }

    /// Checks the params and binds them to an input shape.
    pub fn check(&self, input: InputShape) -> Result<ChainSpace> {
        self.validate()?;
        if input.is_empty() {
            return Err(Error::invalid("input shape", input, "three positive sides"));
        }
        ChainSpace::build(self.clone(), input)
    }
}

/// A checked chain space bound to an input shape. Every architecture it yields is valid.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSpace {
    params: ChainParams,
    input: InputShape,
    variants: Vec<Layer>,
    /// Validity states reachable from the input: (height, width, flattened).
    states: Vec<(u32, u32, bool)>,
    /// `next[s][v]`: the state after variant `v` in state `s`, if the layer is allowed.
    next: Vec<Vec<Option<usize>>>,
    /// `completions[s][k]`: number of valid sequences of exactly `k` more layers from `s`.
    completions: Vec<Vec<u128>>,
    total: u128,
}

fn geometry_of(state: (u32, u32, bool)) -> Geometry {
    match state {
        (_, _, true) => Geometry::Flat { features: 1 },
        (height, width, false) => Geometry::Spatial {
            channels: 1,
            height,
            width,
        },
    }
}

impl ChainSpace {
    fn build(params: ChainParams, input: InputShape) -> Result<Self> {
        let variants = params.variants();
        let start = input.geometry().validity_key();
        let mut states = vec![start];
        let mut index: HashMap<(u32, u32, bool), usize> = HashMap::from([(start, 0)]);
        let mut next = Vec::new();
        let mut s = 0;
        while s < states.len() {
            let g = geometry_of(states[s]);
            let row: Vec<Option<usize>> = variants
                .iter()
                .map(|v| {
                    let key = v.output_geometry(g).ok()?.validity_key();
                    Some(*index.entry(key).or_insert_with(|| {
                        states.push(key);
                        states.len() - 1
                    }))
                })
                .collect();
            next.push(row);
            s += 1;
        }
        let max = params.max_layers as usize;
        let mut completions = vec![vec![0u128; max + 1]; states.len()];
        for row in &mut completions {
            row[0] = 1;
        }
        let too_large = || {
            Error::invalid(
                field("max_layers"),
                params.max_layers,
                "a space of fewer than 2^127 architectures (fewer layers or choices)",
            )
        };
        for k in 1..=max {
            for s in 0..states.len() {
                let mut sum: u128 = 0;
                for t in next[s].iter().flatten() {
                    sum = sum
                        .checked_add(completions[*t][k - 1])
                        .ok_or_else(too_large)?;
                }
                completions[s][k] = sum;
            }
        }
        let mut total: u128 = 0;
        for c in &completions[0][params.min_layers as usize..=max] {
            total = total.checked_add(*c).ok_or_else(too_large)?;
        }
        if total == 0 {
            return Err(Error::EmptySpace {
                input: input.to_string(),
                reason: format!(
                    "every network of {}..={} layers shrinks the feature map below 1x1 or puts a conv/pool after a dense layer",
                    params.min_layers, params.max_layers
                ),
            });
        }
        Ok(ChainSpace {
            params,
            input,
            variants,
            states,
            next,
            completions,
            total,
        })
    }

    /// The params this space was checked from.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The input shape networks are built for.
    pub fn input(&self) -> InputShape {
        self.input
    }

    /// Fewest hidden layers.
    pub fn min_layers(&self) -> usize {
        self.params.min_layers as usize
    }

    /// Most hidden layers.
    pub fn max_layers(&self) -> usize {
        self.params.max_layers as usize
    }

    /// Every concrete layer, in canonical order (see [`ChainParams::variants`]).
    pub fn variants(&self) -> &[Layer] {
        &self.variants
    }

    /// Position of a concrete layer in [`ChainSpace::variants`].
    pub fn variant_index(&self, layer: &Layer) -> Option<usize> {
        self.variants.iter().position(|v| v == layer)
    }

    /// Exact number of valid architectures in the space.
    pub fn count_architectures(&self) -> u128 {
        self.total
    }

    /// Ok when `arch` is in the space: depth in range, every layer one of the space's
    /// choices, and valid for the input shape.
    pub fn contains(&self, arch: &Chain) -> Result<()> {
        let not_in = |reason: String| Error::NotInSpace {
            arch: arch.to_string(),
            reason,
        };
        let depth = arch.depth();
        if depth < self.min_layers() || depth > self.max_layers() {
            return Err(not_in(format!(
                "{depth} layers, the space allows {}..={}",
                self.min_layers(),
                self.max_layers()
            )));
        }
        if let Some(layer) = arch
            .layers()
            .iter()
            .find(|l| self.variant_index(l).is_none())
        {
            return Err(not_in(format!(
                "`{layer}` is not one of the space's layers"
            )));
        }
        arch.geometries(self.input)
            .map(|_| ())
            .map_err(|reason| not_in(format!("{reason} (input {})", self.input)))
    }

    /// True when `arch` is in the space.
    pub fn is_valid(&self, arch: &Chain) -> bool {
        self.contains(arch).is_ok()
    }

    /// The state index after the given layers, if they form a valid prefix.
    fn state_after(&self, layers: &[Layer]) -> Option<usize> {
        let mut s = 0;
        for layer in layers {
            s = self.next[s][self.variant_index(layer)?]?;
        }
        Some(s)
    }

    /// Variants that may follow `prefix` such that the network can still be completed to a
    /// valid architecture of exactly `depth` layers. Empty if the prefix is invalid.
    pub fn allowed_next(&self, prefix: &[Layer], depth: usize) -> Vec<usize> {
        let Some(s) = self.state_after(prefix) else {
            return Vec::new();
        };
        if prefix.len() >= depth || depth > self.max_layers() {
            return Vec::new();
        }
        let remaining = depth - prefix.len() - 1;
        (0..self.variants.len())
            .filter(|&v| self.next[s][v].is_some_and(|t| self.completions[t][remaining] > 0))
            .collect()
    }

    /// The state after a prefix of variant indices, if it is a valid prefix.
    fn state_after_indices(&self, prefix: &[usize]) -> Option<usize> {
        let mut s = 0;
        for &v in prefix {
            s = *self.next[s].get(v)?.as_ref()?;
        }
        Some(s)
    }

    /// Indices of the variants after which `prefix` (variant indices) can still be
    /// completed to an architecture of the space, in canonical order: the moves of the
    /// sequential views (REINFORCE's masks, Q-learning's actions). Empty when the prefix
    /// is invalid or already at `max_layers`.
    pub fn completable_next(&self, prefix: &[usize]) -> Vec<usize> {
        let Some(s) = self.state_after_indices(prefix) else {
            return Vec::new();
        };
        let len = prefix.len() + 1;
        let lowest = self.min_layers().max(len);
        if lowest > self.max_layers() {
            return Vec::new();
        }
        (0..self.variants.len())
            .filter(|&v| {
                self.next[s][v].is_some_and(|t| {
                    (lowest..=self.max_layers()).any(|d| self.completions[t][d - len] > 0)
                })
            })
            .collect()
    }

    /// True when `prefix` can be extended to a valid architecture of some allowed depth
    /// (or already is one).
    pub fn is_completable(&self, prefix: &[Layer]) -> bool {
        let Some(s) = self.state_after(prefix) else {
            return false;
        };
        (self.min_layers().max(prefix.len())..=self.max_layers())
            .any(|d| self.completions[s][d - prefix.len()] > 0)
    }

    /// Number of valid architectures of exactly `depth` layers.
    pub fn count_with_depth(&self, depth: usize) -> u128 {
        if depth < self.min_layers() || depth > self.max_layers() {
            return 0;
        }
        self.completions[0][depth]
    }

    /// Draws an architecture uniformly over the whole valid set: every valid architecture
    /// has probability 1 / [`count_architectures`](Self::count_architectures). (Depth is
    /// drawn in proportion to how many architectures have it, then each layer in proportion
    /// to how many valid completions it leaves.)
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Chain {
        let mut pick = rng.random_range(0..self.total);
        let mut depth = self.min_layers();
        for d in self.min_layers()..=self.max_layers() {
            let c = self.completions[0][d];
            if pick < c {
                depth = d;
                break;
            }
            pick -= c;
        }
        self.sample_with_depth(depth, rng)
    }

    /// Draws uniformly among the valid architectures of exactly `depth` layers.
    ///
    /// # Panics
    /// If no architecture has that depth (check [`count_with_depth`](Self::count_with_depth)).
    pub fn sample_with_depth<R: Rng + ?Sized>(&self, depth: usize, rng: &mut R) -> Chain {
        assert!(
            self.count_with_depth(depth) > 0,
            "no valid architecture of depth {depth}"
        );
        let mut layers = Vec::with_capacity(depth);
        let mut s = 0;
        for remaining in (0..depth).rev() {
            let mut pick = rng.random_range(0..self.completions[s][remaining + 1]);
            for (v, t) in self.next[s].iter().enumerate() {
                let Some(t) = *t else { continue };
                let c = self.completions[t][remaining];
                if pick < c {
                    layers.push(self.variants[v]);
                    s = t;
                    break;
                }
                pick -= c;
            }
        }
        Chain::new(layers)
    }

    /// Every valid architecture, by depth then in canonical layer order; refuses (with the
    /// count) when there are more than `limit`.
    pub fn enumerate(&self, limit: u128) -> Result<Vec<Chain>> {
        if self.total > limit {
            return Err(Error::invalid(
                "architecture limit",
                limit,
                format!(
                    "at least the size of the space ({} architectures)",
                    self.total
                ),
            ));
        }
        let mut out = Vec::with_capacity(self.total as usize);
        let mut prefix = Vec::new();
        for depth in self.min_layers()..=self.max_layers() {
            self.enumerate_from(0, depth, &mut prefix, &mut out);
        }
        Ok(out)
    }

    fn enumerate_from(
        &self,
        s: usize,
        remaining: usize,
        prefix: &mut Vec<Layer>,
        out: &mut Vec<Chain>,
    ) {
        if remaining == 0 {
            out.push(Chain::new(prefix.clone()));
            return;
        }
        for (v, t) in self.next[s].iter().enumerate() {
            if let Some(t) = *t
                && self.completions[t][remaining - 1] > 0
            {
                prefix.push(self.variants[v]);
                self.enumerate_from(t, remaining - 1, prefix, out);
                prefix.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn small() -> ChainParams {
        ChainParams {
            min_layers: 1,
            max_layers: 3,
            conv2d: Some(Conv2dChoices {
                filters: vec![4, 8],
                kernels: vec![3],
                activations: vec![Activation::Relu],
                padding: Padding::Valid,
            }),
            maxpool2d: true,
            dense: Some(DenseChoices {
                units: vec![16],
                activations: vec![Activation::Relu, Activation::Tanh],
            }),
            dropout: Some(DropoutChoices {
                rates: vec![DropoutRate::from_f64(0.5).unwrap()],
            }),
        }
    }

    fn rejected(params: ChainParams, field_name: &str) {
        match params.check(InputShape::new(1, 28, 28)) {
            Err(Error::InvalidParam { field, .. }) => assert_eq!(field, field_name),
            other => panic!("expected an error on {field_name}, got {other:?}"),
        }
    }

    #[test]
    fn rejects_min_layers_zero() {
        rejected(
            ChainParams {
                min_layers: 0,
                ..small()
            },
            "space.min_layers",
        );
    }

    #[test]
    fn rejects_min_above_max() {
        rejected(
            ChainParams {
                min_layers: 4,
                max_layers: 2,
                ..small()
            },
            "space.max_layers",
        );
    }

    #[test]
    fn rejects_too_many_layers() {
        rejected(
            ChainParams {
                max_layers: MAX_LAYERS + 1,
                ..small()
            },
            "space.max_layers",
        );
    }

    #[test]
    fn rejects_a_space_without_layer_kinds() {
        rejected(
            ChainParams {
                conv2d: None,
                maxpool2d: false,
                dense: None,
                dropout: None,
                ..small()
            },
            "space",
        );
    }

    #[test]
    fn rejects_empty_filters() {
        let mut p = small();
        p.conv2d.as_mut().unwrap().filters.clear();
        rejected(p, "space.conv2d.filters");
    }

    #[test]
    fn rejects_zero_filters() {
        let mut p = small();
        p.conv2d.as_mut().unwrap().filters = vec![8, 0];
        rejected(p, "space.conv2d.filters");
    }

    #[test]
    fn rejects_repeated_filters() {
        let mut p = small();
        p.conv2d.as_mut().unwrap().filters = vec![8, 8];
        rejected(p, "space.conv2d.filters");
    }

    #[test]
    fn rejects_empty_kernels() {
        let mut p = small();
        p.conv2d.as_mut().unwrap().kernels.clear();
        rejected(p, "space.conv2d.kernels");
    }

    #[test]
    fn rejects_zero_and_huge_kernels() {
        let mut p = small();
        p.conv2d.as_mut().unwrap().kernels = vec![0];
        rejected(p.clone(), "space.conv2d.kernels");
        p.conv2d.as_mut().unwrap().kernels = vec![MAX_KERNEL + 2];
        rejected(p, "space.conv2d.kernels");
    }

    #[test]
    fn rejects_even_kernels_with_same_padding() {
        let mut p = small();
        let c = p.conv2d.as_mut().unwrap();
        c.kernels = vec![3, 4];
        c.padding = Padding::Same;
        rejected(p, "space.conv2d.kernels");
    }

    #[test]
    fn rejects_empty_conv_activations() {
        let mut p = small();
        p.conv2d.as_mut().unwrap().activations.clear();
        rejected(p, "space.conv2d.activations");
    }

    #[test]
    fn rejects_empty_and_zero_units() {
        let mut p = small();
        p.dense.as_mut().unwrap().units.clear();
        rejected(p.clone(), "space.dense.units");
        p.dense.as_mut().unwrap().units = vec![0];
        rejected(p, "space.dense.units");
    }

    #[test]
    fn rejects_too_wide_dense_layers() {
        let mut p = small();
        p.dense.as_mut().unwrap().units = vec![MAX_UNITS + 1];
        rejected(p, "space.dense.units");
    }

    #[test]
    fn rejects_empty_dense_activations() {
        let mut p = small();
        p.dense.as_mut().unwrap().activations.clear();
        rejected(p, "space.dense.activations");
    }

    #[test]
    fn rejects_empty_dropout_rates() {
        let mut p = small();
        p.dropout.as_mut().unwrap().rates.clear();
        rejected(p, "space.dropout.rates");
    }

    #[test]
    fn rejects_dropout_rates_outside_the_unit_interval() {
        let err = toml::from_str::<ChainParams>("max_layers = 2\n[dropout]\nrates = [1.5]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside [0, 1)"), "{err}");
    }

    #[test]
    fn rejects_unknown_fields_and_activations() {
        assert!(toml::from_str::<ChainParams>("max_layers = 2\nmaxpool = true").is_err());
        let err = toml::from_str::<ChainParams>(
            "max_layers = 2\n[dense]\nunits = [8]\nactivations = [\"swish\"]",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("swish"), "{err}");
    }

    #[test]
    fn a_space_with_nothing_valid_for_the_input_is_refused() {
        let p = ChainParams {
            min_layers: 3,
            max_layers: 3,
            conv2d: None,
            maxpool2d: true,
            dense: None,
            dropout: None,
        };
        assert!(matches!(
            p.check(InputShape::new(1, 4, 4)),
            Err(Error::EmptySpace { .. })
        ));
        assert_eq!(
            p.check(InputShape::new(1, 8, 8))
                .unwrap()
                .count_architectures(),
            1
        );
    }

    #[test]
    fn parses_from_toml() {
        let p: ChainParams = toml::from_str(
            r#"
            max_layers = 3
            maxpool2d = true
            [conv2d]
            filters = [4, 8]
            kernels = [3]
            activations = ["relu"]
            padding = "valid"
            [dense]
            units = [16]
            activations = ["relu", "tanh"]
            [dropout]
            rates = [0.5]
            "#,
        )
        .unwrap();
        assert_eq!(p, small());
    }

    #[test]
    fn count_matches_brute_force_enumeration() {
        for input in [
            InputShape::new(1, 28, 28),
            InputShape::new(1, 5, 5),
            InputShape::new(3, 3, 3),
        ] {
            let space = small().check(input).unwrap();
            let variants = space.variants().to_vec();
            // Every sequence of 1..=3 variants, filtered by validity.
            let mut brute = 0u128;
            let mut seqs: Vec<Vec<Layer>> = vec![vec![]];
            for _ in 0..space.max_layers() {
                let mut longer = Vec::new();
                for s in &seqs {
                    for v in &variants {
                        let mut t = s.clone();
                        t.push(*v);
                        if Chain::new(t.clone()).geometries(input).is_ok() {
                            brute += 1;
                        }
                        longer.push(t);
                    }
                }
                seqs = longer;
            }
            assert_eq!(space.count_architectures(), brute, "input {input}");
            let all = space.enumerate(u128::MAX).unwrap();
            assert_eq!(all.len() as u128, brute);
            assert!(all.iter().all(|a| space.is_valid(a)));
            let mut ids: Vec<_> = all
                .iter()
                .map(|c| crate::Architecture::from(c.clone()).id())
                .collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), all.len(), "ids are unique");
        }
    }

    #[test]
    fn enumerate_refuses_above_the_limit() {
        let space = small().check(InputShape::new(1, 28, 28)).unwrap();
        assert!(space.enumerate(10).is_err());
    }

    #[test]
    fn sampling_is_uniform_over_the_valid_set() {
        // 1x5x5 keeps the space small enough to count every architecture's frequency.
        let space = small().check(InputShape::new(1, 5, 5)).unwrap();
        let n = space.count_architectures() as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let draws = n * 400;
        let mut freq: HashMap<Chain, usize> = HashMap::new();
        for _ in 0..draws {
            *freq.entry(space.sample(&mut rng)).or_default() += 1;
        }
        assert_eq!(freq.len(), n, "every architecture is drawn");
        // Chi-square statistic against uniform; with n-1 degrees of freedom its mean is n-1
        // and its std sqrt(2(n-1)); allow 5 std.
        let expected = draws as f64 / n as f64;
        let chi2: f64 = freq
            .values()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        let dof = (n - 1) as f64;
        assert!(
            chi2 < dof + 5.0 * (2.0 * dof).sqrt(),
            "chi2 {chi2} for {n} architectures"
        );
    }

    #[test]
    fn allowed_next_keeps_networks_completable() {
        let space = small().check(InputShape::new(1, 5, 5)).unwrap();
        let pool = space.variant_index(&Layer::MaxPool2d).unwrap();
        // 5x5 -> pool -> 2x2 -> pool -> 1x1: a third pool is impossible.
        let prefix = [Layer::MaxPool2d, Layer::MaxPool2d];
        assert!(!space.allowed_next(&prefix, 3).contains(&pool));
        assert!(space.is_completable(&prefix));
        assert!(!space.is_completable(&[Layer::MaxPool2d; 3]));
    }
}
