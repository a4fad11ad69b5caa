//! The chain space's side of the space interface: its neighbourhood (one edit: alter an
//! option, change a layer's kind, insert or remove a layer) and the random edit that
//! regularized evolution applies; the genetic operators of its variable-length genome
//! (hidden genes, repair); and the sequential views that REINFORCE and Q-learning walk.
//!
//! Every function here consumes its RNG exactly as the strategies did before the space
//! interface existed, so chain results are unchanged.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::chain::ChainSpace;
use super::chain_encoding::ChainEncoding;
use super::{Decision, decide};
use crate::architecture::Chain;
use crate::error::{Error, Result};
use crate::layer::Layer;

/// Edits [`mutate`] chooses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edit {
    /// Change one option of one layer (width, kernel, activation or rate).
    Alter,
    /// Replace one layer by a layer of another kind.
    ChangeKind,
    /// Insert a layer.
    Insert,
    /// Remove a layer.
    Remove,
}

const ATTEMPTS: usize = 64;

/// Number of options in which two layers of the same kind differ (None across kinds).
fn option_distance(a: &Layer, b: &Layer) -> Option<usize> {
    let d = match (*a, *b) {
        (
            Layer::Conv2d {
                filters: f1,
                kernel: k1,
                activation: a1,
                ..
            },
            Layer::Conv2d {
                filters: f2,
                kernel: k2,
                activation: a2,
                ..
            },
        ) => usize::from(f1 != f2) + usize::from(k1 != k2) + usize::from(a1 != a2),
        (Layer::MaxPool2d, Layer::MaxPool2d) => 0,
        (
            Layer::Dense {
                units: u1,
                activation: a1,
            },
            Layer::Dense {
                units: u2,
                activation: a2,
            },
        ) => usize::from(u1 != u2) + usize::from(a1 != a2),
        (Layer::Dropout { rate: r1 }, Layer::Dropout { rate: r2 }) => usize::from(r1 != r2),
        _ => return None,
    };
    Some(d)
}

/// Every architecture one edit away from `arch` (alter one option of one layer, change one
/// layer to a layer of another kind, insert a layer anywhere, remove a layer) that is in
/// the space, without repeats and without `arch`, in a fixed order: by position, then
/// edit (alter and change kind, then insert, then remove), then variant order.
pub(crate) fn neighbours(arch: &Chain, space: &ChainSpace) -> Vec<Chain> {
    let layers = arch.layers();
    let variants = space.variants();
    let mut out: Vec<Chain> = Vec::new();
    let mut push = |candidate: Vec<Layer>| {
        let c = Chain::new(candidate);
        if &c != arch && space.is_valid(&c) && !out.contains(&c) {
            out.push(c);
        }
    };
    for i in 0..=layers.len() {
        if let Some(old) = layers.get(i) {
            for v in variants {
                let one_option = option_distance(old, v) == Some(1);
                if one_option || v.kind() != old.kind() {
                    let mut c = layers.to_vec();
                    c[i] = *v;
                    push(c);
                }
            }
        }
        if layers.len() < space.max_layers() {
            for v in variants {
                let mut c = layers.to_vec();
                c.insert(i, *v);
                push(c);
            }
        }
        if i < layers.len() && layers.len() > space.min_layers() {
            let mut c = layers.to_vec();
            c.remove(i);
            push(c);
        }
    }
    out
}

/// The chain's genome: nas-core's chain encoding, `max_layers` slots of a kind gene (0 =
/// end of the network) and the option genes of every kind the space uses. Unlike
/// [`ChainEncoding::encode`], which writes 0 in the genes a layer does not use, the
/// genetic operators keep random values there: they are hidden (not expressed) until a
/// mutation changes the layer's kind or a crossover brings them next to another kind gene,
/// so a changed kind comes with random options rather than always the first ones. Kind
/// genes after the first end are always 0.
#[derive(Debug, Clone)]
pub(crate) struct ChainGenetics<'a> {
    space: &'a ChainSpace,
    enc: ChainEncoding,
    /// Canonical slot genes of each variant of the space (unused genes 0).
    variant_slots: Vec<Vec<usize>>,
}

/// Applies one edit at random positions; the result may be invalid or unchanged.
pub(crate) fn apply_edit<R: Rng + ?Sized>(
    arch: &Chain,
    edit: Edit,
    space: &ChainSpace,
    rng: &mut R,
) -> Chain {
    let mut layers = arch.layers().to_vec();
    let variants = space.variants();
    match edit {
        Edit::Alter | Edit::ChangeKind if !layers.is_empty() => {
            let i = rng.random_range(0..layers.len());
            let old = layers[i];
            let choices: Vec<&Layer> = variants
                .iter()
                .filter(|v| match edit {
                    Edit::Alter => option_distance(&old, v) == Some(1),
                    _ => v.kind() != old.kind(),
                })
                .collect();
            if let Some(new) = choices.choose(rng) {
                layers[i] = **new;
            }
        }
        Edit::Insert => {
            let i = rng.random_range(0..=layers.len());
            if let Some(new) = variants.choose(rng) {
                layers.insert(i, *new);
            }
        }
        Edit::Remove if !layers.is_empty() => {
            let i = rng.random_range(0..layers.len());
            layers.remove(i);
        }
        _ => {}
    }
    Chain::new(layers)
}

/// A random neighbour of `arch` in the space: one edit (alter an option, change a layer's
/// kind, insert or remove a layer, chosen uniformly among those the depth allows), redrawn
/// until the result is valid and different. If 64 draws fail (a tiny neighbourhood), a
/// uniform sample different from `arch` is returned; in a space of one architecture, `arch`.
pub(crate) fn mutate<R: Rng + ?Sized>(arch: &Chain, space: &ChainSpace, rng: &mut R) -> Chain {
    let mut edits = vec![Edit::Alter, Edit::ChangeKind];
    if arch.depth() < space.max_layers() {
        edits.push(Edit::Insert);
    }
    if arch.depth() > space.min_layers() {
        edits.push(Edit::Remove);
    }
    for _ in 0..ATTEMPTS {
        let edit = *edits.choose(rng).expect("at least two edits");
        let child = apply_edit(arch, edit, space, rng);
        if &child != arch && space.is_valid(&child) {
            return child;
        }
    }
    if space.count_architectures() > 1 {
        loop {
            let child = space.sample(rng);
            if &child != arch {
                return child;
            }
        }
    }
    arch.clone()
}

impl<'a> ChainGenetics<'a> {
    pub(crate) fn new(space: &'a ChainSpace) -> Self {
        let enc = ChainEncoding::new(space);
        let gps = enc.genes_per_slot();
        let variant_slots = space
            .variants()
            .iter()
            .map(|v| {
                let genome = enc
                    .encode(&Chain::new(vec![*v]))
                    .expect("a variant of the space encodes");
                genome[..gps].to_vec()
            })
            .collect();
        ChainGenetics {
            space,
            enc,
            variant_slots,
        }
    }

    fn gps(&self) -> usize {
        self.enc.genes_per_slot()
    }

    /// True when the gene at `offset` of a slot is expressed by a slot of kind gene `kind`.
    fn expressed(&self, offset: usize, kind: usize) -> bool {
        if offset == 0 {
            return true;
        }
        kind > 0 && self.enc.genes()[offset].role.layer_kind() == Some(self.enc.kinds()[kind - 1])
    }

    /// Number of values of the gene at `offset` of a slot.
    fn cardinality(&self, offset: usize) -> usize {
        self.enc.genes()[offset].cardinality
    }

    /// The slot genes of a layer, with its unused option genes drawn at random.
    fn slot_of<R: Rng + ?Sized>(&self, variant: usize, rng: &mut R) -> Vec<usize> {
        let mut slot = self.variant_slots[variant].clone();
        self.hide_random(&mut slot, rng);
        slot
    }

    /// An end slot (kind 0) with random hidden option genes.
    fn end_slot<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<usize> {
        let mut slot = vec![0; self.gps()];
        self.hide_random(&mut slot, rng);
        slot
    }

    /// Draws every gene of `slot` that its kind does not express.
    fn hide_random<R: Rng + ?Sized>(&self, slot: &mut [usize], rng: &mut R) {
        let kind = slot[0];
        for (offset, gene) in slot.iter_mut().enumerate().skip(1) {
            if !self.expressed(offset, kind) {
                *gene = rng.random_range(0..self.cardinality(offset));
            }
        }
    }

    /// The genome of `arch` (a member of the space) with random hidden genes.
    pub(crate) fn genome_of<R: Rng + ?Sized>(&self, arch: &Chain, rng: &mut R) -> Vec<usize> {
        let mut slots = Vec::with_capacity(self.enc.slots());
        for layer in arch.layers() {
            let v = self
                .space
                .variant_index(layer)
                .expect("a member of the space has only the space's layers");
            slots.push(self.slot_of(v, rng));
        }
        while slots.len() < self.enc.slots() {
            slots.push(self.end_slot(rng));
        }
        slots.concat()
    }

    /// The expressed slots of a genome: those before the first end.
    fn split(&self, genome: &[usize]) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let slots: Vec<Vec<usize>> = genome.chunks(self.gps()).map(<[usize]>::to_vec).collect();
        let depth = slots.iter().position(|s| s[0] == 0).unwrap_or(slots.len());
        let mut active = slots;
        let hidden = active.split_off(depth);
        (active, hidden)
    }

    /// Rebuilds a genome from expressed slots and spare slots for the tail (set to end).
    fn join<R: Rng + ?Sized>(
        &self,
        mut active: Vec<Vec<usize>>,
        spare: Vec<Vec<usize>>,
        rng: &mut R,
    ) -> Vec<usize> {
        active.truncate(self.enc.slots());
        for mut slot in spare {
            if active.len() == self.enc.slots() {
                break;
            }
            slot[0] = 0;
            active.push(slot);
        }
        while active.len() < self.enc.slots() {
            active.push(self.end_slot(rng));
        }
        active.concat()
    }

    /// Per-gene mutation: every decision of the expressed network changes independently
    /// with probability `rate`: each layer's kind (to another kind; its hidden options
    /// become expressed), each of its options (to another value), its presence (removal),
    /// and each of the depth + 1 places where a uniformly drawn layer may be inserted
    /// (while the genome has a free slot).
    pub(crate) fn mutate<R: Rng + ?Sized>(
        &self,
        genome: &[usize],
        rate: f64,
        rng: &mut R,
    ) -> Vec<usize> {
        let (mut active, mut spare) = self.split(genome);
        let kinds = self.enc.kinds().len();
        for slot in &mut active {
            if kinds > 1 && rng.random_bool(rate) {
                let others: Vec<usize> = (1..=kinds).filter(|&k| k != slot[0]).collect();
                slot[0] = *others.choose(rng).expect("at least one other kind");
            }
            for offset in 1..slot.len() {
                let card = self.cardinality(offset);
                if self.expressed(offset, slot[0]) && card > 1 && rng.random_bool(rate) {
                    let others: Vec<usize> = (0..card).filter(|&v| v != slot[offset]).collect();
                    slot[offset] = *others.choose(rng).expect("at least one other value");
                }
            }
        }
        let mut kept = Vec::with_capacity(active.len());
        for slot in active {
            if rng.random_bool(rate) {
                spare.push(slot);
            } else {
                kept.push(slot);
            }
        }
        let mut grown = Vec::with_capacity(self.enc.slots());
        let gaps = kept.len() + 1;
        let mut kept = kept.into_iter();
        for _ in 0..gaps {
            if rng.random_bool(rate) && grown.len() + kept.len() < self.enc.slots() {
                let v = rng.random_range(0..self.variant_slots.len());
                grown.push(self.slot_of(v, rng));
            }
            grown.extend(kept.next());
        }
        self.join(grown, spare, rng)
    }

    /// The layer an expressed slot stands for.
    fn layer_of(&self, slot: &[usize]) -> Layer {
        let v = self
            .variant_slots
            .iter()
            .position(|vs| {
                vs[0] == slot[0]
                    && (1..slot.len()).all(|o| !self.expressed(o, slot[0]) || vs[o] == slot[o])
            })
            .expect("every expressed slot is a variant of the space");
        self.space.variants()[v]
    }

    /// Makes a genome valid: drops every expressed layer that cannot follow the layers kept
    /// before it (a conv or pooling after a dense layer, a feature map shrunk below 1x1, or
    /// a prefix that can no longer reach a valid depth), then, if fewer than `min_layers`
    /// remain, appends uniformly drawn layers that keep the network completable. Returns
    /// None only if no completion exists (never for a checked space, whose every valid
    /// prefix below `min_layers` can be completed); the caller then resamples.
    pub(crate) fn repair<R: Rng + ?Sized>(
        &self,
        genome: &[usize],
        rng: &mut R,
    ) -> Option<(Vec<usize>, Chain)> {
        let (active, mut spare) = self.split(genome);
        let mut layers: Vec<Layer> = Vec::with_capacity(active.len());
        let mut kept = Vec::with_capacity(active.len());
        for slot in active {
            let layer = self.layer_of(&slot);
            layers.push(layer);
            if self.space.is_completable(&layers) {
                kept.push(slot);
            } else {
                layers.pop();
                spare.push(slot);
            }
        }
        while layers.len() < self.space.min_layers() {
            let allowed = self.space.allowed_next(&layers, self.space.min_layers());
            let &v = allowed.choose(rng)?;
            layers.push(self.space.variants()[v]);
            kept.push(self.slot_of(v, rng));
        }
        let arch = Chain::new(layers);
        if !self.space.is_valid(&arch) {
            return None;
        }
        Some((self.join(kept, spare, rng), arch))
    }

    /// The architecture a genome expresses (valid only after [`ChainGenetics::repair`]).
    #[cfg(test)]
    pub(crate) fn express(&self, genome: &[usize]) -> Chain {
        self.enc
            .decode(genome)
            .expect("genes within their cardinality")
    }
}

/// The gene-by-gene view (REINFORCE's factorized policy over the chain encoding).
impl ChainGenetics<'_> {
    /// Walks the decisions that build one architecture, slot by slot: the kind gene (0 =
    /// end, allowed once the network has `min_layers` layers; a kind, allowed when one of its
    /// layers keeps the network completable), then each option gene of that kind, allowed
    /// values narrowed to the layers that keep it completable. `choose(gene, allowed)` picks
    /// each value. Decisions with a single allowed value are forced and not returned.
    pub(crate) fn walk(
        &self,
        mut choose: impl FnMut(usize, &[usize]) -> Result<usize>,
    ) -> Result<(Vec<Decision>, Chain)> {
        let space = self.space;
        let gps = self.enc.genes_per_slot();
        let mut prefix: Vec<usize> = Vec::new();
        let mut decisions = Vec::new();
        for slot in 0..self.enc.slots() {
            let next = space.completable_next(&prefix);
            let mut kinds = Vec::new();
            if prefix.len() >= space.min_layers() {
                kinds.push(0);
            }
            for (k, kind) in self.enc.kinds().iter().enumerate() {
                if next.iter().any(|&v| space.variants()[v].kind() == *kind) {
                    kinds.push(k + 1);
                }
            }
            let gene = slot * gps;
            let k = decide(gene, kinds, &mut choose, &mut decisions)?;
            if k == 0 {
                break;
            }
            let kind = self.enc.kinds()[k - 1];
            let mut candidates: Vec<usize> = next
                .into_iter()
                .filter(|&v| space.variants()[v].kind() == kind)
                .collect();
            for offset in 1..gps {
                if self.enc.genes()[offset].role.layer_kind() != Some(kind) {
                    continue;
                }
                let mut values: Vec<usize> = candidates
                    .iter()
                    .map(|&v| self.variant_slots[v][offset])
                    .collect();
                values.sort_unstable();
                values.dedup();
                let value = decide(gene + offset, values, &mut choose, &mut decisions)?;
                candidates.retain(|&v| self.variant_slots[v][offset] == value);
            }
            match candidates[..] {
                [v] => prefix.push(v),
                _ => {
                    return Err(Error::Strategy(format!(
                        "slot {slot}: the genes chose {} layers instead of one",
                        candidates.len()
                    )));
                }
            }
        }
        Ok((decisions, architecture(space, &prefix)))
    }

    /// The decisions that build `arch` (which must be in the space).
    pub(crate) fn decisions_of(&self, arch: &Chain) -> Result<Vec<Decision>> {
        self.space.contains(arch)?;
        let genome = self.enc.encode(arch)?;
        let (decisions, rebuilt) = self.walk(|gene, _| Ok(genome[gene]))?;
        if &rebuilt != arch {
            return Err(Error::Strategy(format!(
                "the decisions of `{arch}` rebuild `{rebuilt}`"
            )));
        }
        Ok(decisions)
    }
}

/// The architecture of variant indices.
pub(crate) fn architecture(space: &ChainSpace, layers: &[usize]) -> Chain {
    Chain::new(layers.iter().map(|&v| space.variants()[v]).collect())
}

/// The variant indices of an architecture of the space (an error names it otherwise).
pub(crate) fn layer_indices(space: &ChainSpace, arch: &Chain) -> Result<Vec<usize>> {
    space.contains(arch)?;
    arch.layers()
        .iter()
        .map(|l| {
            space.variant_index(l).ok_or_else(|| Error::NotInSpace {
                arch: arch.to_string(),
                reason: format!("`{l}` is not one of the space's layers"),
            })
        })
        .collect()
}
#[cfg(test)]
mod tests {
    use super::super::chain::ChainParams;
    use super::*;
    use crate::shape::InputShape;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn every_edit_kind_happens_and_results_stay_valid() {
        let space = ChainParams::default()
            .check(InputShape::new(1, 28, 28))
            .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let a: Chain = "conv3x3-16-relu > maxpool2".parse().unwrap();
        let mut depths = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let b = mutate(&a, &space, &mut rng);
            assert!(space.is_valid(&b));
            assert_ne!(a, b);
            depths.insert(b.depth());
        }
        assert_eq!(depths.into_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn a_space_of_one_architecture_returns_it() {
        let p = ChainParams {
            min_layers: 1,
            max_layers: 1,
            conv2d: None,
            maxpool2d: true,
            dense: None,
            dropout: None,
        };
        let space = p.check(InputShape::new(1, 4, 4)).unwrap();
        let a = space.sample(&mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!(mutate(&a, &space, &mut ChaCha8Rng::seed_from_u64(1)), a);
    }
}

#[cfg(test)]
mod genetics_tests {
    use super::super::chain::ChainParams;
    use super::*;
    use crate::seed::rng_from_seed;
    use crate::shape::InputShape;

    /// The toy space of the test utilities, built here (the feature may be off).
    fn toy_space() -> ChainSpace {
        toy_params().check(InputShape::new(1, 16, 16)).unwrap()
    }

    fn toy_params() -> ChainParams {
        toml::from_str(
            r#"
            max_layers = 5
            maxpool2d = true
            [conv2d]
            filters = [8, 16, 32, 64]
            kernels = [3, 5]
            activations = ["relu", "tanh", "sigmoid", "gelu"]
            [dense]
            units = [16, 32, 64, 128]
            activations = ["relu", "tanh", "sigmoid", "gelu"]
            [dropout]
            rates = [0.1, 0.5]
            "#,
        )
        .unwrap()
    }

    #[test]
    fn genomes_express_their_architecture_and_hide_random_genes() {
        let space = toy_space();
        let g = ChainGenetics::new(&space);
        let mut rng = rng_from_seed(1);
        let mut hidden_values = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let arch = space.sample(&mut rng);
            let genome = g.genome_of(&arch, &mut rng);
            assert_eq!(genome.len(), ChainEncoding::new(&space).len());
            assert_eq!(g.express(&genome), arch);
            // Option genes of unused kinds are random, not all 0.
            hidden_values.extend(genome.iter().copied());
        }
        assert!(hidden_values.len() > 2);
    }

    #[test]
    fn repaired_mutants_and_children_are_valid() {
        let space = toy_space();
        let g = ChainGenetics::new(&space);
        let mut rng = rng_from_seed(3);
        let mut depths = std::collections::BTreeSet::new();
        let mut changed = 0;
        for _ in 0..500 {
            let a = g.genome_of(&space.sample(&mut rng), &mut rng);
            let b = g.genome_of(&space.sample(&mut rng), &mut rng);
            let child: Vec<usize> = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| if rng.random_bool(0.5) { x } else { y })
                .collect();
            let child = g.mutate(&child, 0.2, &mut rng);
            let (genome, arch) = g.repair(&child, &mut rng).expect("repairable");
            assert!(space.is_valid(&arch), "{arch}");
            assert_eq!(g.express(&genome), arch);
            depths.insert(arch.depth());
            let mutant = g.mutate(&a, 0.2, &mut rng);
            changed += usize::from(mutant != a);
        }
        assert_eq!(depths.len(), space.max_layers());
        assert!(changed > 400, "{changed} of 500 mutants differ");
    }

    #[test]
    fn a_zero_rate_changes_nothing() {
        let space = toy_space();
        let g = ChainGenetics::new(&space);
        let mut rng = rng_from_seed(4);
        for _ in 0..50 {
            let a = g.genome_of(&space.sample(&mut rng), &mut rng);
            assert_eq!(g.mutate(&a, 0.0, &mut rng), a);
        }
    }

    #[test]
    fn repair_drops_layers_that_cannot_follow() {
        let space = toy_space();
        let g = ChainGenetics::new(&space);
        let mut rng = rng_from_seed(5);
        let head: Chain = "dense16-relu".parse().unwrap();
        let tail: Chain = "conv3x3-8-relu > maxpool2 > dense32-relu".parse().unwrap();
        let mut genome = g.genome_of(&tail, &mut rng);
        let gps = ChainEncoding::new(&space).genes_per_slot();
        // dense16-relu > conv3x3-8-relu > maxpool2 > dense32-relu: conv and pool cannot
        // follow a dense layer.
        let mut slots = g.genome_of(&head, &mut rng)[..gps].to_vec();
        slots.extend_from_slice(&genome[..genome.len() - gps]);
        genome = slots;
        let (_, arch) = g.repair(&genome, &mut rng).unwrap();
        assert_eq!(arch.to_string(), "dense16-relu > dense32-relu");
    }
}
