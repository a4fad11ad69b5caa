//! The REINFORCE controller's policy: one categorical distribution per gene of the
//! space's fixed-length encoding, masked by the space's walk so that every sample is an
//! architecture of the space, and trained by Adam on plain `Vec<f64>`s.

use serde::{Deserialize, Serialize};

use nas_core::{Decision, SearchSpace};

/// Where each gene's logits start in the policy's parameter vector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Genes {
    offsets: Vec<usize>,
    parameters: usize,
}

impl Genes {
    pub(crate) fn new(space: &SearchSpace) -> Self {
        let mut offsets = Vec::with_capacity(space.encoding().len());
        let mut next = 0;
        for g in space.encoding().genes() {
            offsets.push(next);
            next += g.cardinality;
        }
        Genes {
            offsets,
            parameters: next,
        }
    }

    /// Number of logits of the policy.
    pub(crate) fn parameters(&self) -> usize {
        self.parameters
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
        let mut rng = rng_from_seed(1);
        for _ in 0..300 {
            let arch = space.sample(&mut rng);
            let decisions = space.decisions_of(&arch).unwrap();
            assert!(decisions.iter().all(|d| d.allowed.contains(&d.chosen)));
            // One kind decision per layer, one end decision unless the network is full.
            let depth = arch.as_chain().unwrap().depth();
            let kinds = decisions.iter().filter(|d| d.gene % 7 == 0).count();
            assert_eq!(kinds, depth + usize::from(depth < 5));
        }
        let outside: nas_core::Architecture = "dense100-relu".parse().unwrap();
        assert!(space.decisions_of(&outside).is_err());
        // A cell decides every edge with all its values allowed.
        let cells = nas_core::testutil::toy_cell_space();
        let cell = cells.sample(&mut rng);
        let d = cells.decisions_of(&cell).unwrap();
        assert_eq!(d.len(), 6);
        assert!(d.iter().all(|d| d.allowed == vec![0, 1, 2, 3, 4]));
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let space = toy_space();
        let genes = Genes::new(&space);
        let arch: nas_core::Architecture = "conv3x3-32-relu > maxpool2 > dense128-relu"
            .parse()
            .unwrap();
        let decisions = space.decisions_of(&arch).unwrap();
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
