//! The genetic algorithm's genotype: nas-core's fixed-length encoding of the space
//! ([`nas_core::SearchSpace::encoding`]), mutated and repaired by the space's own
//! [`Genetics`](nas_core::Genetics), recombined here by crossover (which needs nothing
//! but two genomes of the same length).

use rand::Rng;

/// A genome of the space's encoding.
pub(crate) type Genome = Vec<usize>;

/// One-point crossover: the genes of `a` before a uniformly drawn cut, then those of `b`
/// (the cut falls between two genes, anywhere in the genome).
pub(crate) fn one_point<R: Rng + ?Sized>(a: &[usize], b: &[usize], rng: &mut R) -> Genome {
    let cut = rng.random_range(1..a.len().max(2));
    let mut child = a[..cut.min(a.len())].to_vec();
    child.extend_from_slice(&b[cut.min(b.len())..]);
    child
}

/// Uniform crossover: each gene from `a` or `b` with probability 1/2.
pub(crate) fn uniform<R: Rng + ?Sized>(a: &[usize], b: &[usize], rng: &mut R) -> Genome {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| if rng.random_bool(0.5) { x } else { y })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::rng_from_seed;
    use nas_core::testutil::toy_spaces;

    #[test]
    fn crossovers_take_every_gene_from_a_parent() {
        for space in toy_spaces() {
            let g = space.genetics();
            let mut rng = rng_from_seed(2);
            for _ in 0..200 {
                let a = g.genome_of(&space.sample(&mut rng), &mut rng);
                let b = g.genome_of(&space.sample(&mut rng), &mut rng);
                let one = one_point(&a, &b, &mut rng);
                let cut = (0..=a.len()).find(|&c| one[..c] == a[..c] && one[c..] == b[c..]);
                assert!(
                    cut.is_some(),
                    "one-point child is a prefix of a and a suffix of b"
                );
                let uni = uniform(&a, &b, &mut rng);
                assert!(
                    uni.iter()
                        .zip(a.iter().zip(&b))
                        .all(|(c, (x, y))| c == x || c == y)
                );
            }
        }
    }
}
