//! Matrix products of the engine: strided views and [`matmul`], the safe front of the
//! fixed-order product kernel ([`kernels::Gemm`](super::kernels::Gemm)).

use std::cell::RefCell;

use super::kernels::{Gemm, GemmScratch};
use super::simd::{SimdPath, dispatch};

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
}

/// `dst = lhs x rhs` (or `dst += lhs x rhs` when `accumulate`), where `dst` is a
/// row-major `lhs.rows x rhs.cols` matrix in the first elements of the slice. Each
/// element is one chain of fused multiply-adds over the inner dimension in increasing
/// order (see [`kernels`](super::kernels)): the same bits on every path.
///
/// Runs on the calling thread only: the engine parallelises across micro-batches so
/// that results do not depend on the thread count.
///
/// # Panics
/// When the shapes disagree or a view does not fit its slice (an engine bug, never a
/// user error).
pub(crate) fn matmul(
    path: SimdPath,
    dst: &mut [f32],
    lhs: Mat<'_>,
    rhs: Mat<'_>,
    accumulate: bool,
) {
    thread_local! {
        /// Room for packed blocks, reused by every product on the thread.
        static PANEL: RefCell<GemmScratch> = RefCell::new(GemmScratch::default());
    }
    assert_eq!(lhs.cols, rhs.rows, "matmul: inner dimensions differ");
    let mut panel = PANEL.take();
    dispatch(
        path,
        Gemm::new(
            (lhs.rows, rhs.cols, lhs.cols),
            (lhs.data, lhs.row_stride, lhs.col_stride),
            (rhs.data, rhs.row_stride, rhs.col_stride),
            dst,
            accumulate,
            &mut panel,
        ),
    );
    PANEL.set(panel);
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
    fn products_and_transposes_match_a_naive_product_on_every_path() {
        let (m, k, n) = (7, 13, 5);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 17 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let want = naive(&a, &b, m, k, n);
        for path in SimdPath::supported() {
            let mut c = vec![0.0; m * n];
            matmul(
                path,
                &mut c,
                Mat::rows(&a, m, k),
                Mat::rows(&b, k, n),
                false,
            );
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-5, "{path}");
            }
            // (b^T a^T)^T = a b: compute c^T = b^T a^T with transposed views.
            let mut ct = vec![0.0; n * m];
            matmul(
                path,
                &mut ct,
                Mat::rows(&b, k, n).t(),
                Mat::rows(&a, m, k).t(),
                false,
            );
            for i in 0..m {
                for j in 0..n {
                    assert!((ct[j * m + i] - want[i * n + j]).abs() < 1e-5, "{path}");
                }
            }
            // Accumulation adds to what is there.
            matmul(path, &mut c, Mat::rows(&a, m, k), Mat::rows(&b, k, n), true);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - 2.0 * y).abs() < 1e-4, "{path}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "outside its slice")]
    fn views_outside_their_slice_are_refused() {
        let a = vec![0.0f32; 5];
        let mut c = vec![0.0f32; 4];
        matmul(
            SimdPath::Scalar,
            &mut c,
            Mat::rows(&a, 2, 3),
            Mat::rows(&a, 3, 2),
            false,
        );
    }
}
