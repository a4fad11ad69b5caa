//! The genetic algorithm's genotype and its operators.
//!
//! A genome is nas-core's fixed-length [`Encoding`]: `max_layers` slots, each a kind gene
//! (0 = end of the network) followed by the option genes of every kind the space uses.
//! Unlike [`Encoding::encode`], which writes 0 in the genes a layer does not use, the GA
//! keeps random values there: they are hidden (not expressed in the architecture) until a
//! mutation changes the layer's kind or a crossover brings them next to another kind gene,
//! so a changed kind comes with random options rather than always the first ones. Kind
//! genes after the first end are always 0.

use rand::Rng;
use rand::seq::IndexedRandom;

use nas_core::{Architecture, Encoding, Layer, SearchSpace};

/// A genome of an [`Encoding`].
pub(crate) type Genome = Vec<usize>;

/// The encoding of a space with what the operators need to know about it.
pub(crate) struct Genetics<'a> {
    space: &'a SearchSpace,
    enc: Encoding,
    /// Canonical slot genes of each variant of the space (unused genes 0).
    variant_slots: Vec<Vec<usize>>,
}

impl<'a> Genetics<'a> {
    pub(crate) fn new(space: &'a SearchSpace) -> Self {
        let enc = Encoding::new(space);
        let gps = enc.genes_per_slot();
        let variant_slots = space
            .variants()
            .iter()
            .map(|v| {
                let genome = enc
                    .encode(&Architecture::new(vec![*v]))
                    .expect("a variant of the space encodes");
                genome[..gps].to_vec()
            })
            .collect();
        Genetics {
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
    pub(crate) fn genome_of<R: Rng + ?Sized>(&self, arch: &Architecture, rng: &mut R) -> Genome {
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

    /// One-point crossover: the genes of `a` before a uniformly drawn cut, then those of
    /// `b` (the cut falls between two genes, anywhere in the genome).
    pub(crate) fn one_point<R: Rng + ?Sized>(
        &self,
        a: &[usize],
        b: &[usize],
        rng: &mut R,
    ) -> Genome {
        let cut = rng.random_range(1..a.len().max(2));
        let mut child = a[..cut.min(a.len())].to_vec();
        child.extend_from_slice(&b[cut.min(b.len())..]);
        child
    }

    /// Uniform crossover: each gene from `a` or `b` with probability 1/2.
    pub(crate) fn uniform<R: Rng + ?Sized>(&self, a: &[usize], b: &[usize], rng: &mut R) -> Genome {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| if rng.random_bool(0.5) { x } else { y })
            .collect()
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
    ) -> Genome {
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
    ) -> Genome {
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
    ) -> Option<(Genome, Architecture)> {
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
        let arch = Architecture::new(layers);
        if !self.space.is_valid(&arch) {
            return None;
        }
        Some((self.join(kept, spare, rng), arch))
    }

    /// The architecture a genome expresses (valid only after [`Genetics::repair`]).
    #[cfg(test)]
    pub(crate) fn express(&self, genome: &[usize]) -> Architecture {
        self.enc
            .decode(genome)
            .expect("genes within their cardinality")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::rng_from_seed;
    use nas_core::testutil::toy_space;

    #[test]
    fn genomes_express_their_architecture_and_hide_random_genes() {
        let space = toy_space();
        let g = Genetics::new(&space);
        let mut rng = rng_from_seed(1);
        let mut hidden_values = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let arch = space.sample(&mut rng);
            let genome = g.genome_of(&arch, &mut rng);
            assert_eq!(genome.len(), Encoding::new(&space).len());
            assert_eq!(g.express(&genome), arch);
            // Option genes of unused kinds are random, not all 0.
            hidden_values.extend(genome.iter().copied());
        }
        assert!(hidden_values.len() > 2);
    }

    #[test]
    fn crossovers_take_every_gene_from_a_parent() {
        let space = toy_space();
        let g = Genetics::new(&space);
        let mut rng = rng_from_seed(2);
        for _ in 0..200 {
            let a = g.genome_of(&space.sample(&mut rng), &mut rng);
            let b = g.genome_of(&space.sample(&mut rng), &mut rng);
            let one = g.one_point(&a, &b, &mut rng);
            let cut = (0..=a.len()).find(|&c| one[..c] == a[..c] && one[c..] == b[c..]);
            assert!(
                cut.is_some(),
                "one-point child is a prefix of a and a suffix of b"
            );
            let uni = g.uniform(&a, &b, &mut rng);
            assert!(
                uni.iter()
                    .zip(a.iter().zip(&b))
                    .all(|(c, (x, y))| c == x || c == y)
            );
        }
    }

    #[test]
    fn repaired_mutants_and_children_are_valid() {
        let space = toy_space();
        let g = Genetics::new(&space);
        let mut rng = rng_from_seed(3);
        let mut depths = std::collections::BTreeSet::new();
        let mut changed = 0;
        for _ in 0..500 {
            let a = g.genome_of(&space.sample(&mut rng), &mut rng);
            let b = g.genome_of(&space.sample(&mut rng), &mut rng);
            let child = g.uniform(&a, &b, &mut rng);
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
        let g = Genetics::new(&space);
        let mut rng = rng_from_seed(4);
        for _ in 0..50 {
            let a = g.genome_of(&space.sample(&mut rng), &mut rng);
            assert_eq!(g.mutate(&a, 0.0, &mut rng), a);
        }
    }

    #[test]
    fn repair_drops_layers_that_cannot_follow() {
        let space = toy_space();
        let g = Genetics::new(&space);
        let mut rng = rng_from_seed(5);
        let head: Architecture = "dense16-relu".parse().unwrap();
        let tail: Architecture = "conv3x3-8-relu > maxpool2 > dense32-relu".parse().unwrap();
        let mut genome = g.genome_of(&tail, &mut rng);
        let gps = Encoding::new(&space).genes_per_slot();
        // dense16-relu > conv3x3-8-relu > maxpool2 > dense32-relu: conv and pool cannot
        // follow a dense layer.
        let mut slots = g.genome_of(&head, &mut rng)[..gps].to_vec();
        slots.extend_from_slice(&genome[..genome.len() - gps]);
        genome = slots;
        let (_, arch) = g.repair(&genome, &mut rng).unwrap();
        assert_eq!(arch.to_string(), "dense16-relu > dense32-relu");
    }
}
