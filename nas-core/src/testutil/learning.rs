//! Does a strategy learn? Its final best-so-far against random search's, over many seeds,
//! on a toy space with the synthetic evaluator.

use crate::architecture::Architecture;
use crate::error::Result;
use crate::history::History;
use crate::seed::{NasRng, RunSeeds};
use crate::space::SearchSpace;
use crate::strategy::Strategy;
use crate::trial::Trial;

use super::harness::Run;
use super::toy::SyntheticEvaluator;

/// The random-search baseline: independent uniform draws from the space, exactly what
/// nas-random's `RandomSearch` does with its default params (kept here so that strategy
/// crates need not depend on nas-random, even for tests).
#[derive(Debug, Clone)]
pub struct UniformBaseline {
    /// The space drawn from.
    pub space: SearchSpace,
    /// The strategy's RNG.
    pub rng: NasRng,
}

impl UniformBaseline {
    /// Draws from `space` with the strategy RNG of `seeds`.
    pub fn new(space: SearchSpace, seeds: RunSeeds) -> Self {
        UniformBaseline {
            space,
            rng: seeds.strategy_rng(),
        }
    }
}

impl Strategy for UniformBaseline {
    fn ask(&mut self, _history: &History) -> Result<Architecture> {
        Ok(self.space.sample(&mut self.rng))
    }

    fn tell(&mut self, _trial: &Trial) -> Result<()> {
        Ok(())
    }
}

/// Final best-so-far (0 when nothing ranked) of `reps` runs of `evals` trials on `space`;
/// repetition `r` uses the seeds of `(2024, name, r)`, as the runner derives them.
pub fn final_bests(
    space: &SearchSpace,
    name: &str,
    reps: u32,
    evals: usize,
    mut make: impl FnMut(SearchSpace, RunSeeds) -> Box<dyn Strategy>,
) -> Vec<f64> {
    (0..reps)
        .map(|r| {
            let seeds = RunSeeds::new(2024, name, r);
            let mut strategy = make(space.clone(), seeds);
            let mut run = Run::new(space.clone(), seeds, SyntheticEvaluator::default());
            run.steps(strategy.as_mut(), evals);
            run.best()
        })
        .collect()
}

/// Runs `name` and the [`UniformBaseline`] over 30 seeds x 150 evaluations, prints both
/// means and the one-sided Mann-Whitney p-value of "`name` ends higher"
/// ([`nas_stats::mann_whitney_u`]'s `p_greater`; see it with `cargo test -- --nocapture`),
/// and returns that p-value.
pub fn compare_with_random(
    space: &SearchSpace,
    name: &str,
    make: impl FnMut(SearchSpace, RunSeeds) -> Box<dyn Strategy>,
) -> f64 {
    const REPS: u32 = 30;
    const EVALS: usize = 150;
    let random = final_bests(space, "random", REPS, EVALS, |space, seeds| {
        Box::new(UniformBaseline::new(space, seeds))
    });
    let strategy = final_bests(space, name, REPS, EVALS, make);
    let test = nas_stats::mann_whitney_u(&strategy, &random)
        .expect("the final bests are finite and non-empty");
    let (u, p) = (test.u1, test.p_greater);
    println!(
        "{name} on a {} space: mean best after {EVALS} = {:.4} vs random {:.4} ({REPS} seeds; U = {u}, one-sided Mann-Whitney p = {p:.2e})",
        space.kind(),
        mean(&strategy),
        mean(&random),
    );
    p
}

/// Mean of a sample (NaN for an empty one).
fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_does_not_beat_itself() {
        for space in crate::testutil::toy_spaces() {
            let p = compare_with_random(&space, "uniform", |space, seeds| {
                Box::new(UniformBaseline::new(space, seeds))
            });
            assert!(p > 0.01, "p = {p}");
        }
    }
}
