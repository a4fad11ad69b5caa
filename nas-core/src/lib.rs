//! # nas-core
//!
//! The vocabulary every part of nas shares: the [search spaces](space) (chains of layers,
//! NAS-Bench-201 cells, NAS-Bench-Macro networks) with their checked params and the one
//! interface strategies search them through, [architectures](architecture) with their
//! canonical text and stable id, the [fixed-length encoding](encoding), the ask-tell
//! [`Strategy`] and [`Evaluator`] traits, [trial records](trial) and the run
//! [`History`], the one ask-evaluate-tell [loop](run), and the [seed derivation](seed)
//! that makes every result reproducible.
//!
//! nas-core knows nothing of candle: strategies built on it are tested without training
//! anything, against the toy space and synthetic evaluator of the `test-utils` feature.
//!
//! ```
//! use nas_core::{Architecture, InputShape, SearchSpaceParams, rng_from_seed};
//!
//! let space = SearchSpaceParams::default().check(InputShape::new(1, 28, 28))?;
//! let arch = space.sample(&mut rng_from_seed(7));
//! assert!(space.is_valid(&arch));
//! let text = arch.to_string();
//! assert_eq!(text.parse::<Architecture>()?, arch);
//! println!("{} architectures, e.g. {text} (id {})", space.count_architectures(), arch.id());
//! # Ok::<(), nas_core::Error>(())
//! ```

pub mod architecture;
pub mod cell;
pub mod detmath;
pub mod encoding;
pub mod error;
pub mod evaluator;
pub mod fidelity;
pub mod history;
pub mod layer;
pub mod macro_net;
pub mod pending;
pub mod run;
pub mod seed;
pub mod shape;
pub mod space;
pub mod strategy;
pub mod trial;

#[cfg(feature = "test-utils")]
pub mod testutil;

pub use architecture::{ArchId, Architecture, Chain, Cost};
pub use cell::{Cell, CellOp};
pub use encoding::{Encoding, Gene};
pub use error::{Error, Result};
pub use evaluator::{Budget, EvalError, EvalRequest, Evaluation, Evaluator};
pub use fidelity::{Fidelity, Proposal, Schedule};
pub use history::History;
pub use layer::{Activation, DropoutRate, Layer, LayerKind, Padding};
pub use macro_net::{Block, MacroNet};
pub use pending::Pending;
pub use run::{
    Limits, Observer, ObserverError, ObserverMode, OverBudget, RunState, Spent, Step, StepError,
    StopReason, TrialEvent, TrialHost,
};
pub use seed::{NasRng, RunSeeds, derive_seed, rng_from_seed};
pub use shape::{Geometry, InputShape};
pub use space::{
    Actions, ChainParams, Decision, Genetics, SearchSpace, SearchSpaceParams, SpaceKind,
};
pub use strategy::{Params, Strategy};
pub use trial::{EpochScore, Metrics, Status, Trial};
