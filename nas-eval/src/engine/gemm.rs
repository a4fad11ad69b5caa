//! The one safe door to the `gemm` crate's matrix product.
//!
//! `gemm::gemm` takes raw pointers and strides. Every call in the engine goes through
//! [`matmul`], which checks that each matrix view lies inside its slice before calling
//! it, so the rest of the engine is safe code.

#![allow(unsafe_code)]

use gemm::Parallelism;

/// A read-only strided view of an `rows x cols` matrix inside a slice:
/// element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `rows x cols` matrix (rows contiguous).
    pub(crate) fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of this view (no copy).
    pub(crate) fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn fits(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1)
            .checked_mul(self.row_stride)
            .and_then(|a| (self.cols - 1).checked_mul(self.col_stride).map(|b| (a, b)))
            .and_then(|(a, b)| a.checked_add(b));
        matches!(last, Some(i) if i < self.data.len())
    }
}

/// `dst = lhs x rhs` (or `dst += lhs x rhs` when `accumulate`), where `dst` is a
/// row-major `lhs.rows x rhs.cols` matrix in the first elements of the slice.
///
/// Runs on the calling thread only: the engine parallelises across micro-batches so
/// that results do not depend on the thread count.
///
/// # Panics
/// When the shapes disagree or a view does not fit its slice (an engine bug, never a
/// user error).
pub(crate) fn matmul(dst: &mut [f32], lhs: Mat<'_>, rhs: Mat<'_>, accumulate: bool) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(k, rhs.rows, "matmul: inner dimensions differ");
    assert!(
        lhs.fits() && rhs.fits(),
        "matmul: operand outside its slice"
    );
    assert!(dst.len() >= m * n, "matmul: destination too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    let as_isize = |x: usize| isize::try_from(x).expect("stride fits in isize");
    // SAFETY: every element the product reads, `lhs` at (i, l) and `rhs` at (l, j) for
    // i < m, l < k, j < n, lies inside its slice (checked by `fits`), and every element
    // it writes, `dst[i * n + j]`, lies inside `dst` (checked above). The slices cannot
    // alias: `dst` is borrowed mutably. `Parallelism::None` keeps it on this thread.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            as_isize(n),
            accumulate,
            lhs.data.as_ptr(),
            as_isize(lhs.col_stride),
            as_isize(lhs.row_stride),
            rhs.data.as_ptr(),
            as_isize(rhs.col_stride),
            as_isize(rhs.row_stride),
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for l in 0..k {
                    s += f64::from(a[i * k + l]) * f64::from(b[l * n + j]);
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn products_and_transposes_match_a_naive_product() {
        let (m, k, n) = (7, 13, 5);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 17 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let want = naive(&a, &b, m, k, n);
        let mut c = vec![0.0; m * n];
        matmul(&mut c, Mat::rows(&a, m, k), Mat::rows(&b, k, n), false);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5);
        }
        // (b^T a^T)^T = a b: compute c^T = b^T a^T with transposed views.
        let mut ct = vec![0.0; n * m];
        matmul(
            &mut ct,
            Mat::rows(&b, k, n).t(),
            Mat::rows(&a, m, k).t(),
            false,
        );
        for i in 0..m {
            for j in 0..n {
                assert!((ct[j * m + i] - want[i * n + j]).abs() < 1e-5);
            }
        }
        // Accumulation adds to what is there.
        matmul(&mut c, Mat::rows(&a, m, k), Mat::rows(&b, k, n), true);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-4);
        }
    }

    #[test]
    #[should_panic(expected = "outside its slice")]
    fn views_outside_their_slice_are_refused() {
        let a = vec![0.0f32; 5];
        let mut c = vec![0.0f32; 4];
        matmul(&mut c, Mat::rows(&a, 2, 3), Mat::rows(&a, 3, 2), false);
    }
}
