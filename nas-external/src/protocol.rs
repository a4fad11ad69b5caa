//! The messages of the protocol, version [`PROTOCOL`]: one JSON object per line, with a
//! `type`. `docs/protocol.md` specifies them; these types are that specification in
//! code.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use nas_core::{SearchSpace, Trial};

/// Version of the protocol this nas speaks.
pub const PROTOCOL: u32 = 1;

/// What an external process is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Proposes architectures (`ask`) and learns from trials (`tell`).
    Strategy,
    /// Scores architectures (`evaluate`).
    Evaluator,
}

/// One gene of the space's encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneInfo {
    /// What it decides.
    pub name: String,
    /// Its values are `0..cardinality`.
    pub cardinality: usize,
}

/// The space as a process sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceInfo {
    /// `chain`, `cell` or `macro`.
    pub kind: String,
    /// The space's params as in the config's `[space]` (defaults filled in).
    pub params: Value,
    /// Input shape, e.g. `1x28x28`.
    pub input: String,
    /// Number of architectures, as a decimal string (it may exceed 2^53).
    pub count: String,
    /// The fixed-length categorical encoding.
    pub genes: Vec<GeneInfo>,
    /// How architectures are written, and how genes map onto them.
    pub text: String,
}

impl SpaceInfo {
    /// The description of a space.
    pub fn of(space: &SearchSpace) -> Self {
        SpaceInfo {
            kind: space.kind().name().to_string(),
            params: serde_json::to_value(space.params()).unwrap_or(Value::Null),
            input: space.input().to_string(),
            count: space.count_architectures().to_string(),
            genes: space
                .encoding()
                .genes()
                .iter()
                .map(|g| GeneInfo {
                    name: g.name.clone(),
                    cardinality: g.cardinality,
                })
                .collect(),
            text: space.text_rules().to_string(),
        }
    }
}

/// The budget of a strategy's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetInfo {
    /// Most trials of the run.
    pub evaluations: u32,
    /// The run's cap on training epochs, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_epochs: Option<f64>,
    /// The run's cap on recorded training seconds, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_seconds: Option<f64>,
}

/// A finished trial, as told to a strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialInfo {
    /// Index of the trial in its run (0-based).
    pub index: u32,
    /// Canonical text of the architecture.
    pub arch: String,
    /// Its genome (for chains, unused genes are 0).
    pub genes: Vec<usize>,
    /// The trial seed.
    pub seed: u64,
    /// `ok`, `diverged`, `failed` or `killed`.
    pub status: String,
    /// Validation accuracy in [0, 1] when the trial ranks (status `ok`), else null.
    pub fitness: Option<f64>,
    /// Validation loss, when measured.
    pub val_loss: Option<f64>,
    /// True when the run had evaluated this architecture before and reused its result.
    pub cached: bool,
    /// Why it did not end `ok`.
    pub reason: Option<String>,
}

impl TrialInfo {
    /// The description of a trial of `space`.
    pub fn of(trial: &Trial, space: &SearchSpace) -> Self {
        TrialInfo {
            index: trial.index,
            arch: trial.arch.to_string(),
            genes: space.encode(&trial.arch).unwrap_or_default(),
            seed: trial.seed,
            status: trial.status.name().to_string(),
            fitness: trial.fitness(),
            val_loss: trial
                .metrics
                .as_ref()
                .and_then(|m| m.val_loss)
                .filter(|v| v.is_finite()),
            cached: trial.cached,
            reason: trial.reason.clone(),
        }
    }
}

/// The training budget of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalBudget {
    /// Epochs.
    pub epochs: u32,
    /// Training images, when a subset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_subset: Option<u32>,
}

/// What an evaluator measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsInfo {
    /// Validation accuracy in [0, 1].
    #[serde(default)]
    pub val_acc: Option<f64>,
    /// Validation loss (>= 0).
    #[serde(default)]
    pub val_loss: Option<f64>,
    /// Test accuracy in [0, 1] (test requests).
    #[serde(default)]
    pub test_acc: Option<f64>,
    /// Test loss (>= 0).
    #[serde(default)]
    pub test_loss: Option<f64>,
    /// Trainable parameters (nas counts them when absent).
    #[serde(default)]
    pub params: Option<u64>,
    /// Forward multiply-accumulates per example (nas counts them when absent).
    #[serde(default)]
    pub macs: Option<u64>,
    /// Epochs trained (default: the budget's).
    #[serde(default)]
    pub epochs: Option<f64>,
    /// Seconds of training.
    #[serde(default)]
    pub train_seconds: Option<f64>,
}

/// A message from nas to a process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// The first message.
    Hello {
        /// Protocol version.
        protocol: u32,
        /// What the process is for.
        role: Role,
        /// Version of nas.
        nas_version: String,
    },
    /// What the process works on (after `hello`).
    Init {
        /// The space.
        space: SpaceInfo,
        /// The params of the config's `[[strategy]]` or `[evaluator]`.
        params: Value,
        /// The strategy's seed (strategies only): derived from the run's seed; the same
        /// seed must give the same proposals.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
        /// The run's budget (strategies only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget: Option<BudgetInfo>,
        /// The run, `name/repetition` (strategies only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<String>,
        /// Number of classes (evaluators only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        classes: Option<u32>,
    },
    /// Propose the next architecture.
    Ask,
    /// A trial of one of the process's proposals finished.
    Tell {
        /// The trial.
        trial: TrialInfo,
    },
    /// Answer to a `query`.
    QueryResult {
        /// The canonical text when the query names an architecture of the space.
        arch: Option<String>,
        /// Its genome.
        genes: Option<Vec<usize>>,
        /// Why it is not one, when it is not.
        reason: Option<String>,
    },
    /// Score an architecture.
    Evaluate {
        /// Canonical text.
        arch: String,
        /// Its genome.
        genes: Vec<usize>,
        /// How much to train.
        budget: EvalBudget,
        /// The trial seed: weights, batch order, dropout.
        seed: u64,
        /// Also score on the test set.
        test: bool,
    },
    /// The last message: exit.
    Close,
}

/// A message from a process to nas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// Answer to `hello`.
    Hello {
        /// The protocol version the process speaks.
        protocol: u32,
        /// A name for messages.
        #[serde(default)]
        name: Option<String>,
        /// Optional features (none are defined in version 1).
        #[serde(default)]
        capabilities: Vec<String>,
    },
    /// Done (answer to `init` and `tell`). A struct variant so that unknown fields are
    /// refused here too.
    Ok {},
    /// Answer to `ask`: the architecture, by text or by genes.
    Proposal {
        /// Canonical text (or a NAS-Bench-Macro key in a macro space).
        #[serde(default)]
        arch: Option<String>,
        /// A genome of the space's encoding.
        #[serde(default)]
        genes: Option<Vec<usize>>,
    },
    /// While answering `ask`: is this an architecture of the space? (nas answers with
    /// `query_result`).
    Query {
        /// Text to check.
        #[serde(default)]
        arch: Option<String>,
        /// Genome to check.
        #[serde(default)]
        genes: Option<Vec<usize>>,
    },
    /// Answer to `evaluate`.
    Result {
        /// `ok` or `diverged`.
        status: String,
        /// Why it diverged.
        #[serde(default)]
        reason: Option<String>,
        /// What was measured.
        #[serde(default)]
        metrics: MetricsInfo,
    },
    /// The process could not do what was asked.
    Error {
        /// What went wrong.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_json_object_with_a_type() {
        let ask = serde_json::to_string(&Request::Ask).unwrap();
        assert_eq!(ask, r#"{"type":"ask"}"#);
        let r: Reply = serde_json::from_str(r#"{"type":"proposal","genes":[1,2]}"#).unwrap();
        assert_eq!(
            r,
            Reply::Proposal {
                arch: None,
                genes: Some(vec![1, 2])
            }
        );
        assert!(serde_json::from_str::<Reply>(r#"{"type":"proposal","gene":[1]}"#).is_err());
        assert!(serde_json::from_str::<Reply>(r#"{"type":"nonsense"}"#).is_err());
        let e: Reply = serde_json::from_str(
            r#"{"type":"result","status":"ok","metrics":{"val_acc":0.5,"train_seconds":1.5}}"#,
        )
        .unwrap();
        assert!(matches!(e, Reply::Result { .. }));
    }
}
