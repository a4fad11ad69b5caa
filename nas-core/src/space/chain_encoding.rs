//! The fixed-length integer encoding of chain architectures, for genetic operators and
//! controllers.
//!
//! The genome has `max_layers` slots of the same genes. The first gene of a slot is the
//! layer kind, or 0 for "end" (the network stops at the first end); the others are the
//! options of each kind the space uses, as indices into the space's lists: conv filters,
//! conv kernel, conv activation, dense units, dense activation, dropout rate. Genes that
//! the slot's kind does not use are ignored by [`ChainEncoding::decode`] and written as 0 by
//! [`ChainEncoding::encode`], so `decode(encode(a)) == a` and `encode` is canonical.

use serde::{Deserialize, Serialize};

use super::chain::{ChainParams, ChainSpace};
use crate::architecture::Chain;
use crate::error::{Error, Result};
use crate::layer::{Layer, LayerKind, Padding};

/// What a gene decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GeneRole {
    /// 0 = end of network, k = the k-th kind of [`ChainEncoding::kinds`] (1-based).
    Kind,
    /// Index into the conv filters list.
    ConvFilters,
    /// Index into the conv kernels list.
    ConvKernel,
    /// Index into the conv activations list.
    ConvActivation,
    /// Index into the dense units list.
    DenseUnits,
    /// Index into the dense activations list.
    DenseActivation,
    /// Index into the dropout rates list.
    DropoutRate,
}

impl GeneRole {
    /// The name of the option this gene decides, as in configs (`kind` for the kind gene).
    pub fn name(self) -> &'static str {
        match self {
            GeneRole::Kind => "kind",
            GeneRole::ConvFilters => "conv2d.filters",
            GeneRole::ConvKernel => "conv2d.kernels",
            GeneRole::ConvActivation => "conv2d.activations",
            GeneRole::DenseUnits => "dense.units",
            GeneRole::DenseActivation => "dense.activations",
            GeneRole::DropoutRate => "dropout.rates",
        }
    }

    /// The layer kind whose option this gene holds (None for [`GeneRole::Kind`]).
    pub fn layer_kind(self) -> Option<LayerKind> {
        match self {
            GeneRole::Kind => None,
            GeneRole::ConvFilters | GeneRole::ConvKernel | GeneRole::ConvActivation => {
                Some(LayerKind::Conv2d)
            }
            GeneRole::DenseUnits | GeneRole::DenseActivation => Some(LayerKind::Dense),
            GeneRole::DropoutRate => Some(LayerKind::Dropout),
        }
    }
}

/// One position of the genome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainGene {
    /// The layer slot (0-based) this gene belongs to.
    pub slot: usize,
    /// What it decides.
    pub role: GeneRole,
    /// Number of values it can take (0..cardinality).
    pub cardinality: usize,
}

/// The encoding of one search space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainEncoding {
    params: ChainParams,
    kinds: Vec<LayerKind>,
    genes: Vec<ChainGene>,
    genes_per_slot: usize,
}

impl ChainEncoding {
    /// The encoding of a space.
    pub fn new(space: &ChainSpace) -> Self {
        let params = space.params().clone();
        let kinds = params.kinds();
        let mut slot_roles = vec![(GeneRole::Kind, kinds.len() + 1)];
        if let Some(c) = &params.conv2d {
            slot_roles.push((GeneRole::ConvFilters, c.filters.len()));
            slot_roles.push((GeneRole::ConvKernel, c.kernels.len()));
            slot_roles.push((GeneRole::ConvActivation, c.activations.len()));
        }
        if let Some(d) = &params.dense {
            slot_roles.push((GeneRole::DenseUnits, d.units.len()));
            slot_roles.push((GeneRole::DenseActivation, d.activations.len()));
        }
        if let Some(d) = &params.dropout {
            slot_roles.push((GeneRole::DropoutRate, d.rates.len()));
        }
        let genes = (0..space.max_layers())
            .flat_map(|slot| {
                slot_roles
                    .iter()
                    .map(move |&(role, cardinality)| ChainGene {
                        slot,
                        role,
                        cardinality,
                    })
            })
            .collect();
        ChainEncoding {
            genes_per_slot: slot_roles.len(),
            params,
            kinds,
            genes,
        }
    }

    /// The genes, slot by slot.
    pub fn genes(&self) -> &[ChainGene] {
        &self.genes
    }

    /// Length of a genome.
    pub fn len(&self) -> usize {
        self.genes.len()
    }

    /// True for an encoding without genes (never for a checked space).
    pub fn is_empty(&self) -> bool {
        self.genes.is_empty()
    }

    /// Genes per layer slot.
    pub fn genes_per_slot(&self) -> usize {
        self.genes_per_slot
    }

    /// Number of slots (the space's `max_layers`).
    pub fn slots(&self) -> usize {
        self.genes.len() / self.genes_per_slot
    }

    /// The kinds a kind gene chooses from (value k means `kinds()[k - 1]`).
    pub fn kinds(&self) -> &[LayerKind] {
        &self.kinds
    }

    /// The genome of an architecture of the space.
    pub fn encode(&self, arch: &Chain) -> Result<Vec<usize>> {
        if arch.depth() > self.slots() {
            return Err(Error::Genome(format!(
                "`{arch}` has {} layers, the encoding {} slots",
                arch.depth(),
                self.slots()
            )));
        }
        let mut genome = vec![0; self.len()];
        for (slot, layer) in arch.layers().iter().enumerate() {
            let base = slot * self.genes_per_slot;
            let missing = || Error::Genome(format!("`{layer}` is not one of the space's layers"));
            let kind = self
                .kinds
                .iter()
                .position(|&k| k == layer.kind())
                .ok_or_else(missing)?;
            genome[base] = kind + 1;
            for offset in 1..self.genes_per_slot {
                let role = self.genes[base + offset].role;
                if role.layer_kind() != Some(layer.kind()) {
                    continue;
                }
                genome[base + offset] = self.option_index(role, layer).ok_or_else(missing)?;
            }
        }
        Ok(genome)
    }

    fn option_index(&self, role: GeneRole, layer: &Layer) -> Option<usize> {
        let p = &self.params;
        match (role, *layer) {
            (
                GeneRole::ConvFilters,
                Layer::Conv2d {
                    filters, padding, ..
                },
            ) => {
                let c = p.conv2d.as_ref()?;
                (c.padding == padding)
                    .then(|| c.filters.iter().position(|&f| f == filters))
                    .flatten()
            }
            (GeneRole::ConvKernel, Layer::Conv2d { kernel, .. }) => {
                p.conv2d.as_ref()?.kernels.iter().position(|&k| k == kernel)
            }
            (GeneRole::ConvActivation, Layer::Conv2d { activation, .. }) => p
                .conv2d
                .as_ref()?
                .activations
                .iter()
                .position(|&a| a == activation),
            (GeneRole::DenseUnits, Layer::Dense { units, .. }) => {
                p.dense.as_ref()?.units.iter().position(|&u| u == units)
            }
            (GeneRole::DenseActivation, Layer::Dense { activation, .. }) => p
                .dense
                .as_ref()?
                .activations
                .iter()
                .position(|&a| a == activation),
            (GeneRole::DropoutRate, Layer::Dropout { rate }) => {
                p.dropout.as_ref()?.rates.iter().position(|&r| r == rate)
            }
            _ => None,
        }
    }

    /// The architecture a genome describes. It may be invalid for the space (too short, or
    /// a conv after a dense layer): check with [`ChainSpace::contains`].
    pub fn decode(&self, genome: &[usize]) -> Result<Chain> {
        if genome.len() != self.len() {
            return Err(Error::Genome(format!(
                "length {} instead of {}",
                genome.len(),
                self.len()
            )));
        }
        if let Some((i, (g, v))) = self
            .genes
            .iter()
            .zip(genome)
            .enumerate()
            .find(|(_, (g, v))| **v >= g.cardinality)
        {
            return Err(Error::Genome(format!(
                "gene {i} (`layer {} {}`) is {v}, at most {}",
                g.slot + 1,
                g.role.name(),
                g.cardinality - 1
            )));
        }
        let mut layers = Vec::new();
        for slot in genome.chunks(self.genes_per_slot) {
            if slot[0] == 0 {
                break;
            }
            let value = |role: GeneRole| {
                let offset = self.genes[..self.genes_per_slot]
                    .iter()
                    .position(|g| g.role == role)
                    .expect("role of an enabled kind");
                slot[offset]
            };
            let layer = match self.kinds[slot[0] - 1] {
                LayerKind::Conv2d => {
                    let c = self.params.conv2d.as_ref().expect("conv enabled");
                    Layer::Conv2d {
                        filters: c.filters[value(GeneRole::ConvFilters)],
                        kernel: c.kernels[value(GeneRole::ConvKernel)],
                        activation: c.activations[value(GeneRole::ConvActivation)],
                        padding: c.padding,
                    }
                }
                LayerKind::MaxPool2d => Layer::MaxPool2d,
                LayerKind::Dense => {
                    let d = self.params.dense.as_ref().expect("dense enabled");
                    Layer::Dense {
                        units: d.units[value(GeneRole::DenseUnits)],
                        activation: d.activations[value(GeneRole::DenseActivation)],
                    }
                }
                LayerKind::Dropout => Layer::Dropout {
                    rate: self.params.dropout.as_ref().expect("dropout enabled").rates
                        [value(GeneRole::DropoutRate)],
                },
            };
            layers.push(layer);
        }
        Ok(Chain::new(layers))
    }

    /// Padding of the space's conv layers (not encoded: fixed by the space).
    pub fn padding(&self) -> Padding {
        self.params
            .conv2d
            .as_ref()
            .map(|c| c.padding)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::InputShape;

    #[test]
    fn decode_inverts_encode_and_rejects_bad_genomes() {
        let space = ChainParams::default()
            .check(InputShape::new(1, 28, 28))
            .unwrap();
        let enc = ChainEncoding::new(&space);
        assert_eq!(enc.genes_per_slot(), 1 + 3 + 2);
        assert_eq!(enc.len(), 4 * 6);
        let a: Chain = "conv5x5-32-tanh > maxpool2 > dense256-relu"
            .parse()
            .unwrap();
        let g = enc.encode(&a).unwrap();
        assert_eq!(&g[..6], &[1, 1, 1, 1, 0, 0]);
        assert_eq!(&g[6..12], &[2, 0, 0, 0, 0, 0]);
        assert_eq!(&g[12..18], &[3, 0, 0, 0, 2, 0]);
        assert_eq!(&g[18..], &[0; 6]);
        assert_eq!(enc.decode(&g).unwrap(), a);
        assert!(enc.decode(&g[1..]).is_err());
        let mut bad = g.clone();
        bad[1] = 3;
        assert!(enc.decode(&bad).is_err());
        let outside: Chain = "dense100-relu".parse().unwrap();
        assert!(enc.encode(&outside).is_err());
    }
}
