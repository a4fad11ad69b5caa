//! Params of the genetic algorithm and of regularized evolution: written in a config,
//! checked once.

use serde::{Deserialize, Serialize};

use nas_core::{Error, Result};

/// How the GA picks a parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The fittest of `tournament_size` members drawn without replacement.
    Tournament,
    /// Fitness-proportional ("roulette wheel"), on fitness minus the population's lowest,
    /// as in Genetic CNN (Xie & Yuille 2017); uniform when every member ties.
    Roulette,
}

/// How the GA recombines two parents' genomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crossover {
    /// The first parent's genes before a uniformly drawn cut, the second's after it.
    OnePoint,
    /// Each gene from either parent with probability 1/2.
    Uniform,
}

/// The genetic algorithm as written in a config (`params = { population = 20 }`):
/// unchecked. Missing fields take their default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GaParams {
    /// Members of a generation (at least 2). Default 20, the population of Genetic CNN
    /// (Xie & Yuille 2017, N = 20), the GA-for-architectures reference; with a 150-trial
    /// budget it leaves about seven generations.
    pub population: usize,
    /// Parent selection. Default tournament: it depends only on the order of fitnesses, so
    /// it keeps its pressure when accuracies bunch up near the top, where fitness-
    /// proportional selection goes nearly uniform (Goldberg & Deb 1991).
    pub selection: Selection,
    /// Members per tournament, from 1 (random parents) to `population`. Default 3, a
    /// moderate pressure (binary tournaments, 2, are the mildest; Goldberg & Deb 1991
    /// analyse both); on the toy space 3 beat 2 (mean best after 150 trials 0.907 vs
    /// 0.862). Used only with tournament selection.
    pub tournament_size: usize,
    /// Recombination operator. Default one-point, the operator of the canonical GA
    /// (Holland 1975; Goldberg 1989), which keeps neighbouring layers together.
    pub crossover: Crossover,
    /// Probability that a child is recombined from two parents (else it is a copy of one
    /// parent, before mutation), in [0, 1]. Default 0.9, within the 0.75-0.95 that
    /// Schaffer et al. (1989) found best across their GA test suite.
    pub crossover_rate: f64,
    /// Probability that each decision of a child's network mutates, in [0, 1]: every
    /// layer's kind, each of its options (width, kernel, activation, dropout rate), its
    /// presence (removal) and each place a layer may be inserted. Default 0.05: close
    /// to 1/L, the classic per-gene rate (Mühlenbein 1992; Bäck 1993), for the 20-30
    /// decisions of a 4-5 layer network, so a child differs from its parents in about
    /// one decision on average.
    pub mutation_rate: f64,
    /// Best members copied unchanged into the next generation, from 0 to
    /// `population - 1`. Default 1: De Jong's (1975) elitist strategy, which keeps the best
    /// architecture found (it is not re-evaluated).
    pub elitism: usize,
}

impl Default for GaParams {
    fn default() -> Self {
        GaParams {
            population: 20,
            selection: Selection::Tournament,
            tournament_size: 3,
            crossover: Crossover::OnePoint,
            crossover_rate: 0.9,
            mutation_rate: 0.05,
            elitism: 1,
        }
    }
}

/// Rejects a probability outside [0, 1] (NaN included).
fn check_probability(field: &str, p: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::invalid(field, p, "a probability in [0, 1]"));
    }
    Ok(())
}

impl GaParams {
    /// Checks every field.
    pub fn check(&self) -> Result<GaValidParams> {
        if self.population < 2 {
            return Err(Error::invalid(
                "population",
                self.population,
                "an integer of at least 2",
            ));
        }
        if self.tournament_size == 0 || self.tournament_size > self.population {
            return Err(Error::invalid(
                "tournament_size",
                self.tournament_size,
                format!("an integer from 1 to population ({})", self.population),
            ));
        }
        check_probability("crossover_rate", self.crossover_rate)?;
        check_probability("mutation_rate", self.mutation_rate)?;
        if self.elitism >= self.population {
            return Err(Error::invalid(
                "elitism",
                self.elitism,
                format!(
                    "an integer from 0 to population - 1 ({})",
                    self.population - 1
                ),
            ));
        }
        Ok(GaValidParams(self.clone()))
    }
}

nas_core::valid_params! {
    /// Checked [`GaParams`]: the only form [`crate::GeneticAlgorithm`] accepts. Read the
    /// fields through `Deref`; it serializes as the params and is checked again when read.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(try_from = "GaParams", into = "GaParams")]
    pub struct GaValidParams(GaParams);
}

/// Regularized (aging) evolution as written in a config: unchecked. Missing fields take
/// their default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvolutionParams {
    /// P, the number of most recent architectures that form the population (at least 1).
    /// Default 10, the NAS-Bench-201 baseline for small budgets (Dong & Yang 2020);
    /// Real et al. (2019) used P = 100 on their large budget.
    pub population: usize,
    /// S, the members drawn (without replacement) for each tournament, from 1 to
    /// `population`. Default 3 (NAS-Bench-201); Real et al. (2019) used S = 25.
    pub sample_size: usize,
}

impl Default for EvolutionParams {
    fn default() -> Self {
        EvolutionParams {
            population: 10,
            sample_size: 3,
        }
    }
}

impl EvolutionParams {
    /// The original setting of Real et al. (2019): P = 100, S = 25.
    pub fn real_et_al_2019() -> Self {
        EvolutionParams {
            population: 100,
            sample_size: 25,
        }
    }

    /// Checks every field.
    pub fn check(&self) -> Result<EvolutionValidParams> {
        if self.population == 0 {
            return Err(Error::invalid("population", 0, "an integer of at least 1"));
        }
        if self.sample_size == 0 || self.sample_size > self.population {
            return Err(Error::invalid(
                "sample_size",
                self.sample_size,
                format!("an integer from 1 to population ({})", self.population),
            ));
        }
        Ok(EvolutionValidParams(self.clone()))
    }
}

nas_core::valid_params! {
    /// Checked [`EvolutionParams`]: the only form [`crate::RegularizedEvolution`] accepts.
    /// Read the fields through `Deref`; it serializes as the params and is checked again
    /// when read.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(try_from = "EvolutionParams", into = "EvolutionParams")]
    pub struct EvolutionValidParams(EvolutionParams);
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::testutil::assert_rejects as rejected;

    #[test]
    fn defaults_are_valid_and_fill_missing_fields() {
        assert!(GaParams::default().check().is_ok());
        assert!(EvolutionParams::default().check().is_ok());
        assert!(EvolutionParams::real_et_al_2019().check().is_ok());
        let p: GaParams = serde_json::from_str(r#"{"population": 30}"#).unwrap();
        assert_eq!(
            p,
            GaParams {
                population: 30,
                ..GaParams::default()
            }
        );
        let p: GaParams =
            serde_json::from_str(r#"{"selection": "roulette", "crossover": "uniform"}"#).unwrap();
        assert_eq!(p.selection, Selection::Roulette);
        assert_eq!(p.crossover, Crossover::Uniform);
    }

    #[test]
    fn valid_params_are_checked_again_when_read() {
        let json = serde_json::to_string(&GaParams::default().check().unwrap()).unwrap();
        assert_eq!(
            serde_json::from_str::<GaValidParams>(&json).unwrap(),
            GaParams::default().check().unwrap()
        );
        let bad = r#"{"population": 1}"#;
        assert!(serde_json::from_str::<GaValidParams>(bad).is_err());
        assert!(serde_json::from_str::<EvolutionValidParams>(r#"{"sample_size": 11}"#).is_err());
    }

    #[test]
    fn rejects_unknown_fields() {
        assert!(serde_json::from_str::<GaParams>(r#"{"populaton": 3}"#).is_err());
        assert!(serde_json::from_str::<EvolutionParams>(r#"{"sample": 3}"#).is_err());
    }

    #[test]
    fn rejects_a_population_below_two() {
        for population in [0, 1] {
            let p = GaParams {
                population,
                tournament_size: 1,
                elitism: 0,
                ..GaParams::default()
            };
            rejected(p.check(), "population");
        }
    }

    #[test]
    fn rejects_an_unknown_selection() {
        let err = serde_json::from_str::<GaParams>(r#"{"selection": "rank"}"#).unwrap_err();
        assert!(err.to_string().contains("rank"), "{err}");
    }

    #[test]
    fn rejects_tournament_sizes_of_zero_and_above_the_population() {
        for tournament_size in [0, 21] {
            let p = GaParams {
                tournament_size,
                ..GaParams::default()
            };
            rejected(p.check(), "tournament_size");
        }
    }

    #[test]
    fn rejects_an_unknown_crossover() {
        let err = serde_json::from_str::<GaParams>(r#"{"crossover": "two_point"}"#).unwrap_err();
        assert!(err.to_string().contains("two_point"), "{err}");
    }

    #[test]
    fn rejects_crossover_rates_outside_the_unit_interval() {
        for crossover_rate in [-0.1, 1.5, f64::NAN] {
            let p = GaParams {
                crossover_rate,
                ..GaParams::default()
            };
            rejected(p.check(), "crossover_rate");
        }
    }

    #[test]
    fn rejects_mutation_rates_outside_the_unit_interval() {
        for mutation_rate in [-0.01, 1.01, f64::INFINITY] {
            let p = GaParams {
                mutation_rate,
                ..GaParams::default()
            };
            rejected(p.check(), "mutation_rate");
        }
    }

    #[test]
    fn rejects_elitism_of_the_whole_population() {
        let p = GaParams {
            elitism: 20,
            ..GaParams::default()
        };
        rejected(p.check(), "elitism");
    }

    #[test]
    fn rejects_an_empty_evolution_population() {
        let p = EvolutionParams {
            population: 0,
            sample_size: 0,
        };
        rejected(p.check(), "population");
    }

    #[test]
    fn rejects_sample_sizes_of_zero_and_above_the_population() {
        for sample_size in [0, 11] {
            let p = EvolutionParams {
                sample_size,
                ..EvolutionParams::default()
            };
            rejected(p.check(), "sample_size");
        }
    }
}
