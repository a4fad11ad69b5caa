//! Synchronous successive halving and Hyperband.

use serde::{Deserialize, Serialize};

use nas_core::{
    Architecture, Error, History, NasRng, Proposal, Result, SearchSpace, Strategy, Trial,
};

use crate::params::{HyperbandValidParams, SuccessiveHalvingValidParams};
use crate::rungs::Rungs;
use crate::{fidelity_of, rank};

/// An architecture of a bracket's current rung.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Member {
    arch: Architecture,
    /// Its trial at the rung below (the training a promotion continues).
    below: Option<u32>,
    /// Its trial at the current rung, once told, and that trial's fitness.
    told: Option<(u32, Option<f64>)>,
}

/// One successive-halving bracket: `n` architectures start at rung `first`; after every
/// rung the best `⌊n_i / η⌋` go on to the next, until the top rung.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Bracket {
    rung: usize,
    members: Vec<Member>,
    /// Members of the current rung proposed so far.
    proposed: usize,
}

impl Bracket {
    fn new(first: usize, n: usize, space: &SearchSpace, rng: &mut NasRng) -> Self {
        Bracket {
            rung: first,
            members: (0..n)
                .map(|_| Member {
                    arch: space.sample(rng),
                    below: None,
                    told: None,
                })
                .collect(),
            proposed: 0,
        }
    }

    /// The next proposal of this bracket; `Ok(None)` while it waits for its rung to
    /// finish; `Err(())` once it is over.
    fn propose(&mut self, rungs: &Rungs, continue_trainings: bool) -> Result<Option<Proposal>, ()> {
        loop {
            if let Some(m) = self.members.get(self.proposed) {
                self.proposed += 1;
                let epochs = rungs.epochs(self.rung);
                let p = match m.below {
                    Some(j) if continue_trainings => {
                        Proposal::continuing(m.arch.clone(), j, epochs)
                    }
                    _ => Proposal::at(m.arch.clone(), epochs),
                };
                return Ok(Some(p));
            }
            if self.members.iter().any(|m| m.told.is_none()) {
                return Ok(None);
            }
            if self.rung == rungs.s_max() {
                return Err(());
            }
            // Promote the best 1/η (Li et al. 2018, Algorithm 1: top_k(T, L, ⌊n_i/η⌋)).
            let keep = self.members.len() / rungs.eta() as usize;
            let told: Vec<(u32, Option<f64>)> = self
                .members
                .iter()
                .map(|m| m.told.expect("all told"))
                .collect();
            let promoted: Vec<Member> = rank(&told)
                .into_iter()
                .take(keep)
                .map(|i| Member {
                    arch: self.members[i].arch.clone(),
                    below: Some(told[i].0),
                    told: None,
                })
                .collect();
            if promoted.is_empty() {
                return Err(());
            }
            self.members = promoted;
            self.rung += 1;
            self.proposed = 0;
        }
    }

    /// Records `trial` in the member it answers; false when none waits for it.
    fn tell(&mut self, trial: &Trial, epochs: u32, rungs: &Rungs) -> bool {
        if epochs != rungs.epochs(self.rung) {
            return false;
        }
        let slot = self.members[..self.proposed]
            .iter_mut()
            .find(|m| m.told.is_none() && m.arch == trial.arch);
        match slot {
            Some(m) => {
                m.told = Some((trial.index, trial.fitness()));
                true
            }
            None => false,
        }
    }
}

/// Brackets run one after another; shared by successive halving and Hyperband.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Brackets {
    name: String,
    space: SearchSpace,
    rungs: Rungs,
    continue_trainings: bool,
    /// Hyperband cycles s = s_max, ..., 0; successive halving stays at s_max.
    hyperband: bool,
    /// The current bracket's s, and the bracket.
    s: usize,
    bracket: Option<Bracket>,
    rng: NasRng,
}

impl Brackets {
    /// Brackets over `space` on `rungs`, starting at s = s_max.
    fn new(
        name: &str,
        hyperband: bool,
        space: SearchSpace,
        rungs: Rungs,
        continue_trainings: bool,
        rng: NasRng,
    ) -> Self {
        Brackets {
            name: name.into(),
            s: rungs.s_max(),
            space,
            rungs,
            continue_trainings,
            hyperband,
            bracket: None,
            rng,
        }
    }

    /// Architectures bracket `s` starts with: `⌈(s_max + 1) η^s / (s + 1)⌉` for
    /// Hyperband (Li et al. 2018, Algorithm 1, with B = (s_max + 1) R), η^s_max for
    /// successive halving (the same formula at s = s_max).
    fn start_count(&self, s: usize) -> usize {
        let s_max = self.rungs.s_max();
        let eta = self.rungs.eta() as usize;
        let pow = eta.pow(s as u32);
        ((s_max + 1) * pow).div_ceil(s + 1)
    }

    fn propose(&mut self) -> Option<Proposal> {
        loop {
            let s_max = self.rungs.s_max();
            if self.bracket.is_none() {
                let n = self.start_count(self.s);
                self.bracket = Some(Bracket::new(s_max - self.s, n, &self.space, &mut self.rng));
            }
            let bracket = self.bracket.as_mut().expect("just made");
            match bracket.propose(&self.rungs, self.continue_trainings) {
                Ok(p) => return p,
                Err(()) => {
                    self.bracket = None;
                    if self.hyperband {
                        self.s = if self.s == 0 { s_max } else { self.s - 1 };
                    }
                }
            }
        }
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        let epochs = fidelity_of(trial, &self.name)?;
        let rungs = &self.rungs;
        if self
            .bracket
            .as_mut()
            .is_some_and(|b| b.tell(trial, epochs, rungs))
        {
            Ok(())
        } else {
            Err(Error::Strategy(format!(
                "{} did not propose trial {} (`{}` at {epochs} epochs)",
                self.name, trial.index, trial.arch
            )))
        }
    }

    fn ask_error(&self) -> Error {
        Error::Strategy(format!(
            "{} proposes fidelities: call `propose`, not `ask`",
            self.name
        ))
    }
}

/// Successive halving (Jamieson & Talwalkar, AISTATS 2016), as Hyperband's most
/// aggressive bracket (Li et al., JMLR 2018): η^s_max architectures drawn uniformly from
/// the space at the lowest rung, the best ⌊n_i/η⌋ of each rung (by validation accuracy;
/// failed trials never go on; ties go to the earlier trial) promoted to the next, until
/// the largest fidelity; then a new bracket, until the run's budget ends.
///
/// Synchronous: a rung is promoted once all its trials have ended, so with simulated
/// workers some workers idle at the end of each rung (ASHA does not).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuccessiveHalving {
    params: SuccessiveHalvingValidParams,
    inner: Brackets,
}

impl SuccessiveHalving {
    /// Successive halving over `space` for a run whose per-trial budget is
    /// `budget_epochs`, drawing from `rng` (the run's strategy stream).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] when the params do not fit the budget.
    pub fn new(
        space: SearchSpace,
        params: SuccessiveHalvingValidParams,
        budget_epochs: u32,
        rng: NasRng,
    ) -> Result<Self> {
        let rungs = params.rungs(budget_epochs)?;
        let continue_trainings = params.continue_trainings;
        Ok(SuccessiveHalving {
            inner: Brackets::new(
                "successive halving",
                false,
                space,
                rungs,
                continue_trainings,
                rng,
            ),
            params,
        })
    }

    /// The checked params.
    pub fn params(&self) -> &SuccessiveHalvingValidParams {
        &self.params
    }

    /// The rungs.
    pub fn rungs(&self) -> &Rungs {
        &self.inner.rungs
    }
}

impl Strategy for SuccessiveHalving {
    fn ask(&mut self, _history: &History) -> Result<Architecture> {
        Err(self.inner.ask_error())
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        self.inner.tell(trial)
    }

    fn propose(&mut self, _history: &History) -> Result<Option<Proposal>> {
        Ok(self.inner.propose())
    }
}

/// Hyperband (Li et al., JMLR 2018, Algorithm 1): successive-halving brackets
/// s = s_max, s_max - 1, ..., 0 in turn (then again), bracket s starting
/// `⌈(s_max + 1) η^s / (s + 1)⌉` uniformly drawn architectures at rung s_max - s, so
/// that every bracket spends about the same budget; the brackets differ in how
/// aggressively they stop early (s = 0 is random search at the largest fidelity).
///
/// Synchronous, one bracket at a time, like [`SuccessiveHalving`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hyperband {
    params: HyperbandValidParams,
    inner: Brackets,
}

impl Hyperband {
    /// Hyperband over `space` for a run whose per-trial budget is `budget_epochs`,
    /// drawing from `rng` (the run's strategy stream).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] when the params do not fit the budget.
    pub fn new(
        space: SearchSpace,
        params: HyperbandValidParams,
        budget_epochs: u32,
        rng: NasRng,
    ) -> Result<Self> {
        let rungs = params.rungs(budget_epochs)?;
        let continue_trainings = params.continue_trainings;
        Ok(Hyperband {
            inner: Brackets::new("hyperband", true, space, rungs, continue_trainings, rng),
            params,
        })
    }

    /// The checked params.
    pub fn params(&self) -> &HyperbandValidParams {
        &self.params
    }

    /// The rungs.
    pub fn rungs(&self) -> &Rungs {
        &self.inner.rungs
    }

    /// How many architectures bracket `s` (0 to s_max) starts with.
    pub fn bracket_size(&self, s: usize) -> usize {
        self.inner.start_count(s)
    }
}

impl Strategy for Hyperband {
    fn ask(&mut self, _history: &History) -> Result<Architecture> {
        Err(self.inner.ask_error())
    }

    fn tell(&mut self, trial: &Trial) -> Result<()> {
        self.inner.tell(trial)
    }

    fn propose(&mut self, _history: &History) -> Result<Option<Proposal>> {
        Ok(self.inner.propose())
    }
}
