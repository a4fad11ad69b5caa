//! The tree-structured Parzen estimator over the genes of the space's walk.

use rand::Rng;
use serde::{Deserialize, Serialize};

use nas_core::{Architecture, Decision, History, NasRng, Result, SearchSpace, Strategy, Trial};

use crate::common::Seen;
use crate::params::TpeValidParams;

/// Rounds of `n_ei_candidates` candidates drawn for one proposal before TPE gives up on
/// finding one not evaluated yet and draws uniformly.
const CANDIDATE_ROUNDS: usize = 4;

/// Number of most recent observations of a group that weigh 1 (Optuna's
/// `default_weights`): older ones weigh less, linearly down to 1/m.
const FLAT_WEIGHTS: usize = 25;

/// A told trial, as TPE models it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Observation {
    /// The trial's index in its run (orders observations: older ones weigh less).
    index: u32,
    /// Per gene of the encoding, the value the trial's walk chose for it among several
    /// (None: the walk did not decide it, or it had one allowed value).
    genes: Vec<Option<u32>>,
    /// Its fitness (None: it does not rank).
    fitness: Option<f64>,
}

/// Optuna's `default_weights(m)`: 1 for each of `m` observations when `m < 25`, else a
/// linear ramp from 1/m for the oldest `m - 25` and 1 for the 25 newest.
fn observation_weights(m: usize) -> Vec<f64> {
    if m < FLAT_WEIGHTS {
        return vec![1.0; m];
    }
    let ramp = m - FLAT_WEIGHTS;
    let start = 1.0 / m as f64;
    let mut w: Vec<f64> = match ramp {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (1.0 - start) / (ramp - 1) as f64;
            let mut v: Vec<f64> = (0..ramp).map(|i| start + i as f64 * step).collect();
            v[ramp - 1] = 1.0;
            v
        }
    };
    w.extend(std::iter::repeat_n(1.0, FLAT_WEIGHTS));
    w
}

/// A Parzen estimator of a group of observations (Optuna's `_ParzenEstimator` for
/// categorical parameters): a mixture of one kernel per observation, weighted by
/// [`observation_weights`], and a uniform prior weighted by `prior_weight`. Kernel `j`'s
/// distribution of a gene it has a value `x` for is `(a + [v = x]) / (1 + C a)` over the
/// gene's `C` values, `a = prior_weight / (m + 1)`; a gene it has no value for (absent in
/// that architecture) is uniform. Restricted to the values `A` a walk allows, a kernel
/// gives `(a + [v = x]) / (|A| a + 1)` when `x` is in `A`, else `1/|A|`.
struct Parzen<'a> {
    observations: Vec<&'a Observation>,
    /// Mixture weights of the observations, then of the prior, summing to 1.
    weights: Vec<f64>,
    /// The kernels' smoothing `a`.
    smoothing: f64,
}

impl<'a> Parzen<'a> {
    /// The estimator of `observations` (in trial order).
    fn new(observations: Vec<&'a Observation>, prior_weight: f64) -> Self {
        let m = observations.len();
        let mut weights = observation_weights(m);
        weights.push(if m == 0 { 1.0 } else { prior_weight });
        let total: f64 = weights.iter().sum();
        for w in &mut weights {
            *w /= total;
        }
        Parzen {
            observations,
            weights,
            smoothing: prior_weight / (m + 1) as f64,
        }
    }

    /// Kernel `j`'s probability of `value` among `allowed`, times `|allowed|` (the prior's
    /// is 1).
    fn scaled(&self, j: usize, gene: usize, allowed: &[usize], value: usize) -> f64 {
        match self.observations.get(j).and_then(|o| o.genes[gene]) {
            Some(x) if allowed.contains(&(x as usize)) => {
                let a = self.smoothing;
                let n = allowed.len() as f64;
                let hit = if x as usize == value { 1.0 } else { 0.0 };
                n * (a + hit) / (n * a + 1.0)
            }
            _ => 1.0,
        }
    }

    /// The mixture's density of an architecture walked by `decisions`, times the product
    /// of the allowed counts (which cancels in a ratio of two estimators).
    fn density(&self, decisions: &[Decision]) -> f64 {
        let mut total = 0.0;
        for (j, w) in self.weights.iter().enumerate() {
            let mut p = *w;
            for d in decisions {
                p *= self.scaled(j, d.gene, &d.allowed, d.chosen);
            }
            total += p;
        }
        total
    }

    /// A kernel drawn by the mixture weights (the last index is the prior).
    fn pick(&self, rng: &mut NasRng) -> usize {
        draw_index(&self.weights, rng)
    }

    /// A value of `gene` among `allowed` drawn from kernel `j`.
    fn sample(&self, j: usize, gene: usize, allowed: &[usize], rng: &mut NasRng) -> usize {
        let p: Vec<f64> = allowed
            .iter()
            .map(|&v| self.scaled(j, gene, allowed, v))
            .collect();
        allowed[draw_index(&p, rng)]
    }

    /// The mixture's probability of each value of `gene` among `allowed`, over the
    /// observations that have the gene (the independent TPE's one-dimensional estimator).
    fn marginal(&self, gene: usize, allowed: &[usize]) -> Vec<f64> {
        let n = allowed.len() as f64;
        let mut p = vec![0.0; allowed.len()];
        for (j, w) in self.weights.iter().enumerate() {
            for (i, &v) in allowed.iter().enumerate() {
                p[i] += w * self.scaled(j, gene, allowed, v) / n;
            }
        }
        p
    }
}

/// An index drawn with probability proportional to `weights` (non-negative, not all 0).
fn draw_index(weights: &[f64], rng: &mut NasRng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    // Rounding left `u` past the last weight: the last positive one.
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

/// The tree-structured Parzen estimator (Bergstra, Bardenet, Bengio & Kégl, "Algorithms
/// for hyper-parameter optimization", NeurIPS 2011), as Optuna's `TPESampler` runs it, over
/// the categorical genes of the space's gene-by-gene walk ([`SearchSpace::walk`]).
///
/// - **Start-up**: the first `n_startup_trials` proposals (until that many trials are
///   told) are uniform draws.
/// - **Split**: the `n` trials told are ranked by fitness (ties: the earlier trial first;
///   trials that do not rank come last and are never good); the best
///   `min(ceil(gamma n), gamma_cap)` form the good group, the others the bad one.
/// - **Estimators**: l(x) of the good group and g(x) of the bad one, each a mixture of
///   one categorical kernel per trial (Optuna's weights: the newest 25 weigh 1, older ones
///   linearly less) and the uniform prior (weight `prior_weight`); each kernel puts
///   `1 + a` on its trial's value of a gene and `a` on every other value, `a =
///   prior_weight / (m + 1)`, normalized.
/// - **Proposal** (`multivariate = true`): `n_ei_candidates` architectures are drawn
///   from l(x) (a kernel by its weight, then every gene from it) and the one with the
///   highest l(x)/g(x) is proposed. (`multivariate = false`: gene by gene, the value with
///   the highest l/g among `n_ei_candidates` draws from that gene's l.)
///
/// **Variable-length chains**: a gene exists in an architecture only where its walk
/// decided it (a slot's kind, from `min_layers` on "end" included; the options of the kind
/// it chose); decisions forced to one value are not genes either. The independent TPE
/// models each gene on the trials that have it (Optuna's conditional parameters, the
/// "tree" of TPE); in the joint estimator a trial's kernel is uniform over the genes it
/// lacks. Each kernel is restricted to the values the walk allows at that point (a chain
/// cannot put a convolution after a dense layer), so every candidate is in the space.
///
/// **Repeats**: a candidate already evaluated or in flight is never proposed: the best
/// candidate that is new is (in a finite space TPE's model would otherwise propose its
/// favourite again and again, each repeat costing a trial without information). After 4
/// rounds of candidates that were all known, a uniform draw of a new architecture is
/// proposed.
///
/// Asks before the matching tells are fine: proposals in flight are not modelled (Optuna
/// without `constant_liar`), and never proposed again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tpe {
    space: SearchSpace,
    params: TpeValidParams,
    rng: NasRng,
    observations: Vec<Observation>,
    seen: Seen,
    /// Proposals that fell back to a uniform draw after the start-up (every candidate was
    /// known).
    fallbacks: u64,
}

impl Tpe {
    /// TPE over `space`, drawing from `rng` (the run's
    /// [`nas_core::RunSeeds::strategy_rng`]).
    pub fn new(space: SearchSpace, params: TpeValidParams, rng: NasRng) -> Self {
        Tpe {
            space,
            params,
            rng,
            observations: Vec::new(),
            seen: Seen::default(),
            fallbacks: 0,
        }
    }

    /// The checked params.
    pub fn params(&self) -> &TpeValidParams {
        &self.params
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// Proposals after the start-up that were uniform draws because every candidate of 4
    /// rounds was already evaluated or in flight.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks
    }

    /// The best new candidate of the joint estimators.
    fn propose_multivariate(&mut self) -> Result<Option<Architecture>> {
        let (below, above) = split(&self.observations, &self.params);
        let l = Parzen::new(below, self.params.prior_weight);
        let g = Parzen::new(above, self.params.prior_weight);
        let rng = &mut self.rng;
        for _ in 0..CANDIDATE_ROUNDS {
            let mut best: Option<(Architecture, f64)> = None;
            for _ in 0..self.params.n_ei_candidates {
                let j = l.pick(rng);
                let (decisions, arch) = self
                    .space
                    .walk(|gene, allowed| Ok(l.sample(j, gene, allowed, rng)))?;
                if self.seen.contains(&arch) {
                    continue;
                }
                let ratio = ratio(l.density(&decisions), g.density(&decisions));
                if best.as_ref().is_none_or(|(_, r)| ratio > *r) {
                    best = Some((arch, ratio));
                }
            }
            if let Some((arch, _)) = best {
                return Ok(Some(arch));
            }
        }
        Ok(None)
    }

    /// The walk of the independent estimators, redrawn while it gives a known
    /// architecture.
    fn propose_independent(&mut self) -> Result<Option<Architecture>> {
        let (below, above) = split(&self.observations, &self.params);
        let candidates = self.params.n_ei_candidates;
        let prior = self.params.prior_weight;
        // One estimator pair per gene, over the observations that have the gene.
        let genes = self.space.encoding().len();
        fn having<'o>(group: &[&'o Observation], gene: usize) -> Vec<&'o Observation> {
            group
                .iter()
                .copied()
                .filter(|o| o.genes[gene].is_some())
                .collect()
        }
        let models: Vec<(Parzen<'_>, Parzen<'_>)> = (0..genes)
            .map(|gene| {
                (
                    Parzen::new(having(&below, gene), prior),
                    Parzen::new(having(&above, gene), prior),
                )
            })
            .collect();
        let rng = &mut self.rng;
        for _ in 0..CANDIDATE_ROUNDS {
            let (_, arch) = self.space.walk(|gene, allowed| {
                let (l, g) = &models[gene];
                let pl = l.marginal(gene, allowed);
                let pg = g.marginal(gene, allowed);
                let mut best: Option<(usize, f64)> = None;
                for _ in 0..candidates {
                    let i = draw_index(&pl, rng);
                    let r = ratio(pl[i], pg[i]);
                    if best.is_none_or(|(_, b)| r > b) {
                        best = Some((i, r));
                    }
                }
                Ok(allowed[best.expect("at least one candidate").0])
            })?;
            if !self.seen.contains(&arch) {
                return Ok(Some(arch));
            }
        }
        Ok(None)
    }
}

/// The good and the bad group of `observations`, each in trial order.
fn split<'a>(
    observations: &'a [Observation],
    params: &TpeValidParams,
) -> (Vec<&'a Observation>, Vec<&'a Observation>) {
    let n = observations.len();
    let mut order: Vec<&Observation> = observations.iter().collect();
    order.sort_by(|a, b| {
        let score = |o: &Observation| o.fitness.unwrap_or(f64::NEG_INFINITY);
        score(b).total_cmp(&score(a)).then(a.index.cmp(&b.index))
    });
    let ranked = order.iter().filter(|o| o.fitness.is_some()).count();
    let n_below = ((params.gamma * n as f64).ceil() as usize)
        .min(params.gamma_cap)
        .min(ranked);
    let mut above = order.split_off(n_below);
    let mut below = order;
    below.sort_by_key(|o| o.index);
    above.sort_by_key(|o| o.index);
    (below, above)
}

/// l/g, with 0/0 (both estimators underflowed) the worst ratio.
fn ratio(l: f64, g: f64) -> f64 {
    let r = l / g;
    if r.is_nan() { f64::NEG_INFINITY } else { r }
}

impl Strategy for Tpe {
    fn ask(&mut self, _history: &History) -> Result<Architecture> {
        let arch = if self.observations.len() < self.params.n_startup_trials {
            self.seen.draw_unseen(&self.space, &mut self.rng)
        } else {
            let proposal = if self.params.multivariate {
                self.propose_multivariate()?
            } else {
                self.propose_independent()?
            };
            match proposal {
                Some(arch) => arch,
                None => {
                    self.fallbacks += 1;
                    self.seen.draw_unseen(&self.space, &mut self.rng)
                }
            }
        };
        self.seen.asked(&arch);
        Ok(arch)
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        self.seen.told(trial, "TPE")?;
        let mut genes = vec![None; self.space.encoding().len()];
        for d in self.space.decisions_of(&trial.arch)? {
            genes[d.gene] = Some(d.chosen as u32);
        }
        self.observations.push(Observation {
            index: trial.index,
            genes,
            fitness: trial.fitness(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_weights_are_optuna_s() {
        assert_eq!(observation_weights(0), Vec::<f64>::new());
        assert_eq!(observation_weights(3), vec![1.0; 3]);
        assert_eq!(observation_weights(25), vec![1.0; 25]);
        let w = observation_weights(26);
        assert_eq!((w.len(), w[0], w[1]), (26, 1.0 / 26.0, 1.0));
        // np.linspace(1/30, 1, 5) then 25 ones.
        let w = observation_weights(30);
        let expected = [
            1.0 / 30.0,
            0.275,
            0.516_666_666_666_666_7,
            0.758_333_333_333_333_4,
            1.0,
        ];
        for (a, b) in w[..5].iter().zip(expected) {
            assert!((a - b).abs() < 1e-15, "{a} {b}");
        }
        assert!(w[5..].iter().all(|&x| x == 1.0));
    }

    #[test]
    fn a_kernel_favours_its_observation_s_value_as_optuna_s_does() {
        let o = Observation {
            index: 0,
            genes: vec![Some(2)],
            fitness: Some(0.5),
        };
        // One observation, prior weight 1: a = 1/2; Optuna's weights row for C = 5:
        // [0.5, 0.5, 1.5, 0.5, 0.5] / 3.5; the mixture weighs kernel and prior 1/2 each.
        let p = Parzen::new(vec![&o], 1.0);
        let allowed: Vec<usize> = (0..5).collect();
        let m = p.marginal(0, &allowed);
        let kernel = [0.5 / 3.5, 0.5 / 3.5, 1.5 / 3.5, 0.5 / 3.5, 0.5 / 3.5];
        for (v, k) in kernel.iter().enumerate() {
            assert!((m[v] - (0.5 * k + 0.5 * 0.2)).abs() < 1e-15);
        }
        // Restricted to values without the observation's, the kernel is uniform.
        let m = p.marginal(0, &[0, 1]);
        assert!((m[0] - 0.5).abs() < 1e-15 && (m[1] - 0.5).abs() < 1e-15);
    }
}
