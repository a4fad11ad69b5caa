//! BOHB: Hyperband whose new architectures come from a kernel density model.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use serde::{Deserialize, Serialize};

use nas_core::detmath::powf;
use nas_core::{ArchId, Architecture, Error, NasRng, Result, SearchSpace, Trial};

use crate::halving::{Brackets, Sampler, bracket_strategy};
use crate::params::BohbValidParams;
use crate::rungs::Rungs;

/// Draws tried for an architecture not yet evaluated at the bracket's first fidelity,
/// before a uniform draw is accepted anyway.
const UNSEEN_DRAWS: usize = 64;

/// BOHB (Falkner, Klein & Hutter, "BOHB: Robust and Efficient Hyperparameter Optimization
/// at Scale", ICML 2018): Hyperband's brackets ([`crate::Hyperband`]), but each new
/// architecture of a bracket is drawn from a model of the trials told so far, as the
/// authors' HpBandSter (`hpbandster.optimizers.config_generators.bohb`, v0.7.4) does:
///
/// - **Observations** per fidelity: each told trial's genes (the space's gene-by-gene
///   [walk](SearchSpace::walk); genes a chain does not use are imputed from another
///   observation of the same group, as HpBandSter's `impute_conditional_data`) and its
///   loss, minus the validation accuracy (failed trials: +∞, so they count as bad).
/// - **Model**: for the largest fidelity with enough observations, two kernel densities,
///   l(x) over the best `n_good = max(N_min, ⌊q n / 100⌋)` and g(x) over the next
///   `n_bad = max(N_min, ⌊(100 - q) n / 100⌋)` (ties to the earlier trial), each fitted
///   only when it has more observations than the space has genes d and there are at
///   least N_min observations (N_min = `min_points_in_model`, default d + 1). Each
///   density is statsmodels' `KDEMultivariate` with Aitchison & Aitken's kernel per gene
///   (1 - λ on the observed value, λ / (c - 1) on each of the c - 1 others) and the
///   normal-reference bandwidth λ = 1.06 σ n^(-1/(d+4)) (σ: the population standard
///   deviation of the gene's value indices), at least `min_bandwidth` and at most
///   (c - 1) / c.
/// - **Proposal**: with probability `random_fraction`, or while no fidelity has a model,
///   a uniform draw; otherwise `num_samples` candidates, each a random observation of
///   l(x) whose genes are kept with probability 1 - λ and redrawn uniformly otherwise,
///   and the one minimising max(g(x), 1e-32) / max(l(x), 1e-32) is proposed.
///
/// Three deliberate differences from HpBandSter, all documented in the crate README:
/// - statsmodels does not bound λ: above (c - 1) / c Aitchison & Aitken's kernel gives
///   the observed value *less* weight than each other value, and above 1 a negative one
///   (a gene of NAS-Bench-201's 5 operations, spread over the good group, reaches
///   λ ≈ 1.7), so l(x) and g(x) stop being densities and rank candidates backwards.
///   λ is capped at (c - 1) / c, where the kernel is uniform.
/// - The kernel counts a gene's c values from the space, where statsmodels counts the
///   values present in the data (which makes g(x) infinite when the bad group lacks a
///   value, a case HpBandSter special-cases).
/// - An architecture already evaluated (or in flight) at the bracket's first fidelity is
///   not proposed again there (HpBandSter does not check: in a small space such as a
///   729-cell table the model's favourite then comes back, each repeat costing a trial
///   and telling nothing). Candidates that are all known fall back to a uniform draw of
///   a new architecture ([`Bohb::fallbacks`]).
///
/// HpBandSter's `bandwidth_factor` (3) widens only continuous parameters' sampling
/// bandwidth (the paper's l'(x)); every gene of a nas space is categorical, so it has no
/// counterpart here. Bracket sizes follow Hyperband's paper (rounded up), where
/// HpBandSter rounds down (bracket s = 1 of η = 3: 5 architectures here, 3 there); and
/// as with [`crate::Hyperband`], one bracket runs at a time.
///
/// The same seed and told trials give the same proposals bit for bit on every CPU: the
/// only transcendental step, n^(-1/(d+4)), is [`nas_core::detmath::powf`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bohb {
    params: BohbValidParams,
    inner: Brackets<Kde>,
}

impl Bohb {
    /// BOHB over `space` for a run whose per-trial budget is `budget_epochs`, drawing
    /// from `rng` (the run's strategy stream).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] when the params do not fit the budget, or
    /// `min_points_in_model` is below the space's genes + 1.
    pub fn new(
        space: SearchSpace,
        params: BohbValidParams,
        budget_epochs: u32,
        rng: NasRng,
    ) -> Result<Self> {
        let rungs: Rungs = params.rungs(budget_epochs)?;
        let cardinalities = space.encoding().cardinalities();
        let d = cardinalities.len();
        let min_points = match params.min_points_in_model {
            None => d + 1,
            Some(m) if (m as usize) < d + 1 => {
                return Err(Error::invalid(
                    "min_points_in_model",
                    m,
                    format!(
                        "at least the space's genes + 1 = {} (a kernel density needs more \
                         observations than dimensions)",
                        d + 1
                    ),
                ));
            }
            Some(m) => m as usize,
        };
        let kde = Kde {
            top_n_percent: params.top_n_percent as usize,
            num_samples: params.num_samples as usize,
            random_fraction: params.random_fraction,
            min_bandwidth: params.min_bandwidth,
            min_points,
            cardinalities,
            observations: BTreeMap::new(),
            known: BTreeSet::new(),
            model_picks: 0,
            random_picks: 0,
            fallbacks: 0,
        };
        let continue_trainings = params.continue_trainings;
        Ok(Bohb {
            inner: Brackets::new("bohb", true, space, rungs, continue_trainings, rng, kde),
            params,
        })
    }

    /// How many architectures bracket `s` (0 to s_max) starts with.
    pub fn bracket_size(&self, s: usize) -> usize {
        self.inner.start_count(s)
    }

    /// N_min: observations a fidelity needs before its model is fitted.
    pub fn min_points_in_model(&self) -> usize {
        self.inner.sampler.min_points
    }

    /// New architectures proposed from the model so far.
    pub fn model_picks(&self) -> u64 {
        self.inner.sampler.model_picks
    }

    /// New architectures drawn uniformly so far (no model yet, or the random fraction).
    pub fn random_picks(&self) -> u64 {
        self.inner.sampler.random_picks
    }

    /// Model-based draws whose every candidate was already evaluated at that fidelity,
    /// so a uniform draw of a new architecture was proposed instead.
    pub fn fallbacks(&self) -> u64 {
        self.inner.sampler.fallbacks
    }
}

bracket_strategy!(Bohb: BohbValidParams);

/// A told trial at one fidelity.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Observation {
    index: u32,
    /// The value of each gene of the space's encoding; None where the walk did not
    /// decide it (a chain's unused slot, a forced gene).
    genes: Vec<Option<u32>>,
    /// Validation accuracy; None for a failed trial.
    fitness: Option<f64>,
}

impl Observation {
    /// HpBandSter's loss: minus the fitness, +∞ without one.
    fn loss(&self) -> f64 {
        match self.fitness {
            Some(f) if f.is_finite() => -f,
            _ => f64::INFINITY,
        }
    }
}

/// BOHB's sampler: observations per fidelity and the kernel density model over them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Kde {
    top_n_percent: usize,
    num_samples: usize,
    random_fraction: f64,
    min_bandwidth: f64,
    min_points: usize,
    cardinalities: Vec<usize>,
    /// Told trials by fidelity (epochs), in the order told.
    observations: BTreeMap<u32, Vec<Observation>>,
    /// (epochs, architecture) pairs told or proposed as a bracket's new architecture.
    known: BTreeSet<(u32, ArchId)>,
    model_picks: u64,
    random_picks: u64,
    fallbacks: u64,
}

/// A product-kernel density over categorical genes (statsmodels' `KDEMultivariate`
/// with `var_type = 'u' * d` and `bw = 'normal_reference'`, bandwidths clipped below).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Density {
    data: Vec<Vec<u32>>,
    bandwidths: Vec<f64>,
}

impl Density {
    /// Fits the density to `data` (n rows of d genes, gene j below `cardinalities[j]`;
    /// n ≥ 1): λ_j = 1.06 σ_j n^(-1/(d+4)), at least `min_bandwidth` and at most
    /// (c_j - 1) / c_j.
    pub(crate) fn fit(data: Vec<Vec<u32>>, cardinalities: &[usize], min_bandwidth: f64) -> Self {
        let n = data.len();
        let d = data.first().map_or(0, Vec::len);
        let scale = 1.06 * powf(n as f64, -1.0 / (d as f64 + 4.0));
        let bandwidths = (0..d)
            .map(|j| {
                let mean = data.iter().map(|row| f64::from(row[j])).sum::<f64>() / n as f64;
                let var = data
                    .iter()
                    .map(|row| (f64::from(row[j]) - mean) * (f64::from(row[j]) - mean))
                    .sum::<f64>()
                    / n as f64;
                let c = cardinalities[j].max(1) as f64;
                (scale * var.sqrt()).max(min_bandwidth).min((c - 1.0) / c)
            })
            .collect();
        Density { data, bandwidths }
    }

    /// The density at `x` (one value per gene); `cardinalities` are the genes' value
    /// counts c.
    pub(crate) fn pdf(&self, x: &[u32], cardinalities: &[usize]) -> f64 {
        let mut sum = 0.0;
        for row in &self.data {
            let mut k = 1.0;
            for (j, (&v, &xv)) in row.iter().zip(x).enumerate() {
                let lambda = self.bandwidths[j];
                k *= if v == xv {
                    1.0 - lambda
                } else {
                    lambda / (cardinalities[j].max(2) - 1) as f64
                };
            }
            sum += k;
        }
        sum / self.data.len() as f64
    }
}

impl Kde {
    /// Genes with a value in every row: an undecided gene takes the value of a random
    /// row of `group` that has it, or a uniform value when none does.
    fn impute(&self, group: &[&Observation], rng: &mut NasRng) -> Vec<Vec<u32>> {
        let mut rows = Vec::with_capacity(group.len());
        for o in group {
            let mut row = Vec::with_capacity(o.genes.len());
            for (j, g) in o.genes.iter().enumerate() {
                row.push(match g {
                    Some(v) => *v,
                    None => {
                        let having: Vec<u32> = group.iter().filter_map(|p| p.genes[j]).collect();
                        if having.is_empty() {
                            rng.random_range(0..self.cardinalities[j]) as u32
                        } else {
                            having[rng.random_range(0..having.len())]
                        }
                    }
                });
            }
            rows.push(row);
        }
        rows
    }

    /// The (good, bad) densities of the fidelity `epochs`, when it has enough
    /// observations.
    fn fit(&self, epochs: u32, rng: &mut NasRng) -> Option<(Density, Density)> {
        let obs = self.observations.get(&epochs)?;
        let n = obs.len();
        let d = self.cardinalities.len();
        if n < self.min_points {
            return None;
        }
        let mut order: Vec<&Observation> = obs.iter().collect();
        order.sort_by(|a, b| a.loss().total_cmp(&b.loss()).then(a.index.cmp(&b.index)));
        let n_good = self.min_points.max(self.top_n_percent * n / 100).min(n);
        let n_bad = self.min_points.max((100 - self.top_n_percent) * n / 100);
        let good = &order[..n_good];
        let bad = &order[n_good..(n_good + n_bad).min(n)];
        if good.len() <= d || bad.len() <= d {
            return None;
        }
        let cards = &self.cardinalities;
        let good = Density::fit(self.impute(good, rng), cards, self.min_bandwidth);
        let bad = Density::fit(self.impute(bad, rng), cards, self.min_bandwidth);
        Some((good, bad))
    }

    /// A uniform draw not yet known at `epochs` (after [`UNSEEN_DRAWS`] known ones, the
    /// last draw).
    fn uniform(&self, space: &SearchSpace, epochs: u32, rng: &mut NasRng) -> Architecture {
        space.sample_avoiding(rng, UNSEEN_DRAWS, |a| {
            self.known.contains(&(epochs, a.id()))
        })
    }

    /// The best candidate of the model not yet known at `epochs`.
    fn model_pick(
        &self,
        (l, g): &(Density, Density),
        space: &SearchSpace,
        epochs: u32,
        rng: &mut NasRng,
    ) -> Result<Option<Architecture>> {
        let cards = &self.cardinalities;
        let mut best: Option<(Architecture, f64)> = None;
        for _ in 0..self.num_samples {
            let datum = &l.data[rng.random_range(0..l.data.len())];
            let x: Vec<u32> = (0..cards.len())
                .map(|j| {
                    let lambda = l.bandwidths[j];
                    if rng.random::<f64>() < 1.0 - lambda {
                        datum[j]
                    } else {
                        rng.random_range(0..cards[j]) as u32
                    }
                })
                .collect();
            let value = g.pdf(&x, cards).max(1e-32) / l.pdf(&x, cards).max(1e-32);
            if best.as_ref().is_some_and(|(_, b)| value >= *b) {
                continue;
            }
            // Only a candidate better than the best so far is built (and checked).
            let (_, arch) = space.walk(|gene, allowed| {
                let v = x[gene] as usize;
                Ok(if allowed.contains(&v) {
                    v
                } else {
                    allowed[rng.random_range(0..allowed.len())]
                })
            })?;
            if !self.known.contains(&(epochs, arch.id())) {
                best = Some((arch, value));
            }
        }
        Ok(best.map(|(arch, _)| arch))
    }
}

impl Sampler for Kde {
    fn draw(&mut self, space: &SearchSpace, epochs: u32, rng: &mut NasRng) -> Result<Architecture> {
        // The largest fidelity with a model (HpBandSter keeps a model per fidelity and
        // samples from the largest).
        let model = self
            .observations
            .keys()
            .rev()
            .copied()
            .collect::<Vec<_>>()
            .into_iter()
            .find_map(|e| self.fit(e, rng));
        let arch = match model {
            Some(model) if rng.random::<f64>() >= self.random_fraction => {
                match self.model_pick(&model, space, epochs, rng)? {
                    Some(arch) => {
                        self.model_picks += 1;
                        arch
                    }
                    None => {
                        self.fallbacks += 1;
                        self.uniform(space, epochs, rng)
                    }
                }
            }
            _ => {
                self.random_picks += 1;
                self.uniform(space, epochs, rng)
            }
        };
        self.known.insert((epochs, arch.id()));
        Ok(arch)
    }

    fn observe(&mut self, space: &SearchSpace, trial: &Trial, epochs: u32) -> Result<()> {
        let mut genes = vec![None; self.cardinalities.len()];
        for d in space.decisions_of(&trial.arch)? {
            genes[d.gene] = Some(d.chosen as u32);
        }
        self.observations
            .entry(epochs)
            .or_default()
            .push(Observation {
                index: trial.index,
                genes,
                fitness: trial.fitness(),
            });
        self.known.insert((epochs, trial.arch.id()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// statsmodels 0.14.6 on the same data, from `scripts/bohb_kde_reference.py`.
    #[test]
    fn density_matches_statsmodels() {
        let data = vec![
            vec![0, 1, 2, 0],
            vec![0, 1, 2, 1],
            vec![1, 0, 2, 1],
            vec![0, 1, 2, 0],
            vec![2, 2, 1, 0],
            vec![0, 1, 0, 1],
            vec![0, 1, 2, 0],
        ];
        let cards = [3, 3, 3, 2];
        let kde = Density::fit(data.clone(), &cards, 1e-3);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-14 * b.abs();
        let bw = [
            0.605_420_669_824_002_7,
            0.444_257_315_610_170_34,
            0.605_420_669_824_002_7,
            0.411_302_352_262_893_74,
        ];
        for (a, b) in kde.bandwidths.iter().zip(bw) {
            assert!(close(*a, b), "{a} {b}");
        }
        for (x, p) in [
            ([0, 1, 2, 0], 0.034_085_256_555_212_01),
            ([2, 2, 2, 1], 0.014_751_550_099_307_424),
            ([1, 0, 0, 0], 0.013_502_424_553_211_463),
        ] {
            let ours = kde.pdf(&x, &cards);
            assert!(close(ours, p), "{x:?}: {ours} {p}");
        }
        let mut constant = data.clone();
        for row in &mut constant {
            row[3] = 1;
        }
        let kde = Density::fit(constant, &cards, 1e-3);
        assert_eq!(kde.bandwidths[3], 1e-3);
        assert!(close(kde.bandwidths[0], bw[0]));
        // A gene spread over all its values: statsmodels' λ = 0.69 for c = 3 (weighing
        // the observed value below each other one) is capped at (c - 1) / c.
        let mut spread = data;
        for (i, row) in spread.iter_mut().enumerate() {
            row[0] = i as u32 % 3;
        }
        let kde = Density::fit(spread, &cards, 1e-3);
        assert_eq!(kde.bandwidths[0], 2.0 / 3.0);
    }

    #[test]
    fn good_and_bad_groups_follow_hpbandster_s_sizes() {
        let kde = |min_points| Kde {
            top_n_percent: 15,
            num_samples: 64,
            random_fraction: 0.0,
            min_bandwidth: 1e-3,
            min_points,
            cardinalities: vec![3, 3],
            observations: BTreeMap::new(),
            known: BTreeSet::new(),
            model_picks: 0,
            random_picks: 0,
            fallbacks: 0,
        };
        let mut k = kde(3);
        let mut rng = nas_core::rng_from_seed(1);
        // Observation i has fitness i / 100 and genes (i % 3, i / 3 % 3); trial 0 failed.
        let obs = |i: u32| Observation {
            index: i,
            genes: vec![Some(i % 3), Some(i / 3 % 3)],
            fitness: (i > 0).then(|| f64::from(i) / 100.0),
        };
        k.observations.insert(1, (0..5).map(obs).collect());
        // 5 < N_min + d + 1 = 6: no model (good 3 > d, bad 2 <= d).
        assert!(k.fit(1, &mut rng).is_none());
        k.observations.insert(1, (0..40).map(obs).collect());
        // n = 40: n_good = max(3, 600 / 100 = 6) = 6, the six best (39..34); bad the
        // next max(3, 34) = 34, down to the failed trial 0.
        let (good, bad) = k.fit(1, &mut rng).unwrap();
        let rows =
            |v: &[u32]| -> Vec<Vec<u32>> { v.iter().map(|&i| vec![i % 3, i / 3 % 3]).collect() };
        assert_eq!(good.data, rows(&[39, 38, 37, 36, 35, 34]));
        let mut below: Vec<u32> = (1..34).rev().collect();
        below.push(0);
        assert_eq!(bad.data, rows(&below));
    }

    #[test]
    fn the_model_proposes_the_candidate_the_good_group_likes_and_the_bad_one_does_not() {
        let space = nas_core::testutil::toy_cell_space();
        let cards = space.encoding().cardinalities();
        let k = Kde {
            top_n_percent: 15,
            num_samples: 64,
            random_fraction: 0.0,
            min_bandwidth: 1e-3,
            min_points: 7,
            cardinalities: cards.clone(),
            observations: BTreeMap::new(),
            known: BTreeSet::new(),
            model_picks: 0,
            random_picks: 0,
            fallbacks: 0,
        };
        // l(x) around the cell of all 3s, g(x) around all 0s, λ = 0.3: candidates keep
        // each gene of their good datum with probability 0.7, so they vary, and the one
        // with the most 3s has the highest l/g.
        let l = Density {
            data: vec![vec![3; 6]; 7],
            bandwidths: vec![0.3; 6],
        };
        let g = Density {
            data: vec![vec![0; 6]; 7],
            bandwidths: vec![0.3; 6],
        };
        let mut rng = nas_core::rng_from_seed(5);
        for _ in 0..10 {
            let arch = k
                .model_pick(&(l.clone(), g.clone()), &space, 3, &mut rng)
                .unwrap()
                .unwrap();
            let genes: Vec<usize> = space
                .decisions_of(&arch)
                .unwrap()
                .iter()
                .map(|d| d.chosen)
                .collect();
            assert_eq!(genes, vec![3; 6]);
        }
    }
}
