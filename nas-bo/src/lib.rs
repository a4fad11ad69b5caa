//! # nas-bo
//!
//! Model-based (Bayesian-optimisation) search strategies for nas, ask-tell
//! [`nas_core::Strategy`]s that use nothing of the space but nas-core's interface:
//!
//! - [`Tpe`]: the tree-structured Parzen estimator (Bergstra et al. 2011) as Optuna's
//!   `TPESampler` runs it, over the categorical genes of the space's gene-by-gene walk.
//!
//! Params come in as [`TpeParams`] (from a config, every field defaulted to its source's
//! setting), are checked once into [`TpeValidParams`], and only checked params build a
//! strategy. Strategies serialize (RNG, space, observations, proposals in flight; floats
//! exactly), so a checkpointed run resumes with exactly the proposals it would have made.

mod bananas;
mod common;
mod detmath;
mod mlp;
mod params;
mod tpe;

pub use bananas::Bananas;
pub use params::{BananasParams, BananasValidParams, TpeParams, TpeValidParams};
pub use tpe::Tpe;
