//! The strategies a config can name: one entry per strategy kind, each turning a
//! `[[strategy]]` params table into a typed, checked [`StrategySpec`] (parsed once) that
//! builds the strategy of a run.
//!
//! Adding a strategy: its crate (with `XParams` implementing [`nas_core::Params`]), one
//! [`Entry`] in [`REGISTRY`], and the workspace member. Config checks, error messages,
//! `nas space` and CI's no-candle check all read the registry or the workspace.
//!
//! This module knows nas-core and the strategy crates only: not the config, not the
//! runner.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use nas_core::{NasRng, Params, SearchSpace, Strategy};
use serde::{Deserialize, Serialize};

/// What a run gives a strategy to build on.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The checked space it searches.
    pub space: SearchSpace,
    /// Its own stream ([`nas_core::RunSeeds::strategy_rng`]).
    pub rng: NasRng,
    /// The run's seed ([`nas_core::RunSeeds::run`]): an external strategy's seed.
    pub seed: u64,
    /// The run, `name/repetition`.
    pub run: String,
    /// The run's budget (Q-learning scales its ε schedule to its evaluations).
    pub limits: nas_core::Limits,
    /// How to start the process of an external strategy.
    pub external: Option<nas_external::Launch>,
    /// The run's per-trial budget in epochs: the largest fidelity a multi-fidelity
    /// strategy may ask for.
    pub budget_epochs: u32,
}

/// Why a strategy's params were refused.
#[derive(Debug)]
pub enum ParamsError {
    /// A value is out of range (names the field).
    Core(nas_core::Error),
    /// The table does not parse (unknown field, wrong type).
    Parse(String),
    /// The value of this key does not parse (a wrong type).
    Field(String, String),
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamsError::Core(e) => write!(f, "{e}"),
            ParamsError::Parse(m) => f.write_str(m),
            ParamsError::Field(k, m) => write!(f, "{k}: {m}"),
        }
    }
}

impl std::error::Error for ParamsError {}

/// Builds a strategy from its checked params.
type BuildFn<V> = fn(V, BuildContext) -> nas_core::Result<Box<dyn Strategy>>;

/// One strategy kind of the registry.
pub struct Entry {
    /// The name of `kind = "..."`.
    pub kind: &'static str,
    /// One line for help texts: the algorithm and its crate.
    pub about: &'static str,
    typed: &'static (dyn Kind + Sync),
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry").field("kind", &self.kind).finish()
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Eq for Entry {}

/// Every strategy kind, in the order help texts list them.
pub static REGISTRY: &[Entry] = &[
    Entry {
        kind: "random",
        about: "uniform random search (nas-random)",
        typed: &Typed::<nas_random::RandomParams> {
            build: |p, c| Ok(Box::new(nas_random::RandomSearch::new(c.space, p, c.rng))),
            params: PhantomData,
        },
    },
    Entry {
        kind: "genetic",
        about: "generational genetic algorithm (nas-genetic)",
        typed: &Typed::<nas_genetic::GaParams> {
            build: |p, c| {
                Ok(Box::new(nas_genetic::GeneticAlgorithm::new(
                    c.space, p, c.rng,
                )))
            },
            params: PhantomData,
        },
    },
    Entry {
        kind: "evolution",
        about: "regularized (aging) evolution, Real et al. 2019 (nas-genetic)",
        typed: &Typed::<nas_genetic::EvolutionParams> {
            build: |p, c| {
                Ok(Box::new(nas_genetic::RegularizedEvolution::new(
                    c.space, p, c.rng,
                )))
            },
            params: PhantomData,
        },
    },
    Entry {
        kind: "reinforce",
        about: "REINFORCE controller, Zoph & Le 2017 (nas-rl)",
        typed: &Typed::<nas_rl::ReinforceParams> {
            build: |p, c| Ok(Box::new(nas_rl::Reinforce::new(c.space, p, c.rng))),
            params: PhantomData,
        },
    },
    Entry {
        kind: "qlearning",
        about: "tabular Q-learning, MetaQNN, Baker et al. 2017 (nas-rl)",
        typed: &Typed::<nas_rl::QLearningParams> {
            build: |p, c| {
                Ok(Box::new(nas_rl::QLearning::new(
                    c.space,
                    p,
                    c.limits.evaluations as usize,
                    c.rng,
                )?))
            },
            params: PhantomData,
        },
    },
    Entry {
        kind: "local-search",
        about: "local search (hill climbing with restarts), White et al. 2021 (nas-local)",
        typed: &Typed::<nas_local::LocalSearchParams> {
            build: |p, c| Ok(Box::new(nas_local::LocalSearch::new(c.space, p, c.rng))),
            params: PhantomData,
        },
    },
    Entry {
        kind: "tpe",
        about: "tree-structured Parzen estimator, Bergstra et al. 2011 (nas-bo)",
        typed: &Typed::<nas_bo::TpeParams> {
            build: |p, c| Ok(Box::new(nas_bo::Tpe::new(c.space, p, c.rng))),
            params: PhantomData,
        },
    },
    Entry {
        kind: "bananas",
        about: "BANANAS, neural-predictor Bayesian optimisation, White et al. 2021 (nas-bo)",
        typed: &Typed::<nas_bo::BananasParams> {
            build: |p, c| Ok(Box::new(nas_bo::Bananas::new(c.space, p, c.rng))),
            params: PhantomData,
        },
    },
    Entry {
        kind: "successive-halving",
        about: "successive halving, Jamieson & Talwalkar 2016 (nas-mf; multi-fidelity)",
        typed: &Typed::<nas_mf::SuccessiveHalvingParams> {
            build: |p, c| {
                Ok(Box::new(nas_mf::SuccessiveHalving::new(
                    c.space,
                    p,
                    c.budget_epochs,
                    c.rng,
                )?))
            },
            params: PhantomData,
        },
    },
    Entry {
        kind: "hyperband",
        about: "Hyperband, Li et al. 2018 (nas-mf; multi-fidelity)",
        typed: &Typed::<nas_mf::HyperbandParams> {
            build: |p, c| {
                Ok(Box::new(nas_mf::Hyperband::new(
                    c.space,
                    p,
                    c.budget_epochs,
                    c.rng,
                )?))
            },
            params: PhantomData,
        },
    },
    Entry {
        kind: "bohb",
        about: "BOHB, Falkner et al. 2018: Hyperband with a kernel density model (nas-mf; multi-fidelity)",
        typed: &Typed::<nas_mf::BohbParams> {
            build: |p, c| {
                Ok(Box::new(nas_mf::Bohb::new(
                    c.space,
                    p,
                    c.budget_epochs,
                    c.rng,
                )?))
            },
            params: PhantomData,
        },
    },
    Entry {
        kind: "asha",
        about: "asynchronous successive halving (ASHA), Li et al. 2020 (nas-mf; multi-fidelity)",
        typed: &Typed::<nas_mf::AshaParams> {
            build: |p, c| {
                Ok(Box::new(nas_mf::Asha::new(
                    c.space,
                    p,
                    c.budget_epochs,
                    c.rng,
                )?))
            },
            params: PhantomData,
        },
    },
    Entry {
        kind: "external",
        about: "an external process speaking nas's protocol, e.g. Python (nas-external)",
        typed: &Typed::<ExternalParams> {
            build: |p, c| {
                let launch = c.external.ok_or_else(|| {
                    nas_core::Error::Strategy("an external strategy needs a command".into())
                })?;
                let params = serde_json::to_value(&p.0).map_err(|e| {
                    nas_core::Error::Strategy(format!("params do not convert to JSON: {e}"))
                })?;
                let init = nas_external::StrategyInit {
                    seed: c.seed,
                    params,
                    budget: nas_external::protocol::BudgetInfo {
                        evaluations: c.limits.evaluations,
                        max_train_epochs: c.limits.max_train_epochs,
                        max_train_seconds: c.limits.max_train_seconds,
                    },
                    run: c.run,
                };
                Ok(Box::new(nas_external::ExternalStrategy::start(
                    &launch, c.space, init,
                )?))
            },
            params: PhantomData,
        },
    },
];

/// The params of an external strategy: any table, passed to the process at `init`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExternalParams(pub toml::Table);

impl Params for ExternalParams {
    type Valid = ExternalParams;
    fn check(&self) -> nas_core::Result<ExternalParams> {
        Ok(self.clone())
    }
}

/// A kind's params parser, type-erased so that the registry is one list.
trait Kind {
    fn parse(&self, kind: &'static str, table: &toml::Table) -> Result<StrategySpec, ParamsError>;
}

/// The kind whose params are `P`, built by `build`.
struct Typed<P: Params> {
    build: BuildFn<P::Valid>,
    params: PhantomData<fn() -> P>,
}

impl<P: Params + 'static> Kind for Typed<P> {
    fn parse(&self, kind: &'static str, table: &toml::Table) -> Result<StrategySpec, ParamsError> {
        let parse = |t: toml::Table| toml::Value::Table(t).try_into::<P>();
        let params: P = parse(table.clone()).map_err(|e: toml::de::Error| {
            let message = e.message().trim().to_string();
            // toml names no key for a wrong type: the key is the first that fails on its
            // own (when the params default every field, as the registry's do).
            let culprit = parse(toml::Table::new()).is_ok().then(|| {
                table.iter().find(|(k, v)| {
                    let mut one = toml::Table::new();
                    one.insert((*k).clone(), (*v).clone());
                    parse(one).is_err()
                })
            });
            match culprit.flatten() {
                Some((k, _)) => ParamsError::Field(k.clone(), message),
                None => ParamsError::Parse(message),
            }
        })?;
        let valid = params.check().map_err(ParamsError::Core)?;
        let Ok(toml::Value::Table(resolved)) = toml::Value::try_from(&params) else {
            return Err(ParamsError::Parse(
                "params do not serialize to a table".into(),
            ));
        };
        Ok(StrategySpec {
            kind,
            params: resolved,
            builder: Arc::new(Built::<P> {
                valid,
                build: self.build,
            }),
        })
    }
}

/// Checked params and how to build from them.
trait Builder: Send + Sync {
    fn build(&self, ctx: BuildContext) -> nas_core::Result<Box<dyn Strategy>>;
}

struct Built<P: Params> {
    valid: P::Valid,
    build: BuildFn<P::Valid>,
}

impl<P: Params + 'static> Builder for Built<P> {
    fn build(&self, ctx: BuildContext) -> nas_core::Result<Box<dyn Strategy>> {
        (self.build)(self.valid.clone(), ctx)
    }
}

/// The kind of `[[strategy]] kind = "..."`: a name of the [`REGISTRY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StrategyKind(&'static Entry);

impl StrategyKind {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        self.0.kind
    }

    /// The registry entry.
    pub fn entry(self) -> &'static Entry {
        self.0
    }

    /// Parses and checks a params table once into the strategy's spec, with every default
    /// written out.
    ///
    /// # Errors
    /// [`ParamsError`] naming the field.
    pub fn parse_params(self, table: &toml::Table) -> Result<StrategySpec, ParamsError> {
        self.0.typed.parse(self.0.kind, table)
    }
}

/// The kinds, comma-separated, for messages.
pub fn kind_names() -> String {
    REGISTRY
        .iter()
        .map(|e| e.kind)
        .collect::<Vec<_>>()
        .join(", ")
}

impl TryFrom<String> for StrategyKind {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        REGISTRY
            .iter()
            .find(|e| e.kind == name)
            .map(StrategyKind)
            .ok_or_else(|| format!("unknown strategy kind `{name}` (allowed: {})", kind_names()))
    }
}

impl From<StrategyKind> for String {
    fn from(kind: StrategyKind) -> String {
        kind.name().to_string()
    }
}

/// A strategy's checked params: what a run builds its strategy from.
#[derive(Clone)]
pub struct StrategySpec {
    kind: &'static str,
    params: toml::Table,
    builder: Arc<dyn Builder>,
}

impl StrategySpec {
    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The params with every default written out (what the resolved config records).
    pub fn params(&self) -> &toml::Table {
        &self.params
    }

    /// Builds the strategy of a run.
    ///
    /// # Errors
    /// What the strategy's constructor refuses (e.g. Q-learning with a budget of 0).
    pub fn build(&self, ctx: BuildContext) -> nas_core::Result<Box<dyn Strategy>> {
        self.builder.build(ctx)
    }
}

impl fmt::Debug for StrategySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrategySpec")
            .field("kind", &self.kind)
            .field("params", &self.params)
            .finish()
    }
}

impl PartialEq for StrategySpec {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.params == other.params
    }
}
