//! The engine's sums of products: matrix product, convolution, and the convolution's
//! weight gradient, each with one summation order on every CPU.
//!
//! # The numeric contract
//!
//! Every value these kernels produce is a **chain**: an accumulator that starts at
//! `+0.0` (or at the destination's current value, when accumulating) and takes each
//! term in a fixed order with one fused multiply-add, `acc = fma(a, b, acc)`, rounded
//! once (IEEE 754 fusedMultiplyAdd, round to nearest even). Nothing else: no partial
//! sums added together, no reordering, no blocking that restarts a sum.
//!
//! - [`Gemm`], `C = A B`: `C[i][j]` chains `A[i][l] * B[l][j]` for `l = 0, 1, ..., k-1`.
//! - [`Conv`], a stride-1 correlation of a zero-padded image: output `(y, x, co)` chains
//!   `X[y + ky][x + kx][ci] * W[(ky, kx, ci)][co]` for `ky`, then `kx`, then `ci` in
//!   increasing order (the order of an im2col row), padding zeros included.
//! - [`WeightGrad`], `dW[(ky, kx, ci)][co]`: chains `X[y + ky][x + kx][ci] * dZ[y][x][co]`
//!   over the output positions `(y, x)` in row-major order; a micro-batch of images
//!   continues one chain from image to image.
//!
//! What the contract leaves free, and the kernels use: which outputs are computed
//! together (the register tile, the vector width, the loop order over tiles), and when
//! an accumulator visits memory (storing an f32 and loading it back is exact). So the
//! blocking constants below are tuning, not numerics: a kernel family may pick its own.
//!
//! # Kernel families
//!
//! - scalar ([`Kernel::run_scalar`]): the contract written as plain loops with the
//!   software [`fma`](super::simd::fma); the reference the others are tested against.
//! - AVX2 and AVX-512 ([`Kernel::run`]): register tiles of `MR` rows by one or two
//!   vectors of columns (AVX2: 6 x 16 or 12 x 8; AVX-512: 12 x 32 or 14 x 16), one
//!   accumulator per output, `vfmadd231ps` with the row value broadcast. Tiles split
//!   rows evenly (a row of 14 positions is two tiles of 7, not 12 + 2). The matrix
//!   product runs blocks of [`KC`] terms (each tile storing its sums between blocks),
//!   reads A in place through its strides unless its rows alias in cache, and packs a
//!   panel of B only when its rows are not contiguous or are narrower than the tile.
//!   Convolutions read the padded image in place (no im2col): a tile is consecutive
//!   positions of one output row, and the taps of one kernel row are consecutive floats.
//!
//! Why our own kernels rather than a library: `gemm` (used by candle) chooses its
//! blocking from the detected cache sizes and restarts the sum at every K block, and
//! `matrixmultiply` and BLAS libraries do the same with their own constants, so the
//! order of additions depends on the machine. A library whose blocking could be pinned
//! would still add each block's partial sum to the output (a different chain), and the
//! engine's shapes are small (per micro-batch, at most a few hundred rows and columns and
//! a few thousand terms), where a register-tiled pass with little packing is also the
//! fastest: the AVX-512 kernels run at 100-115 GFLOP/s on a Zen 4 core (peak 115).

#![allow(unsafe_code)]

use super::simd::{Kernel, Simd, fma};

/// Rows of the padded buffers the vector kernels read whole vectors from are padded
/// to a multiple of this many floats (the widest vector).
pub(crate) const PAD_LANES: usize = 16;

/// `x` rounded up to a multiple of [`PAD_LANES`].
pub(crate) fn pad_lanes(x: usize) -> usize {
    x.div_ceil(PAD_LANES) * PAD_LANES
}

/// One run of consecutive terms of a chain: term `l < len` multiplies the row value at
/// `a + row_offset + l * a_step` by the columns at `b + l * b_step`.
#[derive(Clone, Copy)]
struct Seg {
    a: *const f32,
    a_step: usize,
    b: *const f32,
    b_step: usize,
    len: usize,
}

/// Where the rows of a tile read their value, relative to a segment's `a`.
trait Rows: Copy {
    /// Offset of row `r`.
    fn off(self, r: usize) -> usize;
}

/// Row `r` at `r`: consecutive floats.
#[derive(Clone, Copy)]
struct Unit;

impl Rows for Unit {
    #[inline(always)]
    fn off(self, r: usize) -> usize {
        r
    }
}

/// Row `r` at `r * stride`.
#[derive(Clone, Copy)]
struct Stride(usize);

impl Rows for Stride {
    #[inline(always)]
    fn off(self, r: usize) -> usize {
        r * self.0
    }
}

/// Row `r` at `table[r]`.
#[derive(Clone, Copy)]
struct Table([usize; MAX_MR]);

impl Rows for Table {
    #[inline(always)]
    fn off(self, r: usize) -> usize {
        self.0[r]
    }
}

/// The most rows of any tile.
const MAX_MR: usize = 14;

/// A block of B up to this many floats (256 KiB) is kept whole in cache (see [`Gemm`]).
const SMALL_B_FLOATS: usize = 1 << 16;

/// Rows of A this many floats apart (4 KiB) share their cache sets (see [`Gemm`]).
const ALIASING_FLOATS: usize = 1024;

/// Terms per block of a matrix product (see [`Gemm`]'s kernels): 256 rows of a
/// 32-column panel of B are 32 KiB. Not numerics: a chain continues across blocks.
const KC: usize = 256;

/// Lanes of vector `v` of a tile that hold one of its `width` columns.
#[inline(always)]
fn lanes_of(width: usize, v: usize, lanes: usize) -> usize {
    width.saturating_sub(v * lanes).min(lanes)
}

/// What a tile does to its sums before storing them: nothing, or `z = sum + bias`
/// (`bias` non-null, one value per column) then ReLU's `if z < 0 { 0 } else { z }`
/// when `relu` (the bias and activation of a layer, fused into its product).
#[derive(Clone, Copy)]
struct Epilogue {
    bias: *const f32,
    relu: bool,
}

impl Epilogue {
    const NONE: Epilogue = Epilogue {
        bias: std::ptr::null(),
        relu: false,
    };

    /// The epilogue of the columns from `col` on.
    fn at(self, col: usize) -> Epilogue {
        if self.bias.is_null() {
            return self;
        }
        Epilogue {
            bias: self.bias.wrapping_add(col),
            ..self
        }
    }
}

/// One register tile: `MR` rows by `NV` vectors of columns, each output a chain over
/// the terms of `segs` in order. The result goes to `c` (row stride `ldc`), only its
/// first `width` columns, through `epi`; with `load_c` the chains start from what `c`
/// holds.
///
/// # Safety
/// For every segment, row `r < MR` and term `l < len`: `a + rows.off(r) + l * a_step`
/// is readable, and `b + l * b_step .. + NV * LANES` is readable. `c + r * ldc ..
/// + width` is readable (with `load_c`) and writable for `r < MR`; `epi.bias ..
/// + width` is readable when not null.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    rows: impl Rows,
    segs: impl Iterator<Item = Seg>,
    c: *mut f32,
    ldc: usize,
    width: usize,
    load_c: bool,
    epi: Epilogue,
) {
    let l = S::LANES;
    let mut acc = [[s.zero(); NV]; MR];
    if load_c {
        for (r, acc) in acc.iter_mut().enumerate() {
            for (v, acc) in acc.iter_mut().enumerate() {
                let n = lanes_of(width, v, l);
                // SAFETY: row r, lanes v * l .. v * l + n < width of `c` are readable.
                unsafe {
                    let p = c.add(r * ldc + v * l);
                    if n == l {
                        *acc = s.load(p);
                    } else if n > 0 {
                        *acc = s.load_part(p, n);
                    }
                }
            }
        }
    }
    for seg in segs {
        let (mut a, mut b) = (seg.a, seg.b);
        for _ in 0..seg.len {
            // SAFETY: term `l` of the segment: B's NV vectors and each row's value are
            // readable (the caller's contract).
            unsafe {
                let mut bv = [s.zero(); NV];
                for (v, bv) in bv.iter_mut().enumerate() {
                    *bv = s.load(b.add(v * l));
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = s.splat(*a.add(rows.off(r)));
                    for (acc, &bv) in acc.iter_mut().zip(&bv) {
                        *acc = s.fma(x, bv, *acc);
                    }
                }
                a = a.add(seg.a_step);
                b = b.add(seg.b_step);
            }
        }
    }
    if !epi.bias.is_null() {
        for v in 0..NV {
            let n = lanes_of(width, v, l);
            if n == 0 {
                continue;
            }
            // SAFETY: lanes v * l .. v * l + n < width of the bias are readable.
            let b = unsafe {
                let p = epi.bias.add(v * l);
                if n == l { s.load(p) } else { s.load_part(p, n) }
            };
            for acc in acc.iter_mut() {
                acc[v] = s.add(acc[v], b);
                if epi.relu {
                    acc[v] = s.relu(acc[v]);
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (v, &acc) in acc.iter().enumerate() {
            let n = lanes_of(width, v, l);
            // SAFETY: row r, lanes v * l .. v * l + n < width of `c` are writable.
            unsafe {
                let p = c.add(r * ldc + v * l);
                if n == l {
                    s.store(p, acc);
                } else if n > 0 {
                    s.store_part(p, acc, n);
                }
            }
        }
    }
}

/// Calls `tile::<S, mr, nv>` with `mr` and `nv` known at compile time.
macro_rules! with_tile {
    ($s:ident, $mr:expr, $nv:expr, ($($arg:expr),* $(,)?)) => {
        match ($nv, $mr) {
            (1, 1) => tile::<S, 1, 1>($s, $($arg),*),
            (1, 2) => tile::<S, 2, 1>($s, $($arg),*),
            (1, 3) => tile::<S, 3, 1>($s, $($arg),*),
            (1, 4) => tile::<S, 4, 1>($s, $($arg),*),
            (1, 5) => tile::<S, 5, 1>($s, $($arg),*),
            (1, 6) => tile::<S, 6, 1>($s, $($arg),*),
            (1, 7) => tile::<S, 7, 1>($s, $($arg),*),
            (1, 8) => tile::<S, 8, 1>($s, $($arg),*),
            (1, 9) => tile::<S, 9, 1>($s, $($arg),*),
            (1, 10) => tile::<S, 10, 1>($s, $($arg),*),
            (1, 11) => tile::<S, 11, 1>($s, $($arg),*),
            (1, 12) => tile::<S, 12, 1>($s, $($arg),*),
            (1, 13) => tile::<S, 13, 1>($s, $($arg),*),
            (1, 14) => tile::<S, 14, 1>($s, $($arg),*),
            (2, 1) => tile::<S, 1, 2>($s, $($arg),*),
            (2, 2) => tile::<S, 2, 2>($s, $($arg),*),
            (2, 3) => tile::<S, 3, 2>($s, $($arg),*),
            (2, 4) => tile::<S, 4, 2>($s, $($arg),*),
            (2, 5) => tile::<S, 5, 2>($s, $($arg),*),
            (2, 6) => tile::<S, 6, 2>($s, $($arg),*),
            (2, 7) => tile::<S, 7, 2>($s, $($arg),*),
            (2, 8) => tile::<S, 8, 2>($s, $($arg),*),
            (2, 9) => tile::<S, 9, 2>($s, $($arg),*),
            (2, 10) => tile::<S, 10, 2>($s, $($arg),*),
            (2, 11) => tile::<S, 11, 2>($s, $($arg),*),
            (2, 12) => tile::<S, 12, 2>($s, $($arg),*),
            (nv, mr) => unreachable!("no {mr} x {nv} tile"),
        }
    };
}

/// Vectors per tile for `width` columns left: two when more than one is needed.
#[inline(always)]
fn vectors<S: Simd>(width: usize) -> usize {
    if width > S::LANES { 2 } else { 1 }
}

/// The most rows of a tile `nv` vectors wide.
#[inline(always)]
fn max_rows<S: Simd>(nv: usize) -> usize {
    if nv == 2 { S::MR_WIDE } else { S::MR_NARROW }
}

/// `(first, count)` of `total` items cut into the fewest parts of at most `max`,
/// as even as possible (sizes differ by at most one).
fn even_parts(total: usize, max: usize) -> impl Iterator<Item = (usize, usize)> {
    let parts = total.div_ceil(max.max(1));
    let base = total.checked_div(parts).unwrap_or(0);
    let extra = total.checked_rem(parts).unwrap_or(0);
    (0..parts).map(move |i| (i * base + i.min(extra), base + usize::from(i < extra)))
}

/// Whether every index `base + sum of (n_i - 1) * stride_i` for the extents given is
/// below `len` (all extents nonzero), i.e. the last element of a strided view fits.
fn fits(len: usize, base: usize, extents: &[(usize, usize)]) -> bool {
    let mut last = Some(base);
    for &(n, stride) in extents {
        debug_assert!(n > 0);
        last = last.and_then(|x| (n - 1).checked_mul(stride).and_then(|d| x.checked_add(d)));
    }
    matches!(last, Some(i) if i < len)
}

/// `C = A B` (or `C += A B`, continuing each chain, when `accumulate`), `A` an
/// `m x k` strided view, `B` a `k x n` strided view, `C` row-major `m x n`.
pub(crate) struct Gemm<'a> {
    m: usize,
    n: usize,
    k: usize,
    a: &'a [f32],
    a_rs: usize,
    a_cs: usize,
    b: &'a [f32],
    b_rs: usize,
    b_cs: usize,
    c: &'a mut [f32],
    accumulate: bool,
    scratch: &'a mut GemmScratch,
}

/// Room for the packed blocks of a matrix product, reused from product to product.
#[derive(Debug, Default)]
pub(crate) struct GemmScratch {
    /// A block of A's rows, tile by tile, term-major.
    a: Vec<f32>,
    /// A panel of B's columns, zero-padded to whole vectors.
    b: Vec<f32>,
}

impl<'a> Gemm<'a> {
    /// The product of `A[i][l] = a[i * a_rs + l * a_cs]` and `B[l][j] = b[l * b_rs +
    /// j * b_cs]` into `c[i * n + j]`, packing blocks into `scratch` when that helps.
    ///
    /// # Panics
    /// When a view does not fit its slice.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        (m, n, k): (usize, usize, usize),
        (a, a_rs, a_cs): (&'a [f32], usize, usize),
        (b, b_rs, b_cs): (&'a [f32], usize, usize),
        c: &'a mut [f32],
        accumulate: bool,
        scratch: &'a mut GemmScratch,
    ) -> Self {
        assert!(
            m.checked_mul(n).is_some_and(|mn| mn <= c.len()),
            "matmul: destination too small"
        );
        if m > 0 && n > 0 && k > 0 {
            assert!(
                fits(a.len(), 0, &[(m, a_rs), (k, a_cs)])
                    && fits(b.len(), 0, &[(k, b_rs), (n, b_cs)]),
                "matmul: operand outside its slice"
            );
        }
        Gemm {
            m,
            n,
            k,
            a,
            a_rs,
            a_cs,
            b,
            b_rs,
            b_cs,
            c,
            accumulate,
            scratch,
        }
    }
}

impl Kernel for Gemm<'_> {
    type Output = ();

    fn run_scalar(self) {
        let Gemm {
            m,
            n,
            k,
            a,
            a_rs,
            a_cs,
            b,
            b_rs,
            b_cs,
            c,
            accumulate,
            ..
        } = self;
        if n == 0 {
            return;
        }
        for i in 0..m {
            let row = &mut c[i * n..(i + 1) * n];
            if !accumulate {
                row.fill(0.0);
            }
            for l in 0..k {
                let x = a[i * a_rs + l * a_cs];
                let brow = &b[l * b_rs..];
                for (j, acc) in row.iter_mut().enumerate() {
                    *acc = fma(x, brow[j * b_cs], *acc);
                }
            }
        }
    }

    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let Gemm {
            m,
            n,
            k,
            a,
            a_rs,
            a_cs,
            b,
            b_rs,
            b_cs,
            c,
            accumulate,
            scratch,
        } = self;
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            if !accumulate {
                c[..m * n].fill(0.0);
            }
            return;
        }
        let l = S::LANES;
        // Blocks of KC terms: a block of B's columns stays in cache while every row tile
        // uses it, and a block of A's rows while every column panel does. Each tile
        // stores its sums after a block and loads them back before the next (exact), so
        // the chains run on unchanged. Rows of A a multiple of 4 KiB apart (a dense
        // layer's inputs of 28 x 28 x 64 or 32 x 32 x c values) fall in the same cache
        // sets and evict each other: those are packed, tile by tile and term by term.
        let GemmScratch { a: apack, b: panel } = scratch;
        let pack_a = a_rs != 1 && a_rs.is_multiple_of(ALIASING_FLOATS);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            let continued = accumulate || k0 > 0;
            if pack_a {
                apack.clear();
                apack.resize(m * kc, 0.0);
                for (i0, mr) in even_parts(m, max_rows::<S>(2)) {
                    let dst = &mut apack[i0 * kc..(i0 + mr) * kc];
                    for (kk, dst) in dst.chunks_exact_mut(mr).enumerate() {
                        let at = i0 * a_rs + (k0 + kk) * a_cs;
                        for (r, d) in dst.iter_mut().enumerate() {
                            *d = a[at + r * a_rs];
                        }
                    }
                }
            }
            let in_place = |j0: usize, nv: usize| b_cs == 1 && j0 + nv * l <= n;
            // Appends B's rows k0 .. k0 + kc, columns j0 .. j0 + width, zero-padded to
            // nv vectors, to `panel`.
            let pack = |panel: &mut Vec<f32>, j0: usize, nv: usize, width: usize| {
                let start = panel.len();
                panel.resize(start + kc * nv * l, 0.0);
                for (ll, dst) in panel[start..].chunks_exact_mut(nv * l).enumerate() {
                    let row = (k0 + ll) * b_rs;
                    for (jj, d) in dst[..width].iter_mut().enumerate() {
                        *d = b[row + (j0 + jj) * b_cs];
                    }
                }
            };
            let a_at = |i0: usize, mr: usize| -> (*const f32, usize) {
                if pack_a {
                    (apack[i0 * kc..].as_ptr(), mr)
                } else {
                    (a[i0 * a_rs + k0 * a_cs..].as_ptr(), a_cs)
                }
            };
            let a_rows = if pack_a { 1 } else { a_rs };
            if kc * (n + 2 * l) <= SMALL_B_FLOATS {
                // The whole block of B fits in cache: row tiles outside, so that each
                // tile of A is read once.
                panel.clear();
                for (j0, nv, width) in panels::<S>(n) {
                    if !in_place(j0, nv) {
                        pack(panel, j0, nv, width);
                    }
                }
                for (i0, mr) in even_parts(m, max_rows::<S>(2)) {
                    let mut at = 0;
                    for (j0, nv, width) in panels::<S>(n) {
                        let (bp, b_step) = if in_place(j0, nv) {
                            (b[k0 * b_rs + j0..].as_ptr(), b_rs)
                        } else {
                            at += kc * nv * l;
                            (panel[at - kc * nv * l..].as_ptr(), nv * l)
                        };
                        let cp = c[i0 * n + j0..].as_mut_ptr();
                        // SAFETY: see `product_tile`: A's rows i0 .. i0 + mr <= m, terms
                        // k0 .. k0 + kc <= k in `a` (checked by `Gemm::new`) or packed in
                        // `apack` (m * kc floats); B's kc rows of nv vectors in `b`
                        // (in place: j0 + nv * l <= n) or in `panel` (at most its length,
                        // as packed above in the same order); C's rows i0 .. i0 + mr,
                        // columns j0 .. j0 + width <= n inside `c`.
                        unsafe {
                            product_tile(
                                s,
                                (a_at(i0, mr), a_rows),
                                (bp, b_step, kc),
                                (cp, n, width),
                                (mr, nv),
                                continued,
                            );
                        }
                    }
                }
            } else {
                // Column panels outside: each panel of B is read (or packed) once.
                for (j0, nv, width) in panels::<S>(n) {
                    let (bp, b_step) = if in_place(j0, nv) {
                        (b[k0 * b_rs + j0..].as_ptr(), b_rs)
                    } else {
                        panel.clear();
                        pack(panel, j0, nv, width);
                        (panel.as_ptr(), nv * l)
                    };
                    // Packed A is cut into tiles for two vectors; narrower panels use
                    // the same tiles.
                    for (i0, mr) in even_parts(m, max_rows::<S>(if pack_a { 2 } else { nv })) {
                        let cp = c[i0 * n + j0..].as_mut_ptr();
                        // SAFETY: as above, with `panel` holding this panel only.
                        unsafe {
                            product_tile(
                                s,
                                (a_at(i0, mr), a_rows),
                                (bp, b_step, kc),
                                (cp, n, width),
                                (mr, nv),
                                continued,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The column panels of a product with `n` columns: `(first column, vectors, columns)`,
/// two vectors wide while more than one vector of columns is left.
#[inline(always)]
fn panels<S: Simd>(n: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let mut j0 = 0;
    std::iter::from_fn(move || {
        (j0 < n).then(|| {
            let nv = vectors::<S>(n - j0);
            let width = (n - j0).min(nv * S::LANES);
            j0 += width;
            (j0 - width, nv, width)
        })
    })
}

/// One tile of a matrix product over one block of terms: `mr` rows of A from `ap`
/// (row `r` at `r * a_rows`, term `t` at `t * a_step`), `kc` rows of B's panel from
/// `bp` (`b_step` apart), into `width` columns of C at `cp` (`ldc` a row).
///
/// # Safety
/// Every element named above lies inside its buffer, `bp`'s rows have `nv` whole
/// vectors, and `mr <= MAX_MR`, `nv <= 2`.
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn product_tile<S: Simd>(
    s: S,
    ((ap, a_step), a_rows): ((*const f32, usize), usize),
    (bp, b_step, kc): (*const f32, usize, usize),
    (cp, ldc, width): (*mut f32, usize, usize),
    (mr, nv): (usize, usize),
    continued: bool,
) {
    let seg = std::iter::once(Seg {
        a: ap,
        a_step,
        b: bp,
        b_step,
        len: kc,
    });
    // SAFETY: the caller's contract is `tile`'s.
    unsafe {
        if a_rows == 1 {
            with_tile!(
                s,
                mr,
                nv,
                (Unit, seg, cp, ldc, width, continued, Epilogue::NONE)
            );
        } else {
            with_tile!(
                s,
                mr,
                nv,
                (
                    Stride(a_rows),
                    seg,
                    cp,
                    ldc,
                    width,
                    continued,
                    Epilogue::NONE
                )
            );
        }
    }
}

/// A stride-1 correlation of one zero-padded image (see the module docs for its chains):
/// `out[(y * wout + x) * ldo + co]` for `y < hout`, `x < wout`, `co < cout`; optionally
/// followed by `z = chain + bias[co]` and `relu(z) = if z < 0 { 0 } else { z }`.
///
/// The image is channels-last: value `(row, col, ci)` at `x[(row * wp + col) * cin +
/// ci]`, with `hout + k - 1` rows and `wp >= wout + k - 1` columns. The weight row
/// `(ky, kx, ci)` is `w[((ky * k + kx) * cin + ci) * ldw ..]`, `ldw` a multiple of
/// [`PAD_LANES`] (columns `cout..ldw` are read by the vector kernels but never reach
/// `out`).
pub(crate) struct Conv<'a> {
    x: &'a [f32],
    cin: usize,
    wp: usize,
    k: usize,
    hout: usize,
    wout: usize,
    w: &'a [f32],
    ldw: usize,
    cout: usize,
    out: &'a mut [f32],
    ldo: usize,
    bias: Option<&'a [f32]>,
    relu: bool,
}

impl<'a> Conv<'a> {
    /// The correlation of `x` (`cin` channels, `wp` padded columns) with the `k x k`
    /// weight `w` (`ldw` floats a row) into `out` (`ldo` floats a position).
    ///
    /// # Panics
    /// When a buffer is too small for the geometry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        (x, cin, wp): (&'a [f32], usize, usize),
        (k, hout, wout): (usize, usize, usize),
        (w, ldw, cout): (&'a [f32], usize, usize),
        (out, ldo): (&'a mut [f32], usize),
    ) -> Self {
        assert!(k > 0 && wp + 1 >= wout + k && ldo >= cout, "conv: geometry");
        assert!(
            ldw >= cout && ldw.is_multiple_of(PAD_LANES),
            "conv: weight rows"
        );
        assert!(
            x.len() >= (hout + k - 1) * wp * cin,
            "conv: input too small"
        );
        assert!(w.len() >= k * k * cin * ldw, "conv: weight too small");
        assert!(out.len() >= hout * wout * ldo, "conv: output too small");
        Conv {
            x,
            cin,
            wp,
            k,
            hout,
            wout,
            w,
            ldw,
            cout,
            out,
            ldo,
            bias: None,
            relu: false,
        }
    }

    /// Adds `bias` (one value per output channel) to every output, then applies ReLU
    /// when `relu`: the same operations as the separate pass of
    /// [`bias_act_forward`](super::activation::bias_act_forward).
    ///
    /// # Panics
    /// When `bias` has fewer than `cout` values.
    pub(crate) fn with_bias(mut self, bias: &'a [f32], relu: bool) -> Self {
        assert!(bias.len() >= self.cout, "conv: bias too short");
        self.bias = Some(bias);
        self.relu = relu;
        self
    }
}

impl Kernel for Conv<'_> {
    type Output = ();

    fn run_scalar(self) {
        let Conv {
            x,
            cin,
            wp,
            k,
            hout,
            wout,
            w,
            ldw,
            cout,
            out,
            ldo,
            bias,
            relu,
        } = self;
        for y in 0..hout {
            for xo in 0..wout {
                let o = &mut out[(y * wout + xo) * ldo..][..cout];
                o.fill(0.0);
                for ky in 0..k {
                    for kx in 0..k {
                        for ci in 0..cin {
                            let v = x[((y + ky) * wp + xo + kx) * cin + ci];
                            let wrow = &w[((ky * k + kx) * cin + ci) * ldw..][..cout];
                            for (acc, &wv) in o.iter_mut().zip(wrow) {
                                *acc = fma(v, wv, *acc);
                            }
                        }
                    }
                }
                if let Some(bias) = bias {
                    for (y, &b) in o.iter_mut().zip(bias) {
                        let z = *y + b;
                        *y = if relu && z < 0.0 { 0.0 } else { z };
                    }
                }
            }
        }
    }

    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let Conv {
            x,
            cin,
            wp,
            k,
            hout,
            wout,
            w,
            ldw,
            cout,
            out,
            ldo,
            bias,
            relu,
        } = self;
        if cin == 0 {
            // No terms: every chain is +0 (then the bias and activation).
            return Conv {
                x,
                cin,
                wp,
                k,
                hout,
                wout,
                w,
                ldw,
                cout,
                out,
                ldo,
                bias,
                relu,
            }
            .run_scalar();
        }
        let epi = Epilogue {
            bias: bias.map_or(std::ptr::null(), <[f32]>::as_ptr),
            relu,
        };
        let l = S::LANES;
        let (xp, wptr, op) = (x.as_ptr(), w.as_ptr(), out.as_mut_ptr());
        // For one `ky`, the taps (kx, ci) are k * cin consecutive floats of the image
        // and k * cin consecutive weight rows: one segment.
        let run = k * cin;
        for y in 0..hout {
            let mut co0 = 0;
            while co0 < cout {
                let nv = vectors::<S>(cout - co0);
                let width = (cout - co0).min(nv * l);
                for (x0, mr) in even_parts(wout, max_rows::<S>(nv)) {
                    let segs = (0..k).map(|ky| Seg {
                        a: xp.wrapping_add(((y + ky) * wp + x0) * cin),
                        a_step: 1,
                        b: wptr.wrapping_add(ky * run * ldw + co0),
                        b_step: ldw,
                        len: run,
                    });
                    // SAFETY: position x0 + r (r < mr <= wout - x0) reads image values
                    // ((y + ky) * wp + x0 + r) * cin + j, j < k * cin, at most
                    // ((hout - 1 + k - 1) * wp + wout - 1 + k - 1) * cin + cin - 1 <
                    // (hout + k - 1) * wp * cin (checked by `Conv::new`, with wout + k - 1
                    // <= wp); weight rows ky * k * cin + j < k * k * cin, columns co0 ..
                    // co0 + nv * l <= ldw (ldw is a multiple of the lanes and co0 + width
                    // <= cout <= ldw); output positions y * wout + x0 + r < hout * wout,
                    // columns co0 .. co0 + width <= cout <= ldo; bias values co0 .. co0 +
                    // width <= cout (checked by `with_bias`).
                    unsafe {
                        let cp = op.add((y * wout + x0) * ldo + co0);
                        if cin == 1 {
                            with_tile!(s, mr, nv, (Unit, segs, cp, ldo, width, false, epi.at(co0)));
                        } else {
                            with_tile!(
                                s,
                                mr,
                                nv,
                                (Stride(cin), segs, cp, ldo, width, false, epi.at(co0))
                            );
                        }
                    }
                }
                co0 += width;
            }
        }
    }
}

/// The weight gradient of a stride-1 convolution over one zero-padded image (see the
/// module docs for its chains): `dw[((ky * k + kx) * cin + ci) * cout + co]`, started
/// from zero or continued (`accumulate`).
///
/// The image is channels-last: value `(row, col, ci)` at `x[(row * wp + col) * cin +
/// ci]`, `hout + k - 1` rows, `wp >= wout + k - 1` columns. `dz[(y * wout + x) * ldz +
/// co]` is the gradient of the output, `ldz` a multiple of [`PAD_LANES`].
pub(crate) struct WeightGrad<'a> {
    x: &'a [f32],
    cin: usize,
    wp: usize,
    k: usize,
    hout: usize,
    wout: usize,
    dz: &'a [f32],
    ldz: usize,
    cout: usize,
    dw: &'a mut [f32],
    accumulate: bool,
}

impl<'a> WeightGrad<'a> {
    /// The weight gradient from `x` (`cin` channels, `wp` padded columns) and `dz`
    /// (`ldz` floats a position) into `dw`.
    ///
    /// # Panics
    /// When a buffer is too small for the geometry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        (x, cin, wp): (&'a [f32], usize, usize),
        (k, hout, wout): (usize, usize, usize),
        (dz, ldz, cout): (&'a [f32], usize, usize),
        dw: &'a mut [f32],
        accumulate: bool,
    ) -> Self {
        assert!(k > 0 && wp + 1 >= wout + k, "weight grad: geometry");
        assert!(
            ldz >= cout && ldz.is_multiple_of(PAD_LANES),
            "weight grad: gradient rows"
        );
        assert!(
            x.len() >= (hout + k - 1) * wp * cin,
            "weight grad: input too small"
        );
        assert!(
            dz.len() >= hout * wout * ldz,
            "weight grad: gradient too small"
        );
        assert!(
            dw.len() >= k * k * cin * cout,
            "weight grad: destination too small"
        );
        WeightGrad {
            x,
            cin,
            wp,
            k,
            hout,
            wout,
            dz,
            ldz,
            cout,
            dw,
            accumulate,
        }
    }

    /// Offset of patch row `t = (ky * k + kx) * cin + ci` from a window's corner.
    fn row_offset(&self, t: usize) -> usize {
        let run = self.k * self.cin;
        (t / run) * self.wp * self.cin + t % run
    }
}

impl Kernel for WeightGrad<'_> {
    type Output = ();

    fn run_scalar(self) {
        let patch = self.k * self.k * self.cin;
        let offsets: Vec<usize> = (0..patch).map(|t| self.row_offset(t)).collect();
        let WeightGrad {
            x,
            cin,
            wp,
            hout,
            wout,
            dz,
            ldz,
            cout,
            dw,
            accumulate,
            ..
        } = self;
        if !accumulate {
            dw[..patch * cout].fill(0.0);
        }
        for y in 0..hout {
            for xo in 0..wout {
                let corner = (y * wp + xo) * cin;
                let g = &dz[(y * wout + xo) * ldz..][..cout];
                for (t, &off) in offsets.iter().enumerate() {
                    let v = x[corner + off];
                    for (acc, &gv) in dw[t * cout..(t + 1) * cout].iter_mut().zip(g) {
                        *acc = fma(v, gv, *acc);
                    }
                }
            }
        }
    }

    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let WeightGrad {
            x,
            cin,
            wp,
            k,
            hout,
            wout,
            dz,
            ldz,
            cout,
            dw,
            accumulate,
        } = self;
        let patch = k * k * cin;
        if hout * wout == 0 {
            if !accumulate {
                dw[..patch * cout].fill(0.0);
            }
            return;
        }
        let run = k * cin;
        let offset = |t: usize| (t / run) * wp * cin + t % run;
        let l = S::LANES;
        let (xp, dzp, dwp) = (x.as_ptr(), dz.as_ptr(), dw.as_mut_ptr());
        let mut co0 = 0;
        while co0 < cout {
            let nv = vectors::<S>(cout - co0);
            let width = (cout - co0).min(nv * l);
            let most = max_rows::<S>(nv);
            // Tiles of patch rows: within one `ky` (whose rows are consecutive floats of
            // the image) when a `ky` holds enough rows, else across them with a table.
            let (groups, group) = if run >= most { (k, run) } else { (1, patch) };
            for g in 0..groups {
                for (t0, mr) in even_parts(group, most) {
                    let t0 = g * group + t0;
                    let base = offset(t0);
                    let contiguous = offset(t0 + mr - 1) == base + mr - 1;
                    let mut table = [0; MAX_MR];
                    for (r, slot) in table.iter_mut().enumerate().take(mr) {
                        *slot = offset(t0 + r) - base;
                    }
                    let segs = (0..hout).map(|y| Seg {
                        a: xp.wrapping_add(y * wp * cin + base),
                        a_step: cin,
                        b: dzp.wrapping_add(y * wout * ldz + co0),
                        b_step: ldz,
                        len: wout,
                    });
                    // SAFETY: position (y, x0) with y < hout, x0 < wout and patch row t
                    // read x at (y * wp + x0) * cin + offset(t) <= ((hout - 1 + k - 1) *
                    // wp + wout - 1 + k - 1) * cin + cin - 1 < (hout + k - 1) * wp * cin
                    // (checked by `new`); dz row y * wout + x0 < hout * wout, columns
                    // co0 .. co0 + nv * l <= ldz (a multiple of the lanes, co0 + width
                    // <= cout <= ldz); dw rows t0 .. t0 + mr <= patch, columns co0 ..
                    // co0 + width <= cout, inside k * k * cin * cout (checked by `new`).
                    unsafe {
                        let cp = dwp.add(t0 * cout + co0);
                        if contiguous {
                            with_tile!(
                                s,
                                mr,
                                nv,
                                (Unit, segs, cp, cout, width, accumulate, Epilogue::NONE)
                            );
                        } else {
                            with_tile!(
                                s,
                                mr,
                                nv,
                                (
                                    Table(table),
                                    segs,
                                    cp,
                                    cout,
                                    width,
                                    accumulate,
                                    Epilogue::NONE
                                )
                            );
                        }
                    }
                }
            }
            co0 += width;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::simd::{SimdPath, dispatch};

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 - 1001.0) / 997.0)
            .collect()
    }

    /// Bits of a slice, for exact comparisons.
    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Runs `kernel(path, out)` on every supported path from the same starting `out`,
    /// and checks that every path leaves the same bits as the scalar reference.
    fn same_on_every_path(
        what: &str,
        start: &[f32],
        mut kernel: impl FnMut(SimdPath, &mut [f32]),
    ) -> Vec<f32> {
        let mut want = start.to_vec();
        kernel(SimdPath::Scalar, &mut want);
        for path in SimdPath::supported() {
            let mut got = start.to_vec();
            kernel(path, &mut got);
            assert!(
                bits(&got) == bits(&want),
                "{what}: {path} differs from scalar"
            );
        }
        want
    }

    /// Sentinel left in memory a kernel must not touch.
    const UNTOUCHED: f32 = 1234.5;

    #[test]
    fn products_give_the_same_bits_on_every_path_and_match_f64() {
        let mut panel = GemmScratch::default();
        let shapes = [
            (1, 1, 1),
            (0, 5, 3),
            (4, 0, 3),
            (3, 6, 0),
            (7, 1, 9),
            (13, 17, 33),
            (5, 3, 47),
            (29, 64, 16),
            (12, 40, 32),
            (15, 9, 100),
            (25, 31, 15),
            (6, 200, 7),
            // More terms than a block (KC): the chains continue across blocks.
            (7, 300, 40),
            (33, 517, 10),
            (3, 257, 129),
            // A block of B too large to keep whole: column panels outside.
            (5, 300, 260),
        ];
        // Rows a multiple of 4 KiB apart, packed: A is 19 x 1024 with 300 terms used.
        let (m, k, n) = (19, 300, 70);
        let a = values(m * ALIASING_FLOATS, 21);
        let b = values(k * n, 22);
        let start = values(m * n, 23);
        let got = same_on_every_path("packed A", &start, |path, c| {
            let g = Gemm::new(
                (m, n, k),
                (&a, ALIASING_FLOATS, 1),
                (&b, n, 1),
                c,
                false,
                &mut panel,
            );
            dispatch(path, g);
        });
        for (i, j) in [(0, 0), (18, 69), (7, 33)] {
            let want: f64 = (0..k)
                .map(|l| f64::from(a[i * ALIASING_FLOATS + l]) * f64::from(b[l * n + j]))
                .sum();
            assert!(
                (f64::from(got[i * n + j]) - want).abs() < 1e-3,
                "packed A ({i}, {j})"
            );
        }
        for (m, k, n) in shapes {
            for (ta, tb, accumulate) in [
                (false, false, false),
                (true, false, false),
                (false, true, true),
                (true, true, false),
                (false, false, true),
            ] {
                let a = values(m * k, 1);
                let b = values(k * n, 2);
                let (a_rs, a_cs) = if ta { (1, m) } else { (k, 1) };
                let (b_rs, b_cs) = if tb { (1, k) } else { (n, 1) };
                let mut start = values(m * n, 3);
                start.extend([UNTOUCHED; 5]);
                let what = format!("{m}x{k} * {k}x{n} ta={ta} tb={tb} acc={accumulate}");
                let got = same_on_every_path(&what, &start, |path, c| {
                    dispatch(
                        path,
                        Gemm::new(
                            (m, n, k),
                            (&a, a_rs, a_cs),
                            (&b, b_rs, b_cs),
                            c,
                            accumulate,
                            &mut panel,
                        ),
                    );
                });
                assert!(
                    got[m * n..].iter().all(|&v| v == UNTOUCHED),
                    "{what}: wrote past C"
                );
                for i in 0..m {
                    for j in 0..n {
                        let mut want = if accumulate {
                            f64::from(start[i * n + j])
                        } else {
                            0.0
                        };
                        let mut scale = want.abs();
                        for l in 0..k {
                            let t = f64::from(a[i * a_rs + l * a_cs])
                                * f64::from(b[l * b_rs + j * b_cs]);
                            want += t;
                            scale += t.abs();
                        }
                        let g = f64::from(got[i * n + j]);
                        // A chain of k roundings of at most 2^-24 of the running sum each.
                        assert!(
                            (g - want).abs() <= (k as f64 + 2.0) * 6e-8 * scale + 1e-30,
                            "{what}: ({i}, {j}) {g} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_product_is_one_fma_chain_per_output() {
        // The contract itself, independently of the scalar loops: with k = 3 the
        // result is fma(a2, b2, fma(a1, b1, fma(a0, b0, 0))), which differs from the
        // separately rounded sum for these values.
        let a = [1.0f32 + f32::EPSILON, 1.0, -1.0];
        let b = [1.0f32 - f32::EPSILON, 1e-8, 1.0];
        let want = fma(a[2], b[2], fma(a[1], b[1], fma(a[0], b[0], 0.0)));
        let mut panel = GemmScratch::default();
        for path in SimdPath::supported() {
            let mut c = [0.0f32];
            dispatch(
                path,
                Gemm::new((1, 1, 3), (&a, 3, 1), (&b, 1, 1), &mut c, false, &mut panel),
            );
            assert_eq!(c[0].to_bits(), want.to_bits(), "{path}");
        }
    }

    const CONV_SHAPES: [(usize, usize, usize, usize, usize, usize); 10] = [
        // (cin, cout, k, hout, wout, extra padded columns)
        (1, 16, 3, 5, 28, 0),
        (1, 5, 3, 4, 3, 1),
        (3, 17, 5, 3, 7, 0),
        (16, 32, 3, 4, 14, 0),
        (32, 16, 3, 3, 14, 2),
        (5, 33, 2, 2, 9, 0),
        (7, 1, 1, 3, 5, 0),
        (2, 48, 4, 1, 1, 0),
        (9, 20, 3, 2, 15, 0),
        (4, 64, 1, 2, 13, 1),
    ];

    #[test]
    fn convolutions_give_the_same_bits_on_every_path_and_match_f64() {
        for (cin, cout, k, hout, wout, extra) in CONV_SHAPES {
            let wp = wout + k - 1 + extra;
            let x = values((hout + k - 1) * wp * cin, 4);
            let ldw = pad_lanes(cout);
            let w = values(k * k * cin * ldw, 5);
            let ldo = cout + 3;
            let start = vec![UNTOUCHED; hout * wout * ldo];
            let what = format!("conv {cin}->{cout} k={k} {hout}x{wout}");
            let got = same_on_every_path(&what, &start, |path, out| {
                dispatch(
                    path,
                    Conv::new((&x, cin, wp), (k, hout, wout), (&w, ldw, cout), (out, ldo)),
                );
            });
            for p in 0..hout * wout {
                let (y, xo) = (p / wout, p % wout);
                for co in 0..ldo {
                    let g = got[p * ldo + co];
                    if co >= cout {
                        assert_eq!(g, UNTOUCHED, "{what}: wrote past cout");
                        continue;
                    }
                    let (mut want, mut scale) = (0.0f64, 0.0f64);
                    for ky in 0..k {
                        for kx in 0..k {
                            for ci in 0..cin {
                                let t = f64::from(x[((y + ky) * wp + xo + kx) * cin + ci])
                                    * f64::from(w[((ky * k + kx) * cin + ci) * ldw + co]);
                                want += t;
                                scale += t.abs();
                            }
                        }
                    }
                    assert!(
                        (f64::from(g) - want).abs() <= 1e-6 * scale,
                        "{what}: {p} {co}"
                    );
                }
            }
        }
    }

    #[test]
    fn fused_bias_and_relu_give_the_bits_of_the_separate_pass() {
        use crate::engine::activation::bias_act_forward;
        use nas_core::Activation;
        for (cin, cout, k, hout, wout, extra) in CONV_SHAPES {
            let wp = wout + k - 1 + extra;
            let x = values((hout + k - 1) * wp * cin, 11);
            let ldw = pad_lanes(cout);
            let w = values(k * k * cin * ldw, 12);
            let bias = values(cout, 13);
            let what = format!("conv+relu {cin}->{cout} k={k} {hout}x{wout}");
            let start = vec![UNTOUCHED; hout * wout * cout];
            let fused = same_on_every_path(&what, &start, |path, out| {
                let conv = Conv::new((&x, cin, wp), (k, hout, wout), (&w, ldw, cout), (out, cout));
                dispatch(path, conv.with_bias(&bias, true));
            });
            for path in SimdPath::supported() {
                let mut separate = start.clone();
                let conv = Conv::new(
                    (&x, cin, wp),
                    (k, hout, wout),
                    (&w, ldw, cout),
                    (&mut separate, cout),
                );
                dispatch(path, conv);
                bias_act_forward(path, &mut separate, &mut [], &bias, Some(Activation::Relu));
                assert!(bits(&separate) == bits(&fused), "{what}: {path}");
            }
            assert!(
                fused.iter().all(|&v| v >= 0.0) && fused.contains(&0.0),
                "{what}"
            );
        }
    }

    #[test]
    fn weight_gradients_give_the_same_bits_on_every_path_and_match_f64() {
        for (cin, cout, k, hout, wout, extra) in CONV_SHAPES {
            for accumulate in [false, true] {
                let wp = wout + k - 1 + extra;
                let x = values((hout + k - 1) * wp * cin, 6);
                let ldz = pad_lanes(cout);
                let dz = values(hout * wout * ldz, 7);
                let mut start = values(k * k * cin * cout, 8);
                start.extend([UNTOUCHED; 3]);
                let what =
                    format!("weight grad {cin}->{cout} k={k} {hout}x{wout} acc={accumulate}");
                let got = same_on_every_path(&what, &start, |path, dw| {
                    dispatch(
                        path,
                        WeightGrad::new(
                            (&x, cin, wp),
                            (k, hout, wout),
                            (&dz, ldz, cout),
                            dw,
                            accumulate,
                        ),
                    );
                });
                let patch = k * k * cin;
                assert!(
                    got[patch * cout..].iter().all(|&v| v == UNTOUCHED),
                    "{what}: wrote past dw"
                );
                for t in 0..patch {
                    let (ky, kx, ci) = (t / (k * cin), (t / cin) % k, t % cin);
                    for co in 0..cout {
                        let mut want = if accumulate {
                            f64::from(start[t * cout + co])
                        } else {
                            0.0
                        };
                        let mut scale = want.abs();
                        for p in 0..hout * wout {
                            let (y, xo) = (p / wout, p % wout);
                            let tv = f64::from(x[((y + ky) * wp + xo + kx) * cin + ci])
                                * f64::from(dz[p * ldz + co]);
                            want += tv;
                            scale += tv.abs();
                        }
                        let g = f64::from(got[t * cout + co]);
                        assert!((g - want).abs() <= 1e-6 * scale + 1e-30, "{what}: {t} {co}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_weight_gradient_continues_its_chain_across_images() {
        // Two calls (the second accumulating) give the bits of one call over both
        // images' positions: the chain is not restarted.
        let (cin, cout, k, h, w) = (3, 20, 3, 4, 5);
        let x = values((2 * h + k - 1) * (w + k - 1) * cin, 9);
        let ldz = pad_lanes(cout);
        let dz = values(2 * h * w * ldz, 10);
        for path in SimdPath::supported() {
            let mut whole = vec![0.0; k * k * cin * cout];
            // One image of 2h rows: its first h output rows read the first h + k - 1
            // input rows, like an image of h rows.
            dispatch(
                path,
                WeightGrad::new(
                    (&x, cin, w + k - 1),
                    (k, 2 * h, w),
                    (&dz, ldz, cout),
                    &mut whole,
                    false,
                ),
            );
            let mut split = vec![0.0; k * k * cin * cout];
            let row = (w + k - 1) * cin;
            dispatch(
                path,
                WeightGrad::new(
                    (&x, cin, w + k - 1),
                    (k, h, w),
                    (&dz, ldz, cout),
                    &mut split,
                    false,
                ),
            );
            dispatch(
                path,
                WeightGrad::new(
                    (&x[h * row..], cin, w + k - 1),
                    (k, h, w),
                    (&dz[h * w * ldz..], ldz, cout),
                    &mut split,
                    true,
                ),
            );
            assert!(bits(&whole) == bits(&split), "{path}");
        }
    }

    /// Throughput of each kernel on the reference CNN's shapes, per path (run with
    /// `cargo test --release -p nas-eval --lib kernel_speed -- --ignored --nocapture`).
    #[test]
    #[ignore = "a measurement, not a test"]
    fn kernel_speed() {
        use std::time::Instant;
        for path in SimdPath::supported() {
            if path == SimdPath::Scalar {
                continue;
            }
            // NAS-Bench-201's 3x3 convolutions: a stage's channels at its map size, for
            // 28x28 and 32x32 inputs.
            let nb201 = |what: &str| {
                [(16, 28), (32, 14), (64, 7), (16, 32), (32, 16), (64, 8)].map(|(c, side)| {
                    let name = format!("nb201 {what} {c}->{c} {side}x{side}");
                    (name, c, c, side, side, 3)
                })
            };
            // conv2 forward: 14x14 output, 16 -> 32 channels, 3x3, padded 16x16.
            let chain = [
                ("conv1 fwd 1->16 28x28", 1, 16, 28, 28, 3),
                ("conv2 fwd 16->32 14x14", 16, 32, 14, 14, 3),
                ("conv2 dgrad 32->16 14x14", 32, 16, 14, 14, 3),
                ("conv fwd 32->64 7x7", 32, 64, 7, 7, 3),
                ("conv fwd 64->64 5x5 28x28", 64, 64, 28, 28, 5),
                ("conv fwd 16->64 5x5 28x28", 16, 64, 28, 28, 5),
            ]
            .map(|(name, cin, cout, h, w, k)| (name.to_string(), cin, cout, h, w, k));
            for (name, cin, cout, h, w, k) in nb201("fwd").into_iter().chain(chain) {
                let wp = w + k - 1;
                let x = values((h + k - 1) * wp * cin, 1);
                let ldw = pad_lanes(cout);
                let wt = values(k * k * cin * ldw, 2);
                let mut out = vec![0.0; h * w * cout];
                let reps = (200_000_000 / (h * w * cout * k * k * cin)).max(3);
                let start = Instant::now();
                for _ in 0..reps {
                    dispatch(
                        path,
                        Conv::new((&x, cin, wp), (k, h, w), (&wt, ldw, cout), (&mut out, cout)),
                    );
                }
                let secs = start.elapsed().as_secs_f64();
                let flops = 2.0 * (reps * h * w * cout * k * k * cin) as f64;
                println!("{path:7} {name:28} {:6.1} GFLOP/s", flops / secs / 1e9);
            }
            let chain = [
                ("conv1 wgrad 1->16 28x28", 1, 16, 28, 28, 3),
                ("conv2 wgrad 16->32 14x14", 16, 32, 14, 14, 3),
                ("wgrad 32->64 7x7", 32, 64, 7, 7, 3),
                ("wgrad 64->64 5x5 28x28", 64, 64, 28, 28, 5),
                ("wgrad 1->64 5x5 28x28", 1, 64, 28, 28, 5),
            ]
            .map(|(name, cin, cout, h, w, k)| (name.to_string(), cin, cout, h, w, k));
            for (name, cin, cout, h, w, k) in nb201("wgrad").into_iter().chain(chain) {
                let wp = w + k - 1;
                let x = values((h + k - 1) * wp * cin, 1);
                let ldz = pad_lanes(cout);
                let dz = values(h * w * ldz, 2);
                let mut dw = vec![0.0; k * k * cin * cout];
                let reps = (200_000_000 / (h * w * cout * k * k * cin)).max(3);
                let start = Instant::now();
                for r in 0..reps {
                    dispatch(
                        path,
                        WeightGrad::new((&x, cin, wp), (k, h, w), (&dz, ldz, cout), &mut dw, r > 0),
                    );
                }
                let secs = start.elapsed().as_secs_f64();
                let flops = 2.0 * (reps * h * w * cout * k * k * cin) as f64;
                println!("{path:7} {name:28} {:6.1} GFLOP/s", flops / secs / 1e9);
            }
            let cases: [(&str, usize, usize, usize, bool); 6] = [
                ("mlp fwd 32x784 * 784x128", 32, 784, 128, false),
                ("mlp wgrad 784x32 * 32x128", 784, 32, 128, true),
                ("head fwd 32x1568 * 1568x10", 32, 1568, 10, false),
                ("dgrad 32x128 * (784x128)^T", 32, 128, 784, false),
                ("big fwd 32x50176 * 50176x256", 32, 50176, 256, false),
                ("dgrad 32x256 * (50176x256)^T", 32, 256, 50176, false),
            ];
            let mut panel = GemmScratch::default();
            for (name, m, kk, n, transposed_a) in cases {
                let a = values(m * kk, 1);
                let b = values(kk * n, 2);
                let mut c = vec![0.0; m * n];
                let reps = (200_000_000 / (m * n * kk)).max(3);
                let (a_rs, a_cs) = if transposed_a { (1, m) } else { (kk, 1) };
                let (b_rs, b_cs) = if name.starts_with("dgrad") {
                    (1, kk)
                } else {
                    (n, 1)
                };
                let start = Instant::now();
                for _ in 0..reps {
                    dispatch(
                        path,
                        Gemm::new(
                            (m, n, kk),
                            (&a, a_rs, a_cs),
                            (&b, b_rs, b_cs),
                            &mut c,
                            false,
                            &mut panel,
                        ),
                    );
                }
                let secs = start.elapsed().as_secs_f64();
                let flops = 2.0 * (reps * m * n * kk) as f64;
                println!("{path:7} {name:28} {:6.1} GFLOP/s", flops / secs / 1e9);
            }
        }
    }
}
