//! The strategy contract: ask-tell, and checked params.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::architecture::Architecture;
use crate::error::Result;
use crate::history::History;
use crate::trial::Trial;

/// A search strategy: a state machine that proposes architectures and learns from results.
///
/// The runner owns the loop, the budget and the evaluator. It calls [`Strategy::ask`] for a
/// proposal and, once that trial has finished in any status, [`Strategy::tell`] with it.
/// A strategy must accept several asks before the matching tells (asynchronous workers).
///
/// A strategy owns its RNG (a [`crate::NasRng`] from [`crate::RunSeeds::strategy_rng`]) and
/// draws from nothing else, so the same params, seed and told trials give the same
/// proposals. Strategies implement serde's `Serialize`/`Deserialize`, RNG included, so a run
/// can be checkpointed and resumed exactly; replaying the asks and tells of a run from its
/// start also restores the exact state.
pub trait Strategy: Send {
    /// Proposes the next architecture to evaluate. `history` holds the run's finished
    /// trials in order.
    fn ask(&mut self, history: &History) -> Result<Architecture>;

    /// Learns from a finished trial (ok, diverged, failed or killed) of an architecture
    /// this strategy proposed. `trial.fitness()` is None for trials that do not rank.
    fn tell(&mut self, trial: &Trial) -> Result<()>;
}

/// A strategy's hyper-parameters as written in a config (`XParams`: serde, unknown fields
/// refused, every field defaulted to its paper's setting), checked once into the only form
/// the strategy accepts (`XValidParams`), after linfa's `ParamGuard`.
///
/// The experiment runner parses each `[[strategy]]` table into `XParams`, checks it into
/// `Valid` once, writes the params back with every default filled in (the resolved
/// config) and builds the strategy from `Valid`.
pub trait Params: Default + Clone + Debug + Serialize + DeserializeOwned {
    /// The checked params.
    type Valid: Clone + Debug + Send + Sync + 'static;

    /// Checks every field.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParam`] naming the field, the value and what is allowed.
    fn check(&self) -> Result<Self::Valid>;
}
