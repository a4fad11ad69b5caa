//! BANANAS: Bayesian optimisation with an ensemble of neural predictors on the path
//! encoding.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use nas_core::{ArchId, Architecture, History, NasRng, Result, SearchSpace, Strategy, Trial};

use crate::common::Seen;
use crate::mlp::{Mlp, Rows, Training};
use crate::params::BananasValidParams;
use nas_core::detmath::standard_normal;

/// Parents tried per `num_arches_to_mutate` when their mutations are already known
/// (naszilla's `patience_factor`).
const PATIENCE_FACTOR: usize = 5;

/// BANANAS (White, Neiswanger & Savani, "BANANAS: Bayesian optimization with neural
/// architectures for neural architecture search", AAAI 2021), as its authors' code runs
/// it (naszilla's `bananas`).
///
/// 1. **Start**: `num_init` architectures drawn uniformly (without repeats).
/// 2. **Model**: an ensemble of `num_ensemble` neural predictors, each a fully connected
///    ReLU network (`hidden_layers` x `hidden_units`) trained from its own random
///    initialisation for `epochs` epochs (Adam, minibatches of `batch_size`, mean absolute
///    error) to predict the validation error in percent (100 (1 - accuracy)) of every
///    ranked architecture told so far from its features
///    ([`SearchSpace::features`]: the path encoding for cells, the one-hot of the genes
///    for chains and macro networks).
/// 3. **Candidates**: mutations of the best architectures told (`num_arches_to_mutate` of
///    them, then the next best, up to five times as many, until `num_candidates` are
///    collected): `num_candidates / num_arches_to_mutate` mutations of each, each made of
///    `mutations` of the space's one-decision mutations ([`SearchSpace::mutate`]);
///    architectures evaluated, in flight or already a candidate are dropped.
/// 4. **Acquisition**: independent Thompson sampling: each candidate's error is drawn from
///    a normal with the ensemble's mean and standard deviation (over the predictors) for
///    it; the `k` candidates with the lowest draws are proposed, lowest first, then the
///    ensemble is trained again on everything told.
///
/// Diverged and failed trials are not training data (they have no accuracy) but are never
/// proposed again. When no candidate is new (an exhausted neighbourhood) or nothing ranks
/// yet, a uniform draw of a new architecture is proposed.
///
/// Asks before the matching tells are fine: the ensemble is trained on the trials told
/// when a batch of `k` runs out; proposals in flight are never proposed again.
///
/// The predictors are trained in this crate, in deterministic f32 arithmetic (see the
/// crate docs for why not with nas-eval's engine): the same params, seed and told trials
/// give the same proposals on every CPU.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bananas {
    space: SearchSpace,
    params: BananasValidParams,
    rng: NasRng,
    /// Every trial told, in order: its architecture and fitness (None: unranked).
    told: Vec<(Architecture, Option<f64>)>,
    seen: Seen,
    /// The rest of the current batch, best first.
    queue: VecDeque<Architecture>,
    /// Proposals made.
    asked: u64,
    /// Ensembles trained.
    fits: u64,
}

impl Bananas {
    /// BANANAS over `space`, drawing from `rng` (the run's
    /// [`nas_core::RunSeeds::strategy_rng`]).
    pub fn new(space: SearchSpace, params: BananasValidParams, rng: NasRng) -> Self {
        Bananas {
            space,
            params,
            rng,
            told: Vec::new(),
            seen: Seen::default(),
            queue: VecDeque::new(),
            asked: 0,
            fits: 0,
        }
    }

    /// The checked params.
    pub fn params(&self) -> &BananasValidParams {
        &self.params
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// Ensembles trained so far.
    pub fn fits(&self) -> u64 {
        self.fits
    }

    /// The ranked architectures told, best first (the earlier on ties).
    fn ranked(&self) -> Vec<(&Architecture, f64)> {
        let mut ranked: Vec<(&Architecture, f64)> = self
            .told
            .iter()
            .filter_map(|(a, f)| f.map(|f| (a, f)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
    }

    /// New mutations of the best architectures told (naszilla's `get_candidates`).
    fn candidates(&mut self) -> Vec<Architecture> {
        let p = &self.params;
        let parents: Vec<Architecture> = self
            .ranked()
            .into_iter()
            .take(p.num_arches_to_mutate * PATIENCE_FACTOR)
            .map(|(a, _)| a.clone())
            .collect();
        let per_parent = (p.num_candidates / p.num_arches_to_mutate).max(1);
        let (wanted, mutations) = (p.num_candidates, p.mutations);
        let mut out = Vec::new();
        let mut ids: BTreeSet<ArchId> = BTreeSet::new();
        for parent in parents {
            if out.len() >= wanted {
                break;
            }
            for _ in 0..per_parent {
                let mut child = parent.clone();
                for _ in 0..mutations {
                    child = self.space.mutate(&child, &mut self.rng);
                }
                if !self.seen.contains(&child) && ids.insert(child.id()) {
                    out.push(child);
                }
            }
        }
        out
    }

    /// Trains the ensemble on the trials told and queues the `k` best candidates by
    /// independent Thompson sampling (nothing when nothing ranks or no candidate is new).
    fn refill(&mut self) -> Result<()> {
        let train: Vec<(Architecture, f64)> = self
            .told
            .iter()
            .filter_map(|(a, f)| f.map(|f| (a.clone(), f)))
            .collect();
        if train.is_empty() {
            return Ok(());
        }
        let candidates = self.candidates();
        if candidates.is_empty() {
            return Ok(());
        }
        let width = self.space.feature_count();
        let features = |archs: &mut dyn Iterator<Item = &Architecture>| -> Result<Rows> {
            let rows = archs
                .map(|a| self.space.features(a))
                .collect::<Result<Vec<_>>>()?;
            Ok(Rows::new(&rows, width))
        };
        let x = features(&mut train.iter().map(|(a, _)| a))?;
        let y: Vec<f32> = train
            .iter()
            .map(|(_, f)| (100.0 * (1.0 - f)) as f32)
            .collect();
        let xc = features(&mut candidates.iter())?;
        let p = &self.params;
        let training = Training {
            hidden_layers: p.hidden_layers,
            hidden_units: p.hidden_units,
            epochs: p.epochs,
            batch_size: p.batch_size,
            learning_rate: p.learning_rate,
        };
        let predictions: Vec<Vec<f32>> = (0..p.num_ensemble)
            .map(|_| Mlp::fit(&x, &y, &training, &mut self.rng).predict(&xc))
            .collect();
        self.fits += 1;
        let members = predictions.len() as f64;
        let mut draws: Vec<(f64, usize)> = (0..candidates.len())
            .map(|c| {
                let mean = predictions.iter().map(|p| f64::from(p[c])).sum::<f64>() / members;
                let var = predictions
                    .iter()
                    .map(|p| (f64::from(p[c]) - mean) * (f64::from(p[c]) - mean))
                    .sum::<f64>()
                    / members;
                (mean + var.sqrt() * standard_normal(&mut self.rng), c)
            })
            .collect();
        draws.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.queue = draws
            .into_iter()
            .take(self.params.k)
            .map(|(_, c)| candidates[c].clone())
            .collect();
        Ok(())
    }
}

impl Strategy for Bananas {
    fn ask(&mut self, _history: &History) -> Result<Architecture> {
        let arch = loop {
            if self.asked < self.params.num_init as u64 {
                break self.seen.draw_unseen(&self.space, &mut self.rng);
            }
            if self.queue.is_empty() {
                self.refill()?;
                if self.queue.is_empty() {
                    break self.seen.draw_unseen(&self.space, &mut self.rng);
                }
            }
            let next = self.queue.pop_front().expect("a queued candidate");
            if !self.seen.contains(&next) {
                break next;
            }
        };
        self.asked += 1;
        self.seen.asked(&arch);
        Ok(arch)
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        self.seen.told(trial, "BANANAS")?;
        self.told.push((trial.arch.clone(), trial.fitness()));
        Ok(())
    }
}
