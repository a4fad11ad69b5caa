//! # nas-external
//!
//! Strategies and evaluators written in any language, run inside nas as external
//! processes: nas speaks to each over its stdin and stdout, one JSON object per line, in
//! the protocol specified by `docs/protocol.md` (version [`protocol::PROTOCOL`]). A
//! Python client (`python/nas_protocol.py`, standard library only) implements the process
//! side.
//!
//! - [`ExternalStrategy`]: `hello`, `init` (the space through its interface: kind, genes
//!   with names and cardinalities, text rules; the strategy's seed, params and budget),
//!   then `ask` → `proposal` (text or genes; `query` to check one first) and `tell`, then
//!   `close`.
//! - [`ExternalEvaluator`]: `hello`, `init`, then `evaluate` (architecture, genes, budget,
//!   trial seed, test flag) → `result` (status and metrics) or `error` (the trial fails).
//!
//! Every process's stderr is appended to a log file (the runner puts it under the output
//! folder). Errors name the process, the message and the line at fault. Nothing here
//! depends on candle.

pub mod evaluator;
pub mod process;
pub mod protocol;
pub mod strategy;

pub use evaluator::ExternalEvaluator;
pub use process::{Launch, Process, ProcessError};
pub use strategy::{ExternalStrategy, StrategyInit};
