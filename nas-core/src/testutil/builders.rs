//! Small builders every strategy crate's unit tests use: a told trial, and the check
//! that a params struct refuses a value on the right field.

use std::fmt::Debug;

use crate::{Architecture, Error, Metrics, Result, Status, Trial};

/// A trial of `strategy` at `index` (repetition 0, seed 0, not cached) with validation
/// accuracy `fitness`, or a failed trial without metrics when `fitness` is None.
pub fn told(strategy: &str, arch: &Architecture, index: u32, fitness: Option<f64>) -> Trial {
    Trial {
        strategy: strategy.into(),
        repetition: 0,
        index,
        seed: 0,
        arch: arch.clone(),
        status: if fitness.is_some() {
            Status::Ok
        } else {
            Status::Failed
        },
        reason: None,
        metrics: fitness.map(|f| Metrics {
            val_acc: Some(f),
            ..Metrics::default()
        }),
        cached: false,
        fidelity: None,
        schedule: None,
    }
}

/// Asserts that `result` is an [`Error::InvalidParam`] on `field`.
///
/// # Panics
/// When `result` is anything else.
pub fn assert_rejects<T: Debug>(result: Result<T>, field: &str) {
    match result {
        Err(Error::InvalidParam { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected an error on {field}, got {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_told_trial_without_fitness_is_failed() {
        let arch: Architecture = "dense8-relu".parse().unwrap();
        let ok = told("s", &arch, 3, Some(0.5));
        assert_eq!((ok.status, ok.index), (Status::Ok, 3));
        assert_eq!(ok.metrics.unwrap().val_acc, Some(0.5));
        let failed = told("s", &arch, 4, None);
        assert_eq!(failed.status, Status::Failed);
        assert!(failed.metrics.is_none());
    }

    #[test]
    #[should_panic(expected = "expected an error on b")]
    fn assert_rejects_fails_on_success() {
        assert_rejects(Ok::<_, Error>(()), "b");
    }
}
