//! The strategy contract: ask-tell, and checked params.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::architecture::Architecture;
use crate::error::Result;
use crate::fidelity::Proposal;
use crate::history::History;
use crate::trial::Trial;

/// A search strategy: a state machine that proposes architectures and learns from results.
///
/// The runner owns the loop, the budget and the evaluator. It calls [`Strategy::ask`] for a
/// proposal and, once that trial has finished in any status, [`Strategy::tell`] with it.
/// A strategy must accept several asks before the matching tells (asynchronous workers).
/// The loop calls [`Strategy::propose`], which defaults to `ask`.
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

    /// Proposes the next trial: what the loop calls. A single-fidelity strategy keeps the
    /// default, [`Strategy::ask`] at the run's budget. A multi-fidelity strategy (see
    /// [`crate::fidelity`]) overrides it to propose a fidelity, or to continue one of its
    /// earlier trials; `Ok(None)` means it has nothing to propose until a trial in flight
    /// ends (synchronous successive halving waiting for the rest of its rung, with
    /// simulated workers). Returning None with no trial in flight is a strategy bug: the
    /// loop stops the run with an error.
    fn propose(&mut self, history: &History) -> Result<Option<Proposal>> {
        self.ask(history).map(|arch| Some(Proposal::new(arch)))
    }
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

/// Declares a strategy's checked params, `XValidParams(XParams)`, with everything the
/// [`Params`] contract needs: `params()` (the params as resolved, defaults filled),
/// `Deref` to the params, `TryFrom<XParams>` (serde reads it through `XParams::check`,
/// so a checked value read back is checked again), `From<XValidParams>` (serde writes the
/// params), and `impl Params for XParams`. `XParams` must have an inherent
/// `fn check(&self) -> Result<XValidParams>`.
///
/// The struct's docs, derives and serde attributes are written at the call site:
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
/// pub struct WalkParams {
///     pub steps: u32,
/// }
///
/// impl WalkParams {
///     pub fn check(&self) -> nas_core::Result<WalkValidParams> {
///         Ok(WalkValidParams(self.clone()))
///     }
/// }
///
/// nas_core::valid_params! {
///     /// Checked [`WalkParams`].
///     #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
///     #[serde(try_from = "WalkParams", into = "WalkParams")]
///     pub struct WalkValidParams(WalkParams);
/// }
///
/// let valid = <WalkParams as nas_core::Params>::check(&WalkParams { steps: 3 }).unwrap();
/// assert_eq!(valid.steps, 3);
/// ```
#[macro_export]
macro_rules! valid_params {
    ($(#[$meta:meta])* $vis:vis struct $valid:ident($params:ident);) => {
        $(#[$meta])*
        $vis struct $valid($params);

        impl $valid {
            /// The params as resolved (defaults filled), e.g. to write next to a run's
            /// results.
            pub fn params(&self) -> &$params {
                &self.0
            }
        }

        impl ::std::ops::Deref for $valid {
            type Target = $params;
            fn deref(&self) -> &$params {
                &self.0
            }
        }

        impl ::std::convert::TryFrom<$params> for $valid {
            type Error = $crate::Error;
            fn try_from(params: $params) -> ::std::result::Result<Self, $crate::Error> {
                params.check()
            }
        }

        impl ::std::convert::From<$valid> for $params {
            fn from(valid: $valid) -> Self {
                valid.0
            }
        }

        impl $crate::Params for $params {
            type Valid = $valid;
            fn check(&self) -> ::std::result::Result<$valid, $crate::Error> {
                $params::check(self)
            }
        }
    };
}
