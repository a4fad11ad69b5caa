//! Which serves a 2-core machine better: one trial at a time on 2 threads, or 2 trials
//! at a time on 1 thread each? Trains the same architectures, sampled from the default
//! search space with a fixed seed, both ways and prints trials per hour.
//!
//! ```text
//! cargo run --release -p nas-bench --example trial_modes -- [TRIALS] [TRAIN_SUBSET] [CORES]
//! ```
//! (defaults: 12 trials, 1,000 training images, 1 epoch, on the embedded mini MNIST;
//! CORES = 2 compares 1 x 2 threads with 2 x 1 thread).
//!
//! The metrics of every trial are bit-identical in both modes (the engine does not
//! depend on the thread count), which the example checks.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use nas_core::{
    Architecture, Budget, EvalRequest, Evaluator, InputShape, Metrics, SearchSpaceParams,
    rng_from_seed,
};
use nas_eval::data::mini_mnist;
use nas_eval::{TrainParams, TrainingEvaluator};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| {
        args.get(i)
            .map(|s| s.parse().expect("a whole number"))
            .unwrap_or(default)
    };
    let (trials, subset, cores) = (arg(0, 12), arg(1, 1000), arg(2, 2));
    let data = Arc::new(mini_mnist().expect("the embedded mini MNIST"));
    let space = SearchSpaceParams::default()
        .check(InputShape::new(1, 28, 28))
        .expect("the default space");
    let mut rng = rng_from_seed(2024);
    let archs: Vec<Architecture> = (0..trials).map(|_| space.sample(&mut rng)).collect();
    let macs: Vec<u64> = archs
        .iter()
        .map(|a| space.cost(a, 10).expect("a valid architecture").macs)
        .collect();
    println!(
        "forward MACs per image: mean {:.1} M, max {:.1} M",
        macs.iter().sum::<u64>() as f64 / trials as f64 / 1e6,
        *macs.iter().max().unwrap_or(&0) as f64 / 1e6
    );
    let budget = Budget {
        epochs: 1,
        train_subset: Some(subset as u32),
    };
    let split = data.validation_split(1000, 7).expect("a split");
    let evaluator = |threads: usize| {
        let params = TrainParams {
            threads: threads as u32,
            ..TrainParams::default()
        }
        .check()
        .expect("valid parameters");
        TrainingEvaluator::new(data.clone(), split.clone(), params).expect("an evaluator")
    };
    let run = |e: &TrainingEvaluator, i: usize| -> Metrics {
        e.evaluate(&EvalRequest {
            arch: &archs[i],
            budget: &budget,
            seed: 100 + i as u64,
            test: false,
            fidelity: None,
        })
        .expect("a trial")
        .metrics
    };

    // One trial at a time, all cores on it.
    let wide = evaluator(cores);
    let start = Instant::now();
    let sequential: Vec<Metrics> = (0..trials).map(|i| run(&wide, i)).collect();
    let wide_secs = start.elapsed().as_secs_f64();

    // `cores` trials at a time, one thread each, pulling from a shared queue.
    let narrow = evaluator(1);
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![None; trials]);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= trials {
                        break;
                    }
                    let m = run(&narrow, i);
                    results.lock().expect("no poisoned lock")[i] = Some(m);
                }
            });
        }
    });
    let narrow_secs = start.elapsed().as_secs_f64();
    let parallel: Vec<Metrics> = results
        .into_inner()
        .expect("no poisoned lock")
        .into_iter()
        .map(|m| m.expect("every trial ran"))
        .collect();

    let same = sequential.iter().zip(&parallel).all(|(a, b)| {
        a.val_acc.map(f64::to_bits) == b.val_acc.map(f64::to_bits)
            && a.val_loss.map(f64::to_bits) == b.val_loss.map(f64::to_bits)
    });
    let per_hour = |secs: f64| trials as f64 * 3600.0 / secs;
    println!(
        "{trials} trials (default space, 1 epoch on {subset} mini-MNIST images, validation 1000)"
    );
    println!(
        "1 trial x {cores} threads: {wide_secs:8.2} s  {:8.0} trials/hour",
        per_hour(wide_secs)
    );
    println!(
        "{cores} trials x 1 thread:  {narrow_secs:8.2} s  {:8.0} trials/hour",
        per_hour(narrow_secs)
    );
    println!(
        "ratio (parallel trials / parallel threads): {:.2}",
        wide_secs / narrow_secs
    );
    println!("identical metrics in both modes: {same}");
    println!(
        "{}",
        serde_json::json!({
            "trials": trials,
            "train_subset": subset,
            "cores": cores,
            "one_trial_all_threads_per_hour": per_hour(wide_secs),
            "parallel_trials_one_thread_per_hour": per_hour(narrow_secs),
            "identical_metrics": same,
        })
    );
    assert!(same, "the thread count changed a result");
}
