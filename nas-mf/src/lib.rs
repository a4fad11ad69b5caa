//! # nas-mf
//!
//! Multi-fidelity search for nas: strategies that decide not only which architecture to
//! train but for how many epochs (its *fidelity*), and stop the unpromising ones early.
//! They propose through [`nas_core::Strategy::propose`] ([`nas_core::Proposal`]: an
//! architecture at a number of epochs, possibly continuing the training of an earlier
//! trial); the loop records each trial's [`nas_core::Fidelity`] and counts what it cost
//! (continuing from 3 to 9 epochs costs 6 with an evaluator that continues trainings,
//! such as a table with learning curves).
//!
//! - [`SuccessiveHalving`]: Jamieson & Talwalkar, AISTATS 2016.
//! - [`Hyperband`]: Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar, JMLR 2018.
//! - [`Bohb`]: Falkner, Klein & Hutter, ICML 2018 (Hyperband with a kernel density
//!   model choosing the new architectures).
//! - [`Asha`]: Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht & Talwalkar,
//!   MLSys 2020.
//!
//! All share the rungs of [`Rungs`] (η = 3 by default, as the papers use) and draw new
//! architectures from the space with the run's strategy RNG (uniformly, or BOHB's
//! model), so a run is a function of its seed. On simulated asynchronous workers
//! ([`nas_core::RunState::simulated`]) the synchronous ones promote a rung only once all
//! its trials have ended and start the next bracket meanwhile (as HpBandSter does); ASHA
//! promotes as soon as a trial is in a rung's top third.
//!
//! ```
//! use nas_core::testutil::{Run, toy_space};
//! use nas_core::RunSeeds;
//! use nas_mf::{Hyperband, HyperbandParams};
//!
//! let seeds = RunSeeds::new(7, "hyperband", 0);
//! let params = HyperbandParams::default().check()?;
//! // A run whose per-trial budget is 9 epochs: rungs of 1, 3 and 9 epochs.
//! let mut hb = Hyperband::new(toy_space(), params, 9, seeds.strategy_rng())?;
//! assert_eq!(hb.rungs().all(), &[1, 3, 9]);
//! assert_eq!((hb.bracket_size(2), hb.bracket_size(1), hb.bracket_size(0)), (9, 5, 3));
//!
//! // The loop `nas run` uses, on the synthetic evaluator: 9 trials at 1 epoch, the best
//! // 3 continued to 3 epochs, the best of those to 9.
//! let mut run = Run::toy(seeds);
//! run.steps(&mut hb, 13);
//! let epochs: Vec<u32> = run.history().trials().iter()
//!     .map(|t| t.fidelity.as_ref().unwrap().epochs)
//!     .collect();
//! assert_eq!(epochs, [1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 9]);
//! # Ok::<(), nas_core::Error>(())
//! ```

mod asha;
mod bohb;
mod halving;
mod params;
mod rungs;

pub use asha::Asha;
pub use bohb::Bohb;
pub use halving::{Hyperband, SuccessiveHalving};
pub use params::{
    AshaParams, AshaValidParams, BohbParams, BohbValidParams, HyperbandParams,
    HyperbandValidParams, MAX_SAMPLES, SuccessiveHalvingParams, SuccessiveHalvingValidParams,
};
pub use rungs::Rungs;

use nas_core::{Error, Result, Trial};

/// The epochs of a told trial of a multi-fidelity strategy.
fn fidelity_of(trial: &Trial, name: &str) -> Result<u32> {
    trial.fidelity.as_ref().map(|f| f.epochs).ok_or_else(|| {
        Error::Strategy(format!(
            "{name} was told trial {} without a fidelity: it did not propose it",
            trial.index
        ))
    })
}

/// Indices of the trials that rank, best first: by fitness (validation accuracy)
/// descending, ties to the smaller trial index; trials without a fitness (failed,
/// diverged) are left out.
fn rank(told: &[(u32, Option<f64>)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..told.len()).filter(|&i| told[i].1.is_some()).collect();
    order.sort_by(|&a, &b| {
        let (ia, fa) = told[a];
        let (ib, fb) = told[b];
        fb.unwrap().total_cmp(&fa.unwrap()).then(ia.cmp(&ib))
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_puts_the_best_first_ties_to_the_earlier_trial_and_drops_failures() {
        let told = [
            (4, Some(0.5)),
            (2, None),
            (7, Some(0.9)),
            (1, Some(0.5)),
            (9, Some(0.1)),
        ];
        assert_eq!(rank(&told), vec![2, 3, 0, 4]);
    }
}
