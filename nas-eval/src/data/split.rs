//! The validation split: a stratified, seeded hold-out of the training set.
//!
//! The fitness of a trial is its accuracy on the validation part; the test set is kept for
//! the final evaluation of chosen architectures.
//!
//! # The rule
//!
//! With `n` training images, a validation size `v` (`0 < v < n`) and `c_k` images of class
//! `k`:
//!
//! 1. **Quotas** (largest remainders): class `k` gets `floor(v * c_k / n)` validation
//!    images; the `v - sum` images left over go, one each, to the classes with the largest
//!    remainders `(v * c_k) mod n`, ties to the smaller label. Every quota is at most `c_k`.
//! 2. **Choice**: one [`NasRng`] from [`rng_from_seed`]`(seed)` visits the classes in
//!    increasing label order; for each it runs a partial Fisher-Yates shuffle over the
//!    class's indices (ascending) for `quota` steps, drawing each position with
//!    [`below`]; the first `quota` indices after the shuffle are its validation images.
//! 3. **Result**: validation and training indices, each sorted ascending; together they are
//!    exactly `0..n`.
//!
//! The draws use only `next_u64` of ChaCha8 and the arithmetic here, so the split does not
//! change with the version of `rand`'s convenience methods.

use nas_core::{NasRng, rng_from_seed};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::DataError;

/// A split of the training set into the part networks are trained on and the held-out
/// validation part that scores them. Both are indices into `Dataset::train`, sorted
/// ascending, disjoint, and together cover the training set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Indices of the images to train on.
    pub train: Vec<u32>,
    /// Indices of the held-out validation images.
    pub val: Vec<u32>,
}

/// A uniform integer in `0..n` (`n > 0`) from `rng`, without bias: Lemire's multiply and
/// reject method over `next_u64`.
pub fn below(rng: &mut NasRng, n: u64) -> u64 {
    debug_assert!(n > 0);
    let n = n.max(1);
    // 2^64 mod n: products whose low word falls below it are rejected.
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(n);
        if (product as u64) >= threshold {
            return (product >> 64) as u64;
        }
    }
}

/// How many validation images each label value gets (see the module docs); indexed by
/// label, 256 entries.
fn quotas(counts: &[u64; 256], n: u64, v: u64) -> [u64; 256] {
    let mut quota = [0u64; 256];
    let mut remainders = Vec::new();
    let mut assigned = 0;
    for (label, &c) in counts.iter().enumerate() {
        let share = u128::from(v) * u128::from(c);
        quota[label] = (share / u128::from(n)) as u64;
        assigned += quota[label];
        if c > 0 {
            remainders.push((share % u128::from(n), label));
        }
    }
    // Largest remainder first, ties to the smaller label.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, label) in remainders.iter().take((v - assigned) as usize) {
        quota[label] += 1;
    }
    quota
}

/// Splits images with these `labels` into a stratified validation part of `val_size`
/// images and the rest, following the rule of the module docs.
///
/// Errors when `val_size` is 0 or not below the number of labels (`validation_size`), or
/// when there are more than `u32::MAX` labels.
pub fn stratified_split(labels: &[u8], val_size: usize, seed: u64) -> Result<Split, DataError> {
    let n = labels.len();
    if n > u32::MAX as usize {
        return Err(DataError::InvalidParam {
            field: "training set size",
            value: n.to_string(),
            allowed: format!("at most {} images", u32::MAX),
        });
    }
    if val_size == 0 || val_size >= n {
        let allowed = if n >= 2 {
            format!("1..={} (the training set holds {n} images)", n - 1)
        } else {
            format!("nothing: the training set holds {n} images, a split needs at least 2")
        };
        return Err(DataError::InvalidParam {
            field: "validation_size",
            value: val_size.to_string(),
            allowed,
        });
    }

    let mut by_label: Vec<Vec<u32>> = vec![Vec::new(); 256];
    let mut counts = [0u64; 256];
    for (i, &label) in labels.iter().enumerate() {
        by_label[usize::from(label)].push(i as u32);
        counts[usize::from(label)] += 1;
    }
    let quota = quotas(&counts, n as u64, val_size as u64);

    let mut rng = rng_from_seed(seed);
    let mut in_val = vec![false; n];
    for (members, &q) in by_label.iter_mut().zip(&quota) {
        let q = q as usize;
        for i in 0..q {
            let j = i + below(&mut rng, (members.len() - i) as u64) as usize;
            members.swap(i, j);
        }
        for &index in &members[..q] {
            in_val[index as usize] = true;
        }
    }

    let mut split = Split {
        train: Vec::with_capacity(n - val_size),
        val: Vec::with_capacity(val_size),
    };
    for (i, &v) in in_val.iter().enumerate() {
        if v {
            split.val.push(i as u32);
        } else {
            split.train.push(i as u32);
        }
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts_of(pairs: &[(usize, u64)]) -> [u64; 256] {
        let mut c = [0; 256];
        for &(label, n) in pairs {
            c[label] = n;
        }
        c
    }

    #[test]
    fn quotas_follow_largest_remainders_with_ties_to_the_smaller_label() {
        // 10 images: 5, 3, 2 of labels 0, 1, 2; v = 5 gives 2.5, 1.5, 1.0.
        // Floors 2, 1, 1 (sum 4); remainders 5, 5, 0 (x/10): one extra to label 0.
        let q = quotas(&counts_of(&[(0, 5), (1, 3), (2, 2)]), 10, 5);
        assert_eq!(&q[..3], &[3, 1, 1]);
        // v = n - 1 with a singleton class: quota reaches the class size, never exceeds it.
        let q = quotas(&counts_of(&[(0, 1), (1, 9)]), 10, 9);
        assert_eq!(&q[..2], &[1, 8]);
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut rng = rng_from_seed(1);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let x = below(&mut rng, 7);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(below(&mut rng, 1), 0);
    }

    #[test]
    fn known_split_is_stable() {
        // Pins the exact draw sequence: a change here changes every published split.
        let labels = [0u8, 1, 0, 1, 0, 1, 0, 1, 2, 2];
        let s = stratified_split(&labels, 5, 42).unwrap();
        assert_eq!(s.val.len(), 5);
        assert_eq!(s, stratified_split(&labels, 5, 42).unwrap());
        let val_labels: Vec<u8> = s.val.iter().map(|&i| labels[i as usize]).collect();
        let per = |k| val_labels.iter().filter(|&&l| l == k).count();
        assert_eq!((per(0), per(1), per(2)), (2, 2, 1));
        assert_eq!(s.val, [3, 4, 5, 6, 8]);
    }

    #[test]
    fn bad_sizes_name_the_field_and_the_range() {
        let labels = [0u8; 10];
        for v in [0, 10, 11] {
            let err = stratified_split(&labels, v, 0).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "validation_size = {v} is out of range: allowed 1..=9 (the training set holds 10 images)"
                )
            );
        }
        assert!(stratified_split(&[0], 1, 0).is_err());
    }
}
