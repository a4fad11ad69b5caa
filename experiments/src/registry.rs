//! The strategies a config can name, their params, and how a run builds one.

use anyhow::Result;
use nas_core::{SearchSpace, Strategy};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{Config, StrategySection};
use crate::runner::Unit;

/// The algorithms of `[[strategy]] kind = ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// Uniform random search (nas-random).
    Random,
    /// Genetic algorithm (nas-genetic).
    Genetic,
    /// Regularized (aging) evolution, Real et al. 2019 (nas-genetic).
    Evolution,
    /// REINFORCE controller, Zoph & Le 2017 (nas-rl).
    Reinforce,
    /// Tabular Q-learning, MetaQNN, Baker et al. 2017 (nas-rl).
    Qlearning,
}

impl StrategyKind {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Random => "random",
            StrategyKind::Genetic => "genetic",
            StrategyKind::Evolution => "evolution",
            StrategyKind::Reinforce => "reinforce",
            StrategyKind::Qlearning => "qlearning",
        }
    }
}

/// Why a strategy's params were refused.
#[derive(Debug)]
pub enum ParamsError {
    /// A value is out of range.
    Core(nas_core::Error),
    /// The table does not parse (unknown field, wrong type).
    Parse(String),
}

fn parse<P: DeserializeOwned>(table: &toml::Table) -> Result<P, ParamsError> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| ParamsError::Parse(e.message().trim().to_string()))
}

fn resolve<P: DeserializeOwned + Serialize>(
    table: &toml::Table,
    check: impl Fn(&P) -> nas_core::Result<()>,
) -> Result<toml::Table, ParamsError> {
    let params: P = parse(table)?;
    check(&params).map_err(ParamsError::Core)?;
    match toml::Value::try_from(&params) {
        Ok(toml::Value::Table(t)) => Ok(t),
        _ => Err(ParamsError::Parse(
            "params do not serialize to a table".into(),
        )),
    }
}

impl StrategyKind {
    /// Parses and checks a params table; returns it with every default written out.
    pub fn resolve_params(
        self,
        table: &toml::Table,
        evaluations: usize,
    ) -> Result<toml::Table, ParamsError> {
        match self {
            StrategyKind::Random => {
                resolve(table, |p: &nas_random::RandomParams| p.check().map(drop))
            }
            StrategyKind::Genetic => {
                resolve(table, |p: &nas_genetic::GaParams| p.check().map(drop))
            }
            StrategyKind::Evolution => resolve(table, |p: &nas_genetic::EvolutionParams| {
                p.check().map(drop)
            }),
            StrategyKind::Reinforce => {
                resolve(table, |p: &nas_rl::ReinforceParams| p.check().map(drop))
            }
            StrategyKind::Qlearning => resolve(table, |p: &nas_rl::QLearningParams| {
                let _ = evaluations;
                p.check().map(drop)
            }),
        }
    }
}

/// Builds the strategy of a run from its resolved section.
pub fn build(
    section: &StrategySection,
    space: &SearchSpace,
    unit: &Unit,
    config: &Config,
) -> Result<Box<dyn Strategy>> {
    let rng = unit.seeds(config.experiment.seed).strategy_rng();
    let space = space.clone();
    let evaluations = config.experiment.evaluations as usize;
    let err = |e: ParamsError| match e {
        ParamsError::Core(e) => anyhow::Error::new(e),
        ParamsError::Parse(m) => anyhow::Error::msg(m),
    };
    let t = &section.params;
    Ok(match section.kind {
        StrategyKind::Random => {
            let p: nas_random::RandomParams = parse(t).map_err(err)?;
            Box::new(nas_random::RandomSearch::new(space, p.check()?, rng))
        }
        StrategyKind::Genetic => {
            let p: nas_genetic::GaParams = parse(t).map_err(err)?;
            Box::new(nas_genetic::GeneticAlgorithm::new(space, p.check()?, rng))
        }
        StrategyKind::Evolution => {
            let p: nas_genetic::EvolutionParams = parse(t).map_err(err)?;
            Box::new(nas_genetic::RegularizedEvolution::new(
                space,
                p.check()?,
                rng,
            ))
        }
        StrategyKind::Reinforce => {
            let p: nas_rl::ReinforceParams = parse(t).map_err(err)?;
            Box::new(nas_rl::Reinforce::new(space, p.check()?, rng))
        }
        StrategyKind::Qlearning => {
            let p: nas_rl::QLearningParams = parse(t).map_err(err)?;
            Box::new(nas_rl::QLearning::new(space, p.check()?, evaluations, rng)?)
        }
    })
}
