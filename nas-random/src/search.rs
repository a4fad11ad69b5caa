//! Random search: uniform draws over the valid architectures of the space.

use rand::Rng;
use serde::{Deserialize, Serialize};

use nas_core::{Architecture, History, NasRng, Pending, Result, SearchSpace, Strategy, Trial};

use crate::params::RandomValidParams;

/// Draws tried before a no-repeat search stops rejecting seen architectures and lists the
/// unseen ones instead (rejection needs fewer than two draws on average while fewer than
/// half of the space has been seen, so 64 draws all failing means the space is small).
const REJECTION_DRAWS: usize = 64;

/// Largest space a no-repeat search lists to draw among its unseen architectures.
const ENUMERATION_LIMIT: u128 = 1 << 20;

/// Random search: each proposal is an independent uniform draw over the valid
/// architectures of the space ([`SearchSpace::sample`]), or, with `no_repeat`, a uniform
/// draw over those not yet proposed or evaluated in the run.
///
/// Random search does not learn: [`Strategy::tell`] only checks that the trial answers one
/// of its proposals.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RandomSearch {
    space: SearchSpace,
    params: RandomValidParams,
    rng: NasRng,
    /// Proposals not yet told.
    pending: Pending,
}

impl RandomSearch {
    /// A random search over `space`, drawing from `rng` (the run's
    /// [`nas_core::RunSeeds::strategy_rng`]).
    pub fn new(space: SearchSpace, params: RandomValidParams, rng: NasRng) -> Self {
        RandomSearch {
            space,
            params,
            rng,
            pending: Pending::default(),
        }
    }

    /// The checked params.
    pub fn params(&self) -> &RandomValidParams {
        &self.params
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// A uniform draw among the architectures neither in `history` nor pending; a plain
    /// uniform draw once every architecture of the space has been seen.
    fn unseen(&mut self, history: &History) -> Architecture {
        let pending = &self.pending;
        let seen = |a: &Architecture| history.contains(a) || pending.contains(a.id());
        let total = self.space.count_architectures();
        // An upper bound of the number of distinct architectures seen.
        let seen_bound = (history.distinct() + pending.len()) as u128;
        if seen_bound.saturating_mul(2) < total {
            for _ in 0..REJECTION_DRAWS {
                let arch = self.space.sample(&mut self.rng);
                if !seen(&arch) {
                    return arch;
                }
            }
        }
        if total <= ENUMERATION_LIMIT
            && let Ok(all) = self.space.enumerate(ENUMERATION_LIMIT)
        {
            let fresh: Vec<Architecture> = all.into_iter().filter(|a| !seen(a)).collect();
            if !fresh.is_empty() {
                let i = self.rng.random_range(0..fresh.len());
                return fresh[i].clone();
            }
        }
        // Every architecture has been seen (or, in a space too large to list, 64 draws in a
        // row hit the seen half): repeats are allowed again.
        self.space.sample(&mut self.rng)
    }
}

impl Strategy for RandomSearch {
    fn ask(&mut self, history: &History) -> Result<Architecture> {
        let arch = if self.params.no_repeat {
            self.unseen(history)
        } else {
            self.space.sample(&mut self.rng)
        };
        self.pending.push(arch.id());
        Ok(arch)
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        self.pending.take(trial, "random search")
    }
}
