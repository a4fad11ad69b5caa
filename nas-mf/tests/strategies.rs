//! Successive halving, Hyperband, BOHB and ASHA driven by nas-core's loop (the one `nas run`
//! uses) on the synthetic evaluator, whose scores rise with the epochs and whose
//! training seconds are proportional to them.

use std::collections::HashMap;

use nas_core::testutil::{Run, SyntheticEvaluator, toy_cell_space};
use nas_core::{RunSeeds, Strategy, Trial};
use nas_mf::{
    Asha, AshaParams, Bohb, BohbParams, Hyperband, HyperbandParams, SuccessiveHalving,
    SuccessiveHalvingParams,
};

fn seeds(name: &str) -> RunSeeds {
    RunSeeds::new(11, name, 0)
}

fn epochs(t: &Trial) -> u32 {
    t.fidelity
        .as_ref()
        .expect("every trial has a fidelity")
        .epochs
}

/// Checks every continued trial: it continues an earlier ok trial of the same
/// architecture at fewer epochs, keeps that trial's seed, and costs the new epochs
/// (unless it is answered from the cache).
fn check_continuations(trials: &[Trial]) {
    for t in trials {
        let f = t.fidelity.as_ref().unwrap();
        if let Some(j) = f.continues {
            let below = &trials[j as usize];
            assert!(j < t.index, "trial {} continues a later trial", t.index);
            assert_eq!(below.arch, t.arch);
            assert_eq!(f.prior_epochs, epochs(below));
            // A cached trial reuses the result (and seed) of the earlier trial of the
            // same architecture and fidelity.
            if !t.cached {
                // The training continued: `below`'s own, or for a cached `below` the first
                // training of that architecture at that fidelity.
                let source = if below.cached {
                    trials
                        .iter()
                        .find(|s| !s.cached && s.arch == below.arch && epochs(s) == epochs(below))
                        .expect("a cached trial has a source")
                } else {
                    below
                };
                assert_eq!(t.seed, source.seed, "a continuation keeps the seed");
                assert_eq!(t.cost().0, f64::from(f.epochs - f.prior_epochs));
            }
        }
    }
}

/// The fidelities of one cycle of Hyperband's brackets for rungs 1, 3, 9 with one
/// worker: s = 2: 9 at 1 epoch, 3 at 3, 1 at 9; s = 1: 5 at 3, 1 at 9; s = 0: 3 at 9.
fn hyperband_cycle() -> Vec<u32> {
    [
        vec![1; 9],
        vec![3; 3],
        vec![9],
        vec![3; 5],
        vec![9],
        vec![9; 3],
    ]
    .concat()
}

#[test]
fn hyperband_runs_its_brackets_in_turn_and_promotes_the_best_third() {
    let s = seeds("hyperband");
    let params = HyperbandParams::default().check().unwrap();
    let mut run = Run::toy(s);
    let mut hb = Hyperband::new(run.space.clone(), params, 9, s.strategy_rng()).unwrap();
    // Bracket s = 2: 9 at 1 epoch, 3 at 3, 1 at 9; s = 1: 5 at 3, 1 at 9; s = 0: 3 at 9;
    // then s = 2 again.
    run.steps(&mut hb, 9 + 3 + 1 + 5 + 1 + 3 + 9);
    let t = run.history().trials();
    let got: Vec<u32> = t.iter().map(epochs).collect();
    let want: Vec<u32> = hyperband_cycle().into_iter().chain([1; 9]).collect();
    assert_eq!(got, want);
    check_continuations(t);
    // The promoted three are the best three of the first rung, best first.
    let mut first: Vec<&Trial> = t[..9].iter().collect();
    first.sort_by(|a, b| b.fitness().unwrap().total_cmp(&a.fitness().unwrap()));
    let promoted: Vec<u32> = t[9..12]
        .iter()
        .map(|t| t.fidelity.as_ref().unwrap().continues.unwrap())
        .collect();
    let best: Vec<u32> = first[..3].iter().map(|t| t.index).collect();
    assert_eq!(promoted, best);
    // And the one at 9 epochs continues the best of those three.
    let mut second: Vec<&Trial> = t[9..12].iter().collect();
    second.sort_by(|a, b| b.fitness().unwrap().total_cmp(&a.fitness().unwrap()));
    assert_eq!(
        t[12].fidelity.as_ref().unwrap().continues,
        Some(second[0].index)
    );
    // Bracket s = 1 starts fresh architectures at 3 epochs; s = 0 trains from scratch.
    assert!(
        t[13..18]
            .iter()
            .all(|t| t.fidelity.as_ref().unwrap().continues.is_none())
    );
    assert!(
        t[19..22]
            .iter()
            .all(|t| t.fidelity.as_ref().unwrap().continues.is_none())
    );
    // Continuing costs the new epochs only: 9·1 + 3·2 + 6 + 5·3 + 6 + 3·9 (+ 9·1).
    let cost: f64 = t.iter().map(|t| t.cost().0).sum();
    let cached: f64 = t
        .iter()
        .filter(|t| t.cached)
        .map(|t| {
            let f = t.fidelity.as_ref().unwrap();
            f64::from(f.epochs - f.prior_epochs)
        })
        .sum();
    assert_eq!(cost + cached, 9.0 + 6.0 + 6.0 + 15.0 + 6.0 + 27.0 + 9.0);
}

#[test]
fn retraining_instead_of_continuing_costs_the_whole_fidelity() {
    let s = seeds("successive-halving");
    let params = SuccessiveHalvingParams {
        continue_trainings: false,
        ..Default::default()
    }
    .check()
    .unwrap();
    let mut run = Run::toy(s);
    let mut sh = SuccessiveHalving::new(run.space.clone(), params, 9, s.strategy_rng()).unwrap();
    run.steps(&mut sh, 13 + 13);
    let t = run.history().trials();
    let got: Vec<u32> = t.iter().map(epochs).collect();
    let bracket = [vec![1; 9], vec![3; 3], vec![9]].concat();
    assert_eq!(got, [bracket.clone(), bracket].concat());
    assert!(
        t.iter()
            .all(|t| t.fidelity.as_ref().unwrap().continues.is_none())
    );
    for t in t.iter().filter(|t| !t.cached) {
        assert_eq!(t.cost().0, f64::from(epochs(t)));
    }
}

/// (worker, start, end) of every trial, by worker, in start order.
fn by_worker(trials: &[Trial]) -> HashMap<u32, Vec<(f64, f64)>> {
    let mut w: HashMap<u32, Vec<(f64, f64)>> = HashMap::new();
    for t in trials {
        let s = t.schedule.expect("simulated workers record a schedule");
        w.entry(s.worker).or_default().push((s.start, s.end));
    }
    for v in w.values_mut() {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    w
}

#[test]
fn asha_keeps_every_simulated_worker_busy_and_promotes_only_the_top_third() {
    let s = seeds("asha");
    let params = AshaParams::default().check().unwrap();
    let mut run = Run::toy(s).with_workers(4);
    let mut asha = Asha::new(run.space.clone(), params, 9, s.strategy_rng()).unwrap();
    run.steps(&mut asha, 200);
    let t = run.history().trials();
    check_continuations(t);
    // No worker ever idles: each starts its next trial when its last one ends.
    let workers = by_worker(t);
    assert_eq!(workers.len(), 4);
    for (w, spans) in &workers {
        assert_eq!(spans[0].0, 0.0, "worker {w} starts at once");
        for pair in spans.windows(2) {
            assert_eq!(pair[1].0, pair[0].1, "worker {w} idled");
        }
    }
    // Trials finish in clock order.
    assert!(
        t.windows(2)
            .all(|p| p[0].schedule.unwrap().end <= p[1].schedule.unwrap().end)
    );
    // Every promotion was among the best ⌊n/3⌋ of its rung when it was proposed: the
    // rung's trials that had finished before the promoted trial started.
    for p in t
        .iter()
        .filter(|t| t.fidelity.as_ref().unwrap().continues.is_some())
    {
        let j = p.fidelity.as_ref().unwrap().continues.unwrap();
        let below = epochs(&t[j as usize]);
        let start = p.schedule.unwrap().start;
        let mut rung: Vec<&Trial> = t
            .iter()
            .filter(|x| epochs(x) == below && x.schedule.unwrap().end <= start)
            .collect();
        rung.sort_by(|a, b| {
            b.fitness()
                .unwrap()
                .total_cmp(&a.fitness().unwrap())
                .then(a.index.cmp(&b.index))
        });
        let top: Vec<u32> = rung[..rung.len() / 3].iter().map(|x| x.index).collect();
        assert!(
            top.contains(&j),
            "trial {} promoted {j}, not in the top {top:?}",
            p.index
        );
    }
    let at = |e: u32| t.iter().filter(|x| epochs(x) == e).count();
    assert!(
        at(1) > at(3) && at(3) > at(9) && at(9) > 0,
        "{} {} {}",
        at(1),
        at(3),
        at(9)
    );
    assert_eq!(
        asha.rung_sizes().iter().sum::<usize>() + run.state.in_flight(),
        200 + run.state.in_flight()
    );
}

#[test]
fn synchronous_halving_waits_for_its_rung_and_starts_the_next_bracket_meanwhile() {
    let s = seeds("successive-halving");
    let params = SuccessiveHalvingParams::default().check().unwrap();
    let mut run = Run::toy(s).with_workers(4);
    let mut sh = SuccessiveHalving::new(run.space.clone(), params, 9, s.strategy_rng()).unwrap();
    run.steps(&mut sh, 60);
    let t = run.history().trials();
    check_continuations(t);
    // The first bracket's first rung is the 9 first trials to start; the first promotion
    // starts once they have all ended.
    let mut first: Vec<&Trial> = t.iter().filter(|x| epochs(x) == 1).collect();
    first.sort_by(|a, b| {
        let (a, b) = (a.schedule.unwrap(), b.schedule.unwrap());
        a.start.total_cmp(&b.start)
    });
    let end_of_first = first[..9]
        .iter()
        .map(|x| x.schedule.unwrap().end)
        .fold(0.0, f64::max);
    let first_promotion = t
        .iter()
        .filter(|x| epochs(x) == 3)
        .map(|x| x.schedule.unwrap().start)
        .fold(f64::INFINITY, f64::min);
    assert!(first_promotion >= end_of_first);
    // Meanwhile the next bracket has started: no worker idles.
    let workers = by_worker(t);
    assert_eq!(workers.len(), 4);
    for (w, spans) in &workers {
        for pair in spans.windows(2) {
            assert_eq!(pair[1].0, pair[0].1, "worker {w} idled");
        }
    }
    let more_than_nine = first.len() > 9 && first[9].schedule.unwrap().start < end_of_first;
    assert!(
        more_than_nine,
        "a second bracket started before the first promoted"
    );
}

/// A run of `strategy` for `n` trials, its strategy serialized and read back halfway.
fn same_after_a_checkpoint<S>(make: impl Fn() -> (Run, S), n: usize)
where
    S: Strategy + serde::Serialize + serde::de::DeserializeOwned,
{
    let (mut whole, mut a) = make();
    whole.steps(&mut a, n);
    let (mut halves, mut b) = make();
    halves.steps(&mut b, n / 2);
    let text = serde_json::to_string(&b).unwrap();
    let mut b: S = serde_json::from_str(&text).unwrap();
    halves.steps(&mut b, n - n / 2);
    assert_eq!(whole.history().trials(), halves.history().trials());
}

#[test]
fn runs_are_a_function_of_the_seed_and_survive_a_checkpoint() {
    same_after_a_checkpoint(
        || {
            let s = seeds("hyperband");
            let run = Run::toy(s);
            let p = HyperbandParams::default().check().unwrap();
            let hb = Hyperband::new(run.space.clone(), p, 9, s.strategy_rng()).unwrap();
            (run, hb)
        },
        40,
    );
    same_after_a_checkpoint(
        || {
            let s = seeds("asha");
            let run = Run::toy(s);
            let p = AshaParams::default().check().unwrap();
            let asha = Asha::new(run.space.clone(), p, 9, s.strategy_rng()).unwrap();
            (run, asha)
        },
        60,
    );
}

#[test]
fn failed_trials_are_never_promoted() {
    let s = seeds("asha");
    let mut run = Run::toy(s);
    // Architectures whose id is divisible by 3 diverge (a third of them).
    run.evaluator.diverge_every = Some(3);
    let p = AshaParams::default().check().unwrap();
    let mut asha = Asha::new(run.space.clone(), p, 9, s.strategy_rng()).unwrap();
    run.steps(&mut asha, 120);
    let t = run.history().trials();
    assert!(
        t.iter().any(|x| x.fitness().is_none()),
        "some trials diverge"
    );
    for x in t {
        if let Some(j) = x.fidelity.as_ref().unwrap().continues {
            assert!(t[j as usize].fitness().is_some());
        }
    }
    let mut run = Run::toy(s);
    run.evaluator.diverge_every = Some(3);
    let p = HyperbandParams::default().check().unwrap();
    let mut hb = Hyperband::new(run.space.clone(), p, 9, s.strategy_rng()).unwrap();
    run.steps(&mut hb, 60);
    check_continuations(run.history().trials());
}

#[test]
fn ask_is_refused_and_a_trial_it_did_not_propose_is_an_error() {
    let s = seeds("asha");
    let mut run = Run::toy(s);
    let p = AshaParams::default().check().unwrap();
    let mut asha = Asha::new(run.space.clone(), p, 9, s.strategy_rng()).unwrap();
    assert!(
        asha.ask(run.history())
            .unwrap_err()
            .to_string()
            .contains("propose")
    );
    run.steps(&mut asha, 1);
    let mut t = run.history().trials()[0].clone();
    t.fidelity.as_mut().unwrap().epochs = 2;
    let e = asha.tell(&t).unwrap_err().to_string();
    assert!(e.contains("2 epochs"), "{e}");
    t.fidelity = None;
    let e = asha.tell(&t).unwrap_err().to_string();
    assert!(e.contains("without a fidelity"), "{e}");
    let p = HyperbandParams::default().check().unwrap();
    let mut hb = Hyperband::new(run.space.clone(), p, 9, s.strategy_rng()).unwrap();
    let t = run.history().trials()[0].clone();
    let e = hb.tell(&t).unwrap_err().to_string();
    assert!(e.contains("did not propose"), "{e}");
}

fn bohb(run: &Run, s: RunSeeds, params: BohbParams) -> Bohb {
    Bohb::new(
        run.space.clone(),
        params.check().unwrap(),
        9,
        s.strategy_rng(),
    )
    .unwrap()
}

#[test]
fn bohb_runs_hyperband_s_brackets_and_never_repeats_a_first_rung() {
    let s = seeds("bohb");
    let mut run = Run::new(toy_cell_space(), s, SyntheticEvaluator::default());
    let mut b = bohb(&run, s, BohbParams::default());
    assert_eq!(
        (b.bracket_size(2), b.bracket_size(1), b.bracket_size(0)),
        (9, 5, 3)
    );
    // The cell space has 6 genes: N_min = 7.
    assert_eq!(b.min_points_in_model(), 7);
    run.steps(&mut b, 300);
    let t = run.history().trials();
    let one_cycle = hyperband_cycle();
    let got: Vec<u32> = t.iter().map(epochs).take(one_cycle.len()).collect();
    assert_eq!(got, one_cycle);
    check_continuations(t);
    // A bracket's new architectures are new at their fidelity.
    let mut seen = std::collections::HashSet::new();
    for x in t
        .iter()
        .filter(|x| x.fidelity.as_ref().unwrap().continues.is_none())
    {
        assert!(
            seen.insert((epochs(x), x.arch.id())),
            "trial {} repeats",
            x.index
        );
    }
    assert!(b.model_picks() > 0 && b.random_picks() > 0);
    assert_eq!(
        b.model_picks() + b.random_picks() + b.fallbacks(),
        seen.len() as u64
    );
}

/// Mean fitness of the 1-epoch trials after the first `skip` trials.
fn late_first_rung_mean(t: &[Trial], skip: usize) -> f64 {
    let f: Vec<f64> = t[skip..]
        .iter()
        .filter(|x| epochs(x) == 1)
        .filter_map(Trial::fitness)
        .collect();
    f.iter().sum::<f64>() / f.len() as f64
}

#[test]
fn bohb_s_model_proposes_better_architectures_than_hyperband_s_uniform_draws() {
    // The synthetic evaluator's accuracy rises towards the toy optimum, so a model that
    // learns proposes better first-rung architectures than uniform draws.
    let (mut bohb_mean, mut hb_mean) = (0.0, 0.0);
    for seed in 0..4 {
        let s = RunSeeds::new(seed, "bohb", 0);
        let mut run = Run::new(toy_cell_space(), s, SyntheticEvaluator::default());
        let mut b = bohb(&run, s, BohbParams::default());
        run.steps(&mut b, 250);
        bohb_mean += late_first_rung_mean(run.history().trials(), 100) / 4.0;
        let mut run = Run::new(toy_cell_space(), s, SyntheticEvaluator::default());
        let p = HyperbandParams::default().check().unwrap();
        let mut hb = Hyperband::new(run.space.clone(), p, 9, s.strategy_rng()).unwrap();
        run.steps(&mut hb, 250);
        hb_mean += late_first_rung_mean(run.history().trials(), 100) / 4.0;
    }
    assert!(
        bohb_mean > hb_mean + 0.05,
        "bohb {bohb_mean}, hyperband {hb_mean}"
    );
}

#[test]
fn bohb_on_a_chain_space_imputes_unused_genes_and_survives_a_checkpoint() {
    let s = seeds("bohb-chain");
    let run = Run::toy(s);
    let d = run.space.encoding().len();
    let b = bohb(&run, s, BohbParams::default());
    assert_eq!(b.min_points_in_model(), d + 1);
    let too_few = BohbParams {
        min_points_in_model: Some(d as u32),
        ..Default::default()
    };
    let e = Bohb::new(
        run.space.clone(),
        too_few.check().unwrap(),
        9,
        s.strategy_rng(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`min_points_in_model`") && e.contains(&format!("{}", d + 1)),
        "{e}"
    );
    same_after_a_checkpoint(
        || {
            let run = Run::toy(s);
            let b = bohb(&run, s, BohbParams::default());
            (run, b)
        },
        400,
    );
    let mut run = Run::toy(s);
    let mut b = bohb(&run, s, BohbParams::default());
    run.steps(&mut b, 400);
    assert!(
        b.model_picks() > 0,
        "{d} genes, {} random",
        b.random_picks()
    );
}
