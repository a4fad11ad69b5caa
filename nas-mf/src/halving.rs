//! Synchronous successive halving and Hyperband.

use serde::{Deserialize, Serialize};

use nas_core::{Architecture, Error, NasRng, Proposal, Result, SearchSpace, Trial};

use crate::params::{HyperbandValidParams, SuccessiveHalvingValidParams};
use crate::rungs::Rungs;
use crate::{fidelity_of, rank};

/// Where a bracket's new architectures come from: uniform draws (successive halving,
/// Hyperband) or BOHB's kernel density model.
pub(crate) trait Sampler {
    /// A new architecture for the first rung of a bracket, which trains it `epochs`.
    fn draw(&mut self, space: &SearchSpace, epochs: u32, rng: &mut NasRng) -> Result<Architecture>;

    /// Learns from a told trial that trained `epochs`.
    fn observe(&mut self, space: &SearchSpace, trial: &Trial, epochs: u32) -> Result<()>;
}

/// Uniform draws from the space (repeats allowed, as in Li et al. 2018).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Uniform;

impl Sampler for Uniform {
    fn draw(&mut self, space: &SearchSpace, _: u32, rng: &mut NasRng) -> Result<Architecture> {
        Ok(space.sample(rng))
    }

    fn observe(&mut self, _: &SearchSpace, _: &Trial, _: u32) -> Result<()> {
        Ok(())
    }
}

/// An architecture of a bracket's current rung.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Member {
    arch: Architecture,
    /// Its trial at the rung below (the training a promotion continues).
    below: Option<u32>,
    /// Its trial at the current rung, once told, and that trial's fitness.
    told: Option<(u32, Option<f64>)>,
}

/// What a bracket does next.
enum Step {
    Propose(Proposal),
    /// Its current rung has trials in flight.
    Wait,
    /// Its top rung has ended (or nothing could be promoted).
    Done,
}

/// One successive-halving bracket: `size` architectures start at rung `rung`; after
/// every rung the best `⌊n_i / η⌋` go on to the next, until the top rung.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Bracket {
    rung: usize,
    /// Architectures of the current rung; the first rung's are drawn one at a time as
    /// they are proposed (so that a model-based sampler learns from the trials told
    /// before each draw, as HpBandSter samples BOHB's configurations).
    size: usize,
    members: Vec<Member>,
    /// Members of the current rung proposed so far.
    proposed: usize,
}

impl Bracket {
    fn new(first: usize, size: usize) -> Self {
        Bracket {
            rung: first,
            size,
            members: Vec::with_capacity(size),
            proposed: 0,
        }
    }

    /// The next step of this bracket; `draw(epochs)` gives a new architecture for the
    /// first rung.
    fn propose(
        &mut self,
        rungs: &Rungs,
        continue_trainings: bool,
        draw: &mut dyn FnMut(u32) -> Result<Architecture>,
    ) -> Result<Step> {
        loop {
            let epochs = rungs.epochs(self.rung);
            if self.proposed == self.members.len() && self.members.len() < self.size {
                let arch = draw(epochs)?;
                self.members.push(Member {
                    arch,
                    below: None,
                    told: None,
                });
            }
            if let Some(m) = self.members.get(self.proposed) {
                self.proposed += 1;
                let p = match m.below {
                    Some(j) if continue_trainings => {
                        Proposal::continuing(m.arch.clone(), j, epochs)
                    }
                    _ => Proposal::at(m.arch.clone(), epochs),
                };
                return Ok(Step::Propose(p));
            }
            if self.members.iter().any(|m| m.told.is_none()) {
                return Ok(Step::Wait);
            }
            if self.rung == rungs.s_max() {
                return Ok(Step::Done);
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
                return Ok(Step::Done);
            }
            self.size = promoted.len();
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

/// The brackets of successive halving, Hyperband and BOHB, which differ in the brackets'
/// sizes and in their [`Sampler`]. Brackets start in turn; when no started bracket has a
/// trial to propose (each waits for trials in flight to finish its rung), the next one
/// starts, as HpBandSter's `Master` starts a new iteration, so that on several workers
/// none idles. With one worker a bracket ends before the next starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Brackets<S> {
    name: String,
    space: SearchSpace,
    pub(crate) rungs: Rungs,
    continue_trainings: bool,
    /// Hyperband cycles s = s_max, ..., 0; successive halving stays at s_max.
    hyperband: bool,
    /// The s of the next bracket to start.
    s: usize,
    /// The brackets started and not over, oldest first.
    active: Vec<Bracket>,
    rng: NasRng,
    pub(crate) sampler: S,
}

impl<S: Sampler> Brackets<S> {
    /// Brackets over `space` on `rungs`, starting at s = s_max.
    pub(crate) fn new(
        name: &str,
        hyperband: bool,
        space: SearchSpace,
        rungs: Rungs,
        continue_trainings: bool,
        rng: NasRng,
        sampler: S,
    ) -> Self {
        Brackets {
            name: name.into(),
            s: rungs.s_max(),
            space,
            rungs,
            continue_trainings,
            hyperband,
            active: Vec::new(),
            rng,
            sampler,
        }
    }

    /// Architectures bracket `s` starts with: `⌈(s_max + 1) η^s / (s + 1)⌉` for
    /// Hyperband (Li et al. 2018, Algorithm 1, with B = (s_max + 1) R), η^s_max for
    /// successive halving (the same formula at s = s_max).
    pub(crate) fn start_count(&self, s: usize) -> usize {
        let s_max = self.rungs.s_max();
        let eta = self.rungs.eta() as usize;
        let pow = eta.pow(s as u32);
        ((s_max + 1) * pow).div_ceil(s + 1)
    }

    /// The next proposal: of the oldest started bracket that has one, else of a new
    /// bracket.
    pub(crate) fn propose(&mut self) -> Result<Option<Proposal>> {
        let mut i = 0;
        loop {
            if i == self.active.len() {
                let s_max = self.rungs.s_max();
                let n = self.start_count(self.s);
                self.active.push(Bracket::new(s_max - self.s, n));
                if self.hyperband {
                    self.s = if self.s == 0 { s_max } else { self.s - 1 };
                }
            }
            let Brackets {
                active,
                sampler,
                space,
                rng,
                rungs,
                continue_trainings,
                ..
            } = self;
            let mut draw = |epochs| sampler.draw(space, epochs, rng);
            match active[i].propose(rungs, *continue_trainings, &mut draw)? {
                Step::Propose(p) => return Ok(Some(p)),
                Step::Wait => i += 1,
                Step::Done => {
                    active.remove(i);
                }
            }
        }
    }

    pub(crate) fn tell(&mut self, trial: &Trial) -> Result<()> {
        let epochs = fidelity_of(trial, &self.name)?;
        let rungs = &self.rungs;
        if !self.active.iter_mut().any(|b| b.tell(trial, epochs, rungs)) {
            return Err(Error::Strategy(format!(
                "{} did not propose trial {} (`{}` at {epochs} epochs)",
                self.name, trial.index, trial.arch
            )));
        }
        self.sampler.observe(&self.space, trial, epochs)
    }

    pub(crate) fn ask_error(&self) -> Error {
        Error::Strategy(format!(
            "{} proposes fidelities: call `propose`, not `ask`",
            self.name
        ))
    }
}

/// For a wrapper with `params` and an `inner` [`Brackets`]: its `params()` and `rungs()`,
/// and `impl Strategy` (proposals from the brackets; `ask` refused).
macro_rules! bracket_strategy {
    ($($strategy:ty: $params:ty),*) => {$(
        impl $strategy {
            /// The checked params.
            pub fn params(&self) -> &$params {
                &self.params
            }

            /// The rungs.
            pub fn rungs(&self) -> &crate::Rungs {
                &self.inner.rungs
            }
        }

        impl nas_core::Strategy for $strategy {
            fn ask(&mut self, _history: &nas_core::History) -> nas_core::Result<nas_core::Architecture> {
                Err(self.inner.ask_error())
            }

            fn tell(&mut self, trial: &nas_core::Trial) -> nas_core::Result<()> {
                self.inner.tell(trial)
            }

            fn propose(
                &mut self,
                _history: &nas_core::History,
            ) -> nas_core::Result<Option<nas_core::Proposal>> {
                self.inner.propose()
            }
        }
    )*};
}
pub(crate) use bracket_strategy;

/// Successive halving (Jamieson & Talwalkar, AISTATS 2016), as Hyperband's most
/// aggressive bracket (Li et al., JMLR 2018): η^s_max architectures drawn uniformly from
/// the space at the lowest rung, the best ⌊n_i/η⌋ of each rung (by validation accuracy;
/// failed trials never go on; ties go to the earlier trial) promoted to the next, until
/// the largest fidelity; then a new bracket, until the run's budget ends.
///
/// Synchronous: a rung is promoted once all its trials have ended; on several workers the
/// next bracket starts meanwhile (as HpBandSter does), so no worker idles, but early
/// brackets' promotions wait for their slowest trial (ASHA's do not).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuccessiveHalving {
    params: SuccessiveHalvingValidParams,
    inner: Brackets<Uniform>,
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
                Uniform,
            ),
            params,
        })
    }
}

/// Hyperband (Li et al., JMLR 2018, Algorithm 1): successive-halving brackets
/// s = s_max, s_max - 1, ..., 0 in turn (then again), bracket s starting
/// `⌈(s_max + 1) η^s / (s + 1)⌉` uniformly drawn architectures at rung s_max - s, so
/// that every bracket spends about the same budget; the brackets differ in how
/// aggressively they stop early (s = 0 is random search at the largest fidelity).
///
/// Synchronous, like [`SuccessiveHalving`]: a later bracket starts while an earlier one
/// waits for its rung.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hyperband {
    params: HyperbandValidParams,
    inner: Brackets<Uniform>,
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
            inner: Brackets::new(
                "hyperband",
                true,
                space,
                rungs,
                continue_trainings,
                rng,
                Uniform,
            ),
            params,
        })
    }

    /// How many architectures bracket `s` (0 to s_max) starts with.
    pub fn bracket_size(&self, s: usize) -> usize {
        self.inner.start_count(s)
    }
}

bracket_strategy!(SuccessiveHalving: SuccessiveHalvingValidParams, Hyperband: HyperbandValidParams);
