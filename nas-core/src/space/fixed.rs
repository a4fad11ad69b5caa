//! The space interface for fixed-length spaces (cells, macro networks): every genome is an
//! architecture and every architecture one genome, so counting, uniform sampling,
//! enumeration, the neighbourhood, mutation, the genetic operators and the sequential
//! views all work on the genes alone. A kind only says how genes and architectures map
//! ([`FixedKind`]).

use rand::{Rng, RngCore};

use super::{Actions, Decision, decide};
use crate::architecture::Architecture;
use crate::encoding::Encoding;
use crate::error::{Error, Result};

/// What a fixed-length kind provides.
pub(crate) trait FixedKind {
    /// Its genes.
    fn encoding(&self) -> &Encoding;
    /// The genome of an architecture of the space (an error says why it is not in it).
    fn to_genes(&self, arch: &Architecture) -> Result<Vec<usize>>;
    /// The architecture of a genome (each gene within its cardinality).
    fn build(&self, genes: &[usize]) -> Architecture;
    /// The gene a mutation changes (default: uniform over the genes).
    fn mutation_gene(&self, rng: &mut dyn RngCore) -> usize {
        rng.random_range(0..self.encoding().len())
    }
}

fn cards(kind: &dyn FixedKind) -> Vec<usize> {
    kind.encoding().cardinalities()
}

/// The number of architectures: the product of the cardinalities (None beyond u128).
pub(crate) fn count(kind: &dyn FixedKind) -> Option<u128> {
    cards(kind)
        .into_iter()
        .try_fold(1u128, |acc, c| acc.checked_mul(c as u128))
}

/// A uniform draw: every gene uniform and independent, in genome order, so every
/// architecture has probability 1 / count. (For cells this is uniform over labelled
/// cells; isomorphic cells are distinct architectures, as in NAS-Bench-201.)
pub(crate) fn sample(kind: &dyn FixedKind, rng: &mut dyn RngCore) -> Architecture {
    let genes: Vec<usize> = cards(kind)
        .into_iter()
        .map(|c| rng.random_range(0..c))
        .collect();
    kind.build(&genes)
}

/// Every architecture, genomes in lexicographic order (the first gene slowest).
pub(crate) fn enumerate(kind: &dyn FixedKind) -> Vec<Architecture> {
    let cards = cards(kind);
    let mut genes = vec![0usize; cards.len()];
    let mut out = Vec::new();
    loop {
        out.push(kind.build(&genes));
        let mut i = cards.len();
        loop {
            if i == 0 {
                return out;
            }
            i -= 1;
            genes[i] += 1;
            if genes[i] < cards[i] {
                break;
            }
            genes[i] = 0;
        }
    }
}

/// Checks a genome's length and values.
pub(crate) fn check_genome(enc: &Encoding, genome: &[usize]) -> Result<()> {
    if genome.len() != enc.len() {
        return Err(Error::Genome(format!(
            "length {} instead of {}",
            genome.len(),
            enc.len()
        )));
    }
    if let Some((g, v)) = enc
        .genes()
        .iter()
        .zip(genome)
        .find(|(g, v)| **v >= g.cardinality)
    {
        return Err(Error::Genome(format!(
            "gene `{}` is {v}, at most {}",
            g.name,
            g.cardinality - 1
        )));
    }
    Ok(())
}

/// Every architecture that differs from `arch` in exactly one gene: gene by gene, values in
/// increasing order.
pub(crate) fn neighbours(kind: &dyn FixedKind, arch: &Architecture) -> Result<Vec<Architecture>> {
    let genes = kind.to_genes(arch)?;
    let mut out = Vec::new();
    for (i, c) in cards(kind).into_iter().enumerate() {
        for v in (0..c).filter(|&v| v != genes[i]) {
            let mut n = genes.clone();
            n[i] = v;
            out.push(kind.build(&n));
        }
    }
    Ok(out)
}

/// A different value for gene `i`, uniform among the others.
fn other_value(current: usize, cardinality: usize, rng: &mut dyn RngCore) -> usize {
    let v = rng.random_range(0..cardinality - 1);
    if v >= current { v + 1 } else { v }
}

/// One decision changed to a different value: the gene chosen by the kind
/// ([`FixedKind::mutation_gene`]), the value uniform among the others. A space of one
/// architecture returns `arch`.
pub(crate) fn mutate(
    kind: &dyn FixedKind,
    arch: &Architecture,
    rng: &mut dyn RngCore,
) -> Result<Architecture> {
    let mut genes = kind.to_genes(arch)?;
    let cards = cards(kind);
    if cards.iter().all(|&c| c <= 1) {
        return Ok(arch.clone());
    }
    let i = loop {
        let i = kind.mutation_gene(rng);
        if cards[i] > 1 {
            break i;
        }
    };
    genes[i] = other_value(genes[i], cards[i], rng);
    Ok(kind.build(&genes))
}

/// Per-gene mutation: every gene changes to a different value with probability `rate`.
pub(crate) fn mutate_genome(
    kind: &dyn FixedKind,
    genome: &[usize],
    rate: f64,
    rng: &mut dyn RngCore,
) -> Vec<usize> {
    genome
        .iter()
        .zip(cards(kind))
        .map(|(&g, c)| {
            if c > 1 && rng.random_bool(rate) {
                other_value(g, c, rng)
            } else {
                g
            }
        })
        .collect()
}

/// The gene-by-gene walk: every gene in order, all its values allowed.
pub(crate) fn walk(
    kind: &dyn FixedKind,
    mut choose: impl FnMut(usize, &[usize]) -> Result<usize>,
) -> Result<(Vec<Decision>, Architecture)> {
    let mut decisions = Vec::new();
    let mut genes = Vec::new();
    for (i, c) in cards(kind).into_iter().enumerate() {
        let allowed: Vec<usize> = (0..c).collect();
        genes.push(decide(i, allowed, &mut choose, &mut decisions)?);
    }
    Ok((decisions, kind.build(&genes)))
}

/// The actions after a prefix of gene values: the next gene's values, or only stopping
/// once every gene is decided.
pub(crate) fn actions_after(kind: &dyn FixedKind, prefix: &[usize]) -> Actions {
    let cards = cards(kind);
    match cards.get(prefix.len()) {
        Some(&c) => Actions {
            stop: false,
            next: (0..c).collect(),
        },
        None => Actions {
            stop: true,
            next: Vec::new(),
        },
    }
}
