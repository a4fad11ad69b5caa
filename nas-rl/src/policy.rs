//! The REINFORCE controller's policy: one categorical distribution per gene of the
//! fixed-length encoding, masked so that every sample is a valid architecture, and trained
//! by Adam on plain `Vec<f64>`s.

use serde::{Deserialize, Serialize};

use nas_core::{Architecture, Encoding, Error, Result, SearchSpace};

use crate::moves::{self, Moves};

/// One decision of a walk: the gene decided, the values the mask allowed, the value taken.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub(crate) gene: usize,
    pub(crate) allowed: Vec<usize>,
    pub(crate) chosen: usize,
}

/// What a walk needs to know about the space's encoding.
#[derive(Debug, Clone)]
pub(crate) struct Genes {
    enc: Encoding,
    /// Canonical slot genes of each variant of the space.
    variant_slots: Vec<Vec<usize>>,
    /// Start of each gene's logits in the parameter vector.
    offsets: Vec<usize>,
}

impl Genes {
    pub(crate) fn new(space: &SearchSpace) -> Self {
        let enc = Encoding::new(space);
        let gps = enc.genes_per_slot();
        let variant_slots = space
            .variants()
            .iter()
            .map(|v| {
                enc.encode(&Architecture::new(vec![*v]))
                    .expect("a variant of the space encodes")[..gps]
                    .to_vec()
            })
            .collect();
        let mut offsets = Vec::with_capacity(enc.len());
        let mut next = 0;
        for g in enc.genes() {
            offsets.push(next);
            next += g.cardinality;
        }
        Genes {
            enc,
            variant_slots,
            offsets,
        }
    }

    /// Number of logits of the policy.
    pub(crate) fn parameters(&self) -> usize {
        self.enc.genes().iter().map(|g| g.cardinality).sum()
    }

    /// Walks the decisions that build one architecture, slot by slot: the kind gene (0 =
    /// end, allowed once the network has `min_layers` layers; a kind, allowed when one of its
    /// layers keeps the network completable), then each option gene of that kind, allowed
    /// values narrowed to the layers that keep it completable. `choose(gene, allowed)` picks
    /// each value. Decisions with a single allowed value are forced and not returned.
    pub(crate) fn walk(
        &self,
        space: &SearchSpace,
        moves: &mut Moves,
        mut choose: impl FnMut(usize, &[usize]) -> Result<usize>,
    ) -> Result<(Vec<Decision>, Architecture)> {
        let gps = self.enc.genes_per_slot();
        let mut prefix: Vec<usize> = Vec::new();
        let mut decisions = Vec::new();
        for slot in 0..self.enc.slots() {
            let next = moves.next(space, &prefix).to_vec();
            let mut kinds = Vec::new();
            if moves::can_stop(space, prefix.len()) {
                kinds.push(0);
            }
            for (k, kind) in self.enc.kinds().iter().enumerate() {
                if next.iter().any(|&v| space.variants()[v].kind() == *kind) {
                    kinds.push(k + 1);
                }
            }
            let gene = slot * gps;
            let k = self.decide(gene, kinds, &mut choose, &mut decisions)?;
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
                let value = self.decide(gene + offset, values, &mut choose, &mut decisions)?;
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
        Ok((decisions, moves::architecture(space, &prefix)))
    }

    fn decide(
        &self,
        gene: usize,
        allowed: Vec<usize>,
        choose: &mut impl FnMut(usize, &[usize]) -> Result<usize>,
        decisions: &mut Vec<Decision>,
    ) -> Result<usize> {
        if allowed.is_empty() {
            return Err(Error::Strategy(format!(
                "gene {gene}: no value keeps the network valid"
            )));
        }
        let chosen = choose(gene, &allowed)?;
        if !allowed.contains(&chosen) {
            return Err(Error::Strategy(format!(
                "gene {gene}: value {chosen} is not among the allowed {allowed:?}"
            )));
        }
        if allowed.len() > 1 {
            decisions.push(Decision {
                gene,
                allowed,
                chosen,
            });
        }
        Ok(chosen)
    }

    /// The decisions that build `arch` (which must be in the space).
    pub(crate) fn decisions_of(
        &self,
        space: &SearchSpace,
        moves: &mut Moves,
        arch: &Architecture,
    ) -> Result<Vec<Decision>> {
        space.contains(arch)?;
        let genome = self.enc.encode(arch)?;
        let (decisions, rebuilt) = self.walk(space, moves, |gene, _| Ok(genome[gene]))?;
        if &rebuilt != arch {
            return Err(Error::Strategy(format!(
                "the decisions of `{arch}` rebuild `{rebuilt}`"
            )));
        }
        Ok(decisions)
    }

    /// Start of a gene's logits.
    pub(crate) fn offset(&self, gene: usize) -> usize {
        self.offsets[gene]
    }
}

/// Probabilities of the allowed values of a decision under `logits` (a stable softmax).
pub(crate) fn probabilities(logits: &[f64], offset: usize, allowed: &[usize]) -> Vec<f64> {
    let max = allowed
        .iter()
        .map(|&v| logits[offset + v])
        .fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = allowed
        .iter()
        .map(|&v| (logits[offset + v] - max).exp())
        .collect();
    let total: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

/// Index into `probs` drawn with `u` uniform in [0, 1).
pub(crate) fn draw(probs: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    // Rounding left the sum just below u: the last value with mass.
    probs.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

/// Adam's exponential decay of the gradient's first and second moments and its guard
/// against division by zero (Kingma & Ba 2015, the defaults of PyTorch's Adam used by
/// NAS-Bench-201).
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// The policy's logits and Adam's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Policy {
    pub(crate) logits: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    steps: u32,
}

impl Policy {
    /// A uniform policy (all logits 0) of `n` parameters.
    pub(crate) fn uniform(n: usize) -> Self {
        Policy {
            logits: vec![0.0; n],
            m: vec![0.0; n],
            v: vec![0.0; n],
            steps: 0,
        }
    }

    /// The gradient of `advantage × log π(decisions) + entropy_weight × Σ H(decision)`
    /// with respect to the logits.
    pub(crate) fn gradient(
        &self,
        genes: &Genes,
        decisions: &[Decision],
        advantage: f64,
        entropy_weight: f64,
    ) -> Vec<f64> {
        let mut grad = vec![0.0; self.logits.len()];
        for d in decisions {
            let offset = genes.offset(d.gene);
            let probs = probabilities(&self.logits, offset, &d.allowed);
            let entropy: f64 = probs
                .iter()
                .filter(|&&p| p > 0.0)
                .map(|&p| -p * p.ln())
                .sum();
            for (&value, &p) in d.allowed.iter().zip(&probs) {
                let taken = if value == d.chosen { 1.0 } else { 0.0 };
                let d_entropy = if p > 0.0 {
                    -p * (p.ln() + entropy)
                } else {
                    0.0
                };
                grad[offset + value] += advantage * (taken - p) + entropy_weight * d_entropy;
            }
        }
        grad
    }

    /// One Adam step up the gradient.
    pub(crate) fn ascend(&mut self, grad: &[f64], learning_rate: f64) {
        self.steps += 1;
        let t = i32::try_from(self.steps).unwrap_or(i32::MAX);
        let c1 = 1.0 - BETA1.powi(t);
        let c2 = 1.0 - BETA2.powi(t);
        for (i, &g) in grad.iter().enumerate() {
            self.m[i] = BETA1 * self.m[i] + (1.0 - BETA1) * g;
            self.v[i] = BETA2 * self.v[i] + (1.0 - BETA2) * g * g;
            let m_hat = self.m[i] / c1;
            let v_hat = self.v[i] / c2;
            self.logits[i] += learning_rate * m_hat / (v_hat.sqrt() + EPS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::rng_from_seed;
    use nas_core::testutil::toy_space;

    #[test]
    fn decisions_rebuild_every_architecture() {
        let space = toy_space();
        let genes = Genes::new(&space);
        let mut moves = Moves::default();
        let mut rng = rng_from_seed(1);
        for _ in 0..300 {
            let arch = space.sample(&mut rng);
            let decisions = genes.decisions_of(&space, &mut moves, &arch).unwrap();
            assert!(decisions.iter().all(|d| d.allowed.contains(&d.chosen)));
            // One kind decision per layer, one end decision unless the network is full.
            let kinds = decisions.iter().filter(|d| d.gene % 7 == 0).count();
            assert_eq!(kinds, arch.depth() + usize::from(arch.depth() < 5));
        }
        let outside: Architecture = "dense100-relu".parse().unwrap();
        assert!(genes.decisions_of(&space, &mut moves, &outside).is_err());
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let space = toy_space();
        let genes = Genes::new(&space);
        let mut moves = Moves::default();
        let arch: Architecture = "conv3x3-32-relu > maxpool2 > dense128-relu"
            .parse()
            .unwrap();
        let decisions = genes.decisions_of(&space, &mut moves, &arch).unwrap();
        let mut policy = Policy::uniform(genes.parameters());
        for (i, l) in policy.logits.iter_mut().enumerate() {
            *l = ((i * 37 % 11) as f64 - 5.0) / 7.0;
        }
        let (advantage, beta) = (0.3, 0.05);
        let objective = |logits: &[f64]| -> f64 {
            decisions
                .iter()
                .map(|d| {
                    let probs = probabilities(logits, genes.offset(d.gene), &d.allowed);
                    let i = d.allowed.iter().position(|&v| v == d.chosen).unwrap();
                    let h: f64 = probs.iter().map(|&p| -p * p.ln()).sum();
                    advantage * probs[i].ln() + beta * h
                })
                .sum()
        };
        let grad = policy.gradient(&genes, &decisions, advantage, beta);
        let h = 1e-6;
        for i in 0..policy.logits.len() {
            let mut up = policy.logits.clone();
            up[i] += h;
            let mut down = policy.logits.clone();
            down[i] -= h;
            let numeric = (objective(&up) - objective(&down)) / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() < 1e-7,
                "logit {i}: {numeric} vs {}",
                grad[i]
            );
        }
    }

    #[test]
    fn adam_moves_each_logit_by_the_learning_rate_on_its_first_step() {
        let mut policy = Policy::uniform(3);
        policy.ascend(&[2.0, -0.5, 0.0], 0.01);
        assert!((policy.logits[0] - 0.01).abs() < 1e-9);
        assert!((policy.logits[1] + 0.01).abs() < 1e-9);
        assert_eq!(policy.logits[2], 0.0);
    }

    #[test]
    fn draws_follow_the_probabilities() {
        assert_eq!(draw(&[0.2, 0.3, 0.5], 0.0), 0);
        assert_eq!(draw(&[0.2, 0.3, 0.5], 0.25), 1);
        assert_eq!(draw(&[0.2, 0.3, 0.5], 0.99), 2);
        assert_eq!(draw(&[0.5, 0.5, 0.0], 1.0), 1);
        let p = probabilities(&[0.0, 1000.0, 0.0, 3.0], 0, &[0, 2]);
        assert_eq!(p, vec![0.5, 0.5]);
    }
}
