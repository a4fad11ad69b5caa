//! Multi-fidelity trainings through the public API: a trial at `e` of a budget of `R`
//! epochs is the first `e` epochs of the budget's training, and a later trial of the same
//! architecture and seed at more epochs continues the kept training instead of starting
//! again, with the same bits as an uninterrupted training.

use std::sync::{Arc, OnceLock};

use nas_core::space::CellSkeleton;
use nas_core::{Architecture, Budget, EvalRequest, Evaluator, Metrics, Status};
use nas_eval::data::{Dataset, mini_mnist};
use nas_eval::{BackendKind, LrSchedule, OptimizerKind, TrainParams, TrainingEvaluator};

fn mini() -> Arc<Dataset> {
    static DATA: OnceLock<Arc<Dataset>> = OnceLock::new();
    DATA.get_or_init(|| Arc::new(mini_mnist().expect("the embedded mini MNIST")))
        .clone()
}

/// Every metric but the wall-clock time, with the learning curve, as bits.
fn bits(m: &Metrics) -> Vec<Option<u64>> {
    let mut b = vec![
        m.val_acc.map(f64::to_bits),
        m.val_loss.map(f64::to_bits),
        m.test_acc.map(f64::to_bits),
        m.test_loss.map(f64::to_bits),
        Some(m.params),
        Some(m.epochs.to_bits()),
    ];
    for p in &m.curve {
        b.push(Some(p.val_acc.to_bits()));
        b.push(Some(p.val_loss.to_bits()));
    }
    b
}

const BUDGET: Budget = Budget {
    epochs: 4,
    train_subset: Some(384),
};

/// The two recipes of the field on the two kinds of network: AdamW with dropout on a
/// chain, and NAS-Bench-201's SGD (Nesterov momentum, weight decay, cosine schedule) on a
/// cell with batch norms.
fn cases() -> Vec<(Architecture, TrainParams, Option<CellSkeleton>)> {
    vec![
        (
            "conv3x3-4-relu > maxpool2 > dropout0.25 > dense16-relu"
                .parse()
                .unwrap(),
            TrainParams {
                curve: true,
                lr_schedule: LrSchedule::Cosine,
                ..TrainParams::default()
            },
            None,
        ),
        (
            "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|"
                .parse()
                .unwrap(),
            TrainParams {
                curve: true,
                optimizer: OptimizerKind::Sgd,
                learning_rate: Some(0.05),
                weight_decay: Some(5e-4),
                nesterov: true,
                lr_schedule: LrSchedule::Cosine,
                ..TrainParams::default()
            },
            Some(CellSkeleton {
                stem_channels: 4,
                cells_per_stage: 1,
                stages: 2,
            }),
        ),
    ]
}

fn evaluator(params: &TrainParams, skeleton: &Option<CellSkeleton>) -> TrainingEvaluator {
    let mut p = params.check().unwrap();
    if let Some(s) = skeleton {
        p.cell_skeleton = s.clone();
    }
    let data = mini();
    let split = data.validation_split(1000, 7).unwrap();
    TrainingEvaluator::new(data, split, p).unwrap()
}

fn at(e: &TrainingEvaluator, a: &Architecture, epochs: u32, test: bool) -> Metrics {
    let ev = e
        .evaluate(
            &EvalRequest::new(a, &BUDGET, 21)
                .with_test(test)
                .with_fidelity(Some(epochs)),
        )
        .unwrap();
    assert_eq!(ev.status, Status::Ok, "{a}: {:?}", ev.reason);
    ev.metrics
}

#[test]
fn a_continued_training_gives_the_bits_of_an_uninterrupted_one() {
    for (a, params, skeleton) in cases() {
        let whole = evaluator(&params, &skeleton);
        assert!(whole.continues());
        let four = at(&whole, &a, 4, true);
        assert_eq!(whole.continued_trainings(), 0);
        // 1 epoch, continued to 2, then to 4 (Hyperband's rungs, η = 2).
        let rungs = evaluator(&params, &skeleton);
        let one = at(&rungs, &a, 1, false);
        let two = at(&rungs, &a, 2, false);
        let four_continued = at(&rungs, &a, 4, true);
        assert_eq!(rungs.continued_trainings(), 2, "{a}");
        assert_eq!(bits(&four), bits(&four_continued), "{a}");
        // A fidelity is the start of the budget's training: its scores are the points of
        // the 4-epoch curve.
        assert_eq!(
            (one.val_acc, one.val_loss),
            (Some(four.curve[0].val_acc), Some(four.curve[0].val_loss)),
            "{a}"
        );
        assert_eq!(bits(&two)[6..], bits(&four)[6..10], "{a}");
        assert_eq!(
            (one.epochs, two.epochs, four_continued.epochs),
            (1.0, 2.0, 4.0)
        );
        // Training seconds add up along the continuations; the curve's are cumulative.
        assert!(four_continued.train_seconds >= two.train_seconds);
        assert_eq!(four_continued.curve[1].train_seconds, two.train_seconds);
        // Without the kept state (another evaluator: another worker, or a resumed run)
        // the epochs before are trained again, to the same bits.
        let fresh = evaluator(&params, &skeleton);
        assert_eq!(bits(&at(&fresh, &a, 4, true)), bits(&four), "{a}");
        // A longer budget is another training (its schedule spans more epochs).
        let longer = Budget {
            epochs: 8,
            ..BUDGET
        };
        let ev = rungs
            .evaluate(&EvalRequest::new(&a, &longer, 21).with_fidelity(Some(4)))
            .unwrap();
        assert_eq!(
            rungs.continued_trainings(),
            2,
            "{a}: continued another budget's training"
        );
        assert_ne!(ev.metrics.val_loss, four.val_loss, "{a}");
    }
}

#[test]
fn fidelities_beyond_the_budget_are_refused_and_the_reference_backend_keeps_nothing() {
    let (a, params, skeleton) = cases().swap_remove(0);
    let e = evaluator(&params, &skeleton);
    for epochs in [0, 5] {
        let err = e
            .evaluate(&EvalRequest::new(&a, &BUDGET, 21).with_fidelity(Some(epochs)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("budget.epochs = 4"), "{err}");
    }
    let candle = evaluator(
        &TrainParams {
            backend: BackendKind::Candle,
            ..params
        },
        &None,
    );
    assert!(!candle.continues());
    let one = at(&candle, &a, 1, false);
    let two = at(&candle, &a, 2, false);
    assert_eq!(candle.continued_trainings(), 0);
    assert_eq!(Some(two.curve[0].val_loss), one.val_loss);
}
