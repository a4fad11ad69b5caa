//! The REINFORCE controller (Zoph & Le 2017; the NAS-Bench-201 baseline).

use rand::Rng;
use serde::{Deserialize, Serialize};

use nas_core::{Architecture, History, NasRng, Pending, Result, SearchSpace, Strategy, Trial};

use crate::params::ReinforceValidParams;
use crate::policy::{self, Genes, Policy};

/// Reward of a trial that does not rank (diverged, failed): the lowest accuracy there is.
pub(crate) const UNRANKED_REWARD: f64 = 0.0;

/// Exponential moving average of rewards, bias-corrected (the average of the rewards so
/// far weighted by `momentum^age`, as NAS-Bench-201's implementation computes it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Baseline {
    numerator: f64,
    denominator: f64,
}

impl Baseline {
    fn value(&self) -> Option<f64> {
        (self.denominator > 0.0).then(|| self.numerator / self.denominator)
    }

    fn update(&mut self, reward: f64, momentum: f64) {
        self.numerator = momentum * self.numerator + (1.0 - momentum) * reward;
        self.denominator = momentum * self.denominator + (1.0 - momentum);
    }
}

/// The REINFORCE controller: a policy over the decisions of the space's fixed-length
/// [`Encoding`](nas_core::Encoding), trained by policy gradient with validation accuracy
/// as the reward.
///
/// - **Policy**: one categorical distribution per gene, factorized like NAS-Bench-201's
///   REINFORCE policy (one table of logits per decision), starting uniform, sampled
///   through the space's walk ([`nas_core::SearchSpace::walk`]): for cells one
///   distribution per edge over the operations, for macro networks one per layer over the
///   blocks (every combination is valid); for chains, layer slot by layer slot, the kind
///   (0 for "end") then the options of that kind, masked so that a sample is always a
///   valid architecture (a kind only if one of its layers keeps the network completable,
///   each option only if a completable layer has it, "end" only from `min_layers` on).
/// - **Update** after each told trial (Williams 1992; Zoph & Le 2017): the advantage is the
///   reward minus the baseline, an exponential moving average (momentum
///   `baseline_momentum`, bias-corrected) of the previous rewards (0 for the first trial);
///   the gradient of `advantage × log π(architecture) + entropy_weight × Σ entropy` takes
///   one Adam step of size `learning_rate`. The log-probability is recomputed from the told
///   architecture under the current policy (with asks in flight, an update may use a
///   slightly newer policy than the one that sampled).
/// - **Rewards**: a trial's fitness; a diverged or failed trial gets 0, the worst accuracy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reinforce {
    space: SearchSpace,
    params: ReinforceValidParams,
    rng: NasRng,
    policy: Policy,
    baseline: Baseline,
    pending: Pending,
    /// Where each gene's logits start (rebuilt from the space after a restore).
    #[serde(skip)]
    genes: Option<Genes>,
}

impl Reinforce {
    /// A REINFORCE controller over `space` with a uniform initial policy, drawing from `rng`
    /// (the run's [`nas_core::RunSeeds::strategy_rng`]).
    pub fn new(space: SearchSpace, params: ReinforceValidParams, rng: NasRng) -> Self {
        let genes = Genes::new(&space);
        Reinforce {
            policy: Policy::uniform(genes.parameters()),
            space,
            params,
            rng,
            baseline: Baseline::default(),
            pending: Pending::default(),
            genes: Some(genes),
        }
    }

    /// The checked params.
    pub fn params(&self) -> &ReinforceValidParams {
        &self.params
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// The baseline the next reward will be compared with (None before the first trial).
    pub fn baseline(&self) -> Option<f64> {
        self.baseline.value()
    }

    /// The most likely architecture under the current policy (each decision at its mode).
    pub fn mode(&mut self) -> Result<Architecture> {
        let genes = self.genes.get_or_insert_with(|| Genes::new(&self.space));
        let logits = &self.policy.logits;
        let (_, arch) = self.space.walk(|gene, allowed| {
            let probs = policy::probabilities(logits, genes.offset(gene), allowed);
            let best = (0..allowed.len())
                .max_by(|&a, &b| probs[a].total_cmp(&probs[b]).then(b.cmp(&a)))
                .expect("a non-empty mask");
            Ok(allowed[best])
        })?;
        Ok(arch)
    }
}

impl Strategy for Reinforce {
    fn ask(&mut self, _history: &History) -> Result<Architecture> {
        let genes = self.genes.get_or_insert_with(|| Genes::new(&self.space));
        let logits = &self.policy.logits;
        let rng = &mut self.rng;
        let (_, arch) = self.space.walk(|gene, allowed| {
            if allowed.len() == 1 {
                return Ok(allowed[0]);
            }
            let probs = policy::probabilities(logits, genes.offset(gene), allowed);
            Ok(allowed[policy::draw(&probs, rng.random::<f64>())])
        })?;
        self.pending.push(arch.id());
        Ok(arch)
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        self.pending.take(trial, "REINFORCE")?;
        let genes = self.genes.get_or_insert_with(|| Genes::new(&self.space));
        let decisions = self.space.decisions_of(&trial.arch)?;
        let reward = trial.fitness().unwrap_or(UNRANKED_REWARD);
        let advantage = self.baseline.value().map_or(0.0, |b| reward - b);
        let grad = self
            .policy
            .gradient(genes, &decisions, advantage, self.params.entropy_weight);
        self.policy.ascend(&grad, self.params.learning_rate);
        self.baseline.update(reward, self.params.baseline_momentum);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ReinforceParams;
    use nas_core::rng_from_seed;
    use nas_core::testutil::told;
    use nas_core::testutil::toy_space;

    #[test]
    fn the_baseline_is_a_bias_corrected_moving_average_of_previous_rewards() {
        let mut b = Baseline::default();
        assert_eq!(b.value(), None);
        b.update(0.5, 0.9);
        assert!((b.value().unwrap() - 0.5).abs() < 1e-12);
        b.update(0.7, 0.9);
        // (0.9 * 0.1 * 0.5 + 0.1 * 0.7) / (0.9 * 0.1 + 0.1)
        assert!((b.value().unwrap() - (0.045 + 0.07) / 0.19).abs() < 1e-12);
    }

    #[test]
    fn a_reward_above_the_baseline_makes_its_architecture_more_likely() {
        let space = toy_space();
        let params = ReinforceParams {
            learning_rate: 0.1,
            ..ReinforceParams::default()
        }
        .check()
        .unwrap();
        let mut r = Reinforce::new(space, params, rng_from_seed(1));
        let history = History::new();
        let good: Architecture = "conv3x3-32-relu > maxpool2 > dense128-relu"
            .parse()
            .unwrap();
        let log_prob = |r: &mut Reinforce| {
            let genes = Genes::new(&r.space);
            let d = r.space.decisions_of(&good).unwrap();
            d.iter()
                .map(|d| {
                    let p =
                        policy::probabilities(&r.policy.logits, genes.offset(d.gene), &d.allowed);
                    p[d.allowed.iter().position(|&v| v == d.chosen).unwrap()].ln()
                })
                .sum::<f64>()
        };
        let before = log_prob(&mut r);
        for _ in 0..20 {
            let arch = r.ask(&history).unwrap();
            r.tell(&told("reinforce", &arch, 0, Some(0.5))).unwrap();
            // As if the good architecture had been proposed too.
            r.pending.push(good.id());
            r.tell(&told("reinforce", &good, 0, Some(0.9))).unwrap();
        }
        let after = log_prob(&mut r);
        assert!(after > before + 1.0, "log π(good): {before} -> {after}");
        assert_eq!(r.mode().unwrap(), good);
    }
}
