//! Kernel families ("SIMD paths"), their selection (`NAS_SIMD`), and the vector
//! operations the engine's matrix kernels are written against.
//!
//! The crate is compiled for the baseline x86-64 target, so one binary runs on every
//! x86-64 CPU. Three kernel families are built into it and one is chosen at run time:
//!
//! - [`SimdPath::Avx512`]: AVX-512 F/VL/BW/DQ with AVX2 and FMA (x86-64-v4);
//! - [`SimdPath::Avx2`]: AVX2 with FMA (x86-64-v3);
//! - [`SimdPath::Scalar`]: portable code with a software fused multiply-add ([`fma`]),
//!   for any CPU (and every non-x86 target).
//!
//! All three give the same bits: the engine's numeric contract (see
//! [`kernels`](super::kernels)) fixes, for every value it computes, the sequence of
//! roundings that produce it; the vector width only changes which values are computed
//! together. `NAS_SIMD=avx512|avx2|scalar` forces a family (to check that claim on one
//! machine, or to use the same code on a heterogeneous cluster); unset, empty or `auto`
//! picks the best one the CPU has.
//!
//! Two kinds of kernels use this module:
//!
//! - the matrix kernels are generic over [`Simd`] (implemented by the AVX2 and AVX-512
//!   tokens below, each constructible only on a CPU that has the features) and run
//!   under the matching `#[target_feature]` through [`dispatch`];
//! - element-wise kernels (activations, optimiser) are plain loops compiled three times
//!   by [`multiversion!`]: they use separate multiplies and adds (never `mul_add`, which
//!   Rust never contracts to), and never reassociate, so the vectoriser can only change
//!   how many elements are processed at once.

#![allow(unsafe_code)]

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The environment variable that forces a kernel family.
pub const SIMD_VAR: &str = "NAS_SIMD";

/// A family of kernels the engine can run: all give bit-identical results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SimdPath {
    /// Portable scalar code with a software correctly rounded fused multiply-add: any
    /// CPU, slowly.
    Scalar,
    /// AVX2 and FMA (x86-64-v3: Intel since Haswell, AMD since Zen).
    Avx2,
    /// AVX-512 F, VL, BW and DQ with AVX2 and FMA (x86-64-v4: Intel Skylake-SP and
    /// later server CPUs, AMD Zen 4 and later).
    Avx512,
}

impl SimdPath {
    /// Every family, from the most portable to the widest.
    pub const ALL: [SimdPath; 3] = [SimdPath::Scalar, SimdPath::Avx2, SimdPath::Avx512];

    /// The name `NAS_SIMD` takes: `scalar`, `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            SimdPath::Scalar => "scalar",
            SimdPath::Avx2 => "avx2",
            SimdPath::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the family (detected once by `std`).
    pub fn is_supported(self) -> bool {
        match self {
            SimdPath::Scalar => true,
            SimdPath::Avx2 => has_avx2(),
            SimdPath::Avx512 => has_avx512(),
        }
    }

    /// The families this CPU can run.
    pub fn supported() -> Vec<SimdPath> {
        SimdPath::ALL
            .into_iter()
            .filter(|p| p.is_supported())
            .collect()
    }

    /// The family used when `NAS_SIMD` is not set: the widest the CPU has.
    ///
    /// (On AMD Zen 4, which executes a 512-bit FMA as two 256-bit halves, the AVX-512
    /// kernels still measured slightly faster than the AVX2 ones: more registers allow
    /// larger tiles. See nas-eval's README.)
    pub fn best() -> SimdPath {
        if has_avx512() {
            SimdPath::Avx512
        } else if has_avx2() {
            SimdPath::Avx2
        } else {
            SimdPath::Scalar
        }
    }
}

impl fmt::Display for SimdPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SimdPath {
    type Err = Error;

    /// Parses a family name (`scalar`, `avx2`, `avx512`; `auto` or empty: the best one),
    /// refusing a family this CPU cannot run.
    fn from_str(s: &str) -> Result<SimdPath> {
        let path = match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => return Ok(SimdPath::best()),
            "scalar" => SimdPath::Scalar,
            "avx2" => SimdPath::Avx2,
            "avx512" => SimdPath::Avx512,
            _ => {
                return Err(Error::Simd {
                    value: s.to_string(),
                    reason: "unknown kernel family (allowed: avx512, avx2, scalar, auto)".into(),
                });
            }
        };
        if !path.is_supported() {
            let have = SimdPath::supported()
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::Simd {
                value: s.to_string(),
                reason: format!("this CPU cannot run the {path} kernels (it can run: {have})"),
            });
        }
        Ok(path)
    }
}

/// The kernel family a network built now runs: `$NAS_SIMD` when it is set (an unknown
/// family, or one this CPU lacks, is an [`Error::Simd`]), otherwise
/// [`SimdPath::best`]. Read at every call; a network keeps the family it was built with.
pub fn simd_path() -> Result<SimdPath> {
    match std::env::var(SIMD_VAR) {
        Ok(value) => value.parse(),
        Err(std::env::VarError::NotPresent) => Ok(SimdPath::best()),
        Err(std::env::VarError::NotUnicode(v)) => Err(Error::Simd {
            value: v.to_string_lossy().into_owned(),
            reason: "not valid UTF-8".into(),
        }),
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    has_avx2()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx2() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx512() -> bool {
    false
}

/// `a * b + c` with a single rounding (IEEE 754 fusedMultiplyAdd, round to nearest
/// even) in software: the scalar path's FMA, bit-identical to the `vfmadd` instructions
/// of the vector paths for every finite input (NaN payloads may differ).
///
/// The product of two f32 is exact in f64 (48 significant bits), and the f64 sum of it
/// and `c` is made *round-to-odd*: rounded to nearest by the hardware, then, when that
/// was inexact and landed on an even significand, moved one ulp toward the exact sum
/// (found by TwoSum). A round-to-odd result with 53 >= 24 + 2 bits rounds to the
/// correctly rounded f32 (Boldo and Melquiond, "Emulation of FMA and correctly rounded
/// sums: proved algorithms using rounding to odd", IEEE TC 2008).
#[inline(always)]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
    let p = f64::from(a) * f64::from(b);
    let c = f64::from(c);
    let s = p + c;
    // TwoSum: err is exactly (p + c) - s (no overflow: |p| <= 2^256).
    let bb = s - p;
    let err = (p - (s - bb)) + (c - bb);
    // Branch-free, so that loops of it vectorise: bump the bits by +1 (away from zero),
    // -1 (toward zero) or 0.
    let bits = s.to_bits();
    let bump = s.is_finite() & (err != 0.0) & (bits & 1 == 0);
    let away = (err > 0.0) == (s > 0.0);
    let delta = match (bump, away) {
        (false, _) => 0,
        (true, true) => 1,
        (true, false) => u64::MAX, // -1, wrapping
    };
    let odd = f64::from_bits(bits.wrapping_add(delta));
    odd as f32
}

/// The vector operations the matrix kernels use. Implemented by [`Avx2`] and
/// [`Avx512`], tokens that can only be made on a CPU with their features.
///
/// Every method is `#[inline(always)]` so that it is compiled into the
/// `#[target_feature]` function [`dispatch`] runs the kernel in.
pub(crate) trait Simd: Copy {
    /// f32 lanes per vector.
    const LANES: usize;
    /// Most rows of a register tile two vectors wide (accumulators `2 * MR_WIDE`).
    const MR_WIDE: usize;
    /// Most rows of a register tile one vector wide.
    const MR_NARROW: usize;
    /// A vector of `LANES` f32.
    type V: Copy;
    /// All zeros.
    fn zero(self) -> Self::V;
    /// `x` in every lane.
    fn splat(self, x: f32) -> Self::V;
    /// `a * b + c` lane by lane, rounded once (IEEE fusedMultiplyAdd).
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b` lane by lane.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `if v < 0 { 0 } else { v }` lane by lane (NaN and -0 pass through).
    fn relu(self, v: Self::V) -> Self::V;
    /// Loads `LANES` values.
    ///
    /// # Safety
    /// `p..p + LANES` must be readable.
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// Loads the first `n < LANES` values, zeros in the other lanes.
    ///
    /// # Safety
    /// `p..p + n` must be readable (the other lanes are not touched).
    unsafe fn load_part(self, p: *const f32, n: usize) -> Self::V;
    /// Stores `LANES` values.
    ///
    /// # Safety
    /// `p..p + LANES` must be writable.
    unsafe fn store(self, p: *mut f32, v: Self::V);
    /// Stores the first `n < LANES` lanes.
    ///
    /// # Safety
    /// `p..p + n` must be writable (memory beyond is not touched).
    unsafe fn store_part(self, p: *mut f32, v: Self::V, n: usize);
}

/// A kernel generic over the vector operations, run by [`dispatch`].
pub(crate) trait Kernel {
    /// What the kernel returns.
    type Output;
    /// Runs the kernel with vector operations `s`. Implementations must be
    /// `#[inline(always)]`: they are compiled into [`dispatch`]'s `#[target_feature]`
    /// functions.
    fn run<S: Simd>(self, s: S) -> Self::Output;
    /// Runs the scalar reference version of the kernel.
    fn run_scalar(self) -> Self::Output;
}

/// Runs `kernel` on `path`.
///
/// # Panics
/// When the CPU cannot run `path` (an engine bug: paths are checked when a network is
/// built).
pub(crate) fn dispatch<K: Kernel>(path: SimdPath, kernel: K) -> K::Output {
    match path {
        SimdPath::Scalar => kernel.run_scalar(),
        #[cfg(target_arch = "x86_64")]
        SimdPath::Avx2 => {
            let s = x86::Avx2::new().expect("the CPU has AVX2 and FMA");
            // SAFETY: the token exists, so the CPU has every feature `run_avx2` enables.
            unsafe { x86::run_avx2(s, kernel) }
        }
        #[cfg(target_arch = "x86_64")]
        SimdPath::Avx512 => {
            let s = x86::Avx512::new().expect("the CPU has AVX-512");
            // SAFETY: the token exists, so the CPU has every feature `run_avx512` enables.
            unsafe { x86::run_avx512(s, kernel) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => panic!("the {path} kernels exist on x86-64 only"),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Kernel, Simd};

    /// Proof that the CPU has AVX2 and FMA; its methods are 8-lane AVX2 operations.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Avx2(());

    impl Avx2 {
        /// The token, if the CPU has AVX2 and FMA.
        pub(crate) fn new() -> Option<Self> {
            super::has_avx2().then_some(Avx2(()))
        }
    }

    /// Proof that the CPU has AVX-512 F/VL/BW/DQ, AVX2 and FMA; its methods are
    /// 16-lane AVX-512 operations.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Avx512(());

    impl Avx512 {
        /// The token, if the CPU has the features.
        pub(crate) fn new() -> Option<Self> {
            super::has_avx512().then_some(Avx512(()))
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn run_avx2<K: Kernel>(s: Avx2, kernel: K) -> K::Output {
        kernel.run(s)
    }

    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
    pub(super) fn run_avx512<K: Kernel>(s: Avx512, kernel: K) -> K::Output {
        kernel.run(s)
    }

    /// Lane `i` set when `i < n`, for the masked AVX2 moves.
    #[inline(always)]
    fn mask8(n: usize) -> __m256i {
        // SAFETY: AVX2 is available (the only callers are methods of the `Avx2` token).
        unsafe {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(n as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        }
    }

    impl Simd for Avx2 {
        const LANES: usize = 8;
        // 16 ymm registers: 12 accumulators, 2 rows of B, 1 broadcast.
        const MR_WIDE: usize = 6;
        const MR_NARROW: usize = 12;
        type V = __m256;

        #[inline(always)]
        fn zero(self) -> __m256 {
            // SAFETY: the token proves the CPU has AVX2 (and so AVX).
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        fn splat(self, x: f32) -> __m256 {
            // SAFETY: as above.
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            // SAFETY: the token proves the CPU has FMA.
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: the token proves the CPU has AVX.
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        fn relu(self, v: __m256) -> __m256 {
            // SAFETY: as above.
            unsafe {
                let zero = _mm256_setzero_ps();
                _mm256_blendv_ps(v, zero, _mm256_cmp_ps::<_CMP_LT_OQ>(v, zero))
            }
        }
        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> __m256 {
            // SAFETY: the caller guarantees 8 readable values; unaligned load.
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn load_part(self, p: *const f32, n: usize) -> __m256 {
            // SAFETY: masked-off lanes are not accessed; the caller guarantees the
            // first `n` are readable.
            unsafe { _mm256_maskload_ps(p, mask8(n)) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, v: __m256) {
            // SAFETY: the caller guarantees 8 writable values.
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn store_part(self, p: *mut f32, v: __m256, n: usize) {
            // SAFETY: masked-off lanes are not written; the caller guarantees the
            // first `n` are writable.
            unsafe { _mm256_maskstore_ps(p, mask8(n), v) }
        }
    }

    impl Simd for Avx512 {
        const LANES: usize = 16;
        // 32 zmm registers: 24 accumulators, 2 rows of B, broadcasts.
        const MR_WIDE: usize = 12;
        const MR_NARROW: usize = 14;
        type V = __m512;

        #[inline(always)]
        fn zero(self) -> __m512 {
            // SAFETY: the token proves the CPU has AVX-512F.
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        fn splat(self, x: f32) -> __m512 {
            // SAFETY: as above.
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
            // SAFETY: as above.
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn add(self, a: __m512, b: __m512) -> __m512 {
            // SAFETY: the token proves the CPU has AVX-512F.
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        fn relu(self, v: __m512) -> __m512 {
            // SAFETY: as above.
            unsafe {
                let zero = _mm512_setzero_ps();
                _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, zero), zero)
            }
        }
        #[inline(always)]
        unsafe fn load(self, p: *const f32) -> __m512 {
            // SAFETY: the caller guarantees 16 readable values; unaligned load.
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn load_part(self, p: *const f32, n: usize) -> __m512 {
            // SAFETY: masked-off lanes are not accessed (AVX-512 masked loads suppress
            // faults); the caller guarantees the first `n` are readable.
            unsafe { _mm512_maskz_loadu_ps(((1u32 << n) - 1) as __mmask16, p) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, v: __m512) {
            // SAFETY: the caller guarantees 16 writable values.
            unsafe { _mm512_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn store_part(self, p: *mut f32, v: __m512, n: usize) {
            // SAFETY: masked-off lanes are not written; the caller guarantees the
            // first `n` are writable.
            unsafe { _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as __mmask16, v) }
        }
    }
}

/// Defines a function whose body is compiled for each [`SimdPath`] and selected at run
/// time by a first argument `path: SimdPath` added to its signature.
///
/// For element-wise kernels written with separate multiplies and adds and no
/// reassociation: every version gives the same bits, only the vector width differs.
macro_rules! multiversion {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident $(<$($lt:lifetime),*>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$meta])*
        #[allow(unsafe_code)]
        $vis fn $name $(<$($lt),*>)? (path: $crate::engine::simd::SimdPath, $($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body $(<$($lt),*>)? ($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
                fn v4 $(<$($lt),*>)? ($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3 $(<$($lt),*>)? ($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                match path {
                    $crate::engine::simd::SimdPath::Avx512 => {
                        assert!(path.is_supported(), "the CPU lacks AVX-512");
                        // SAFETY: the CPU supports every feature `v4` is compiled for
                        // (checked just above).
                        return unsafe { v4($($arg),*) };
                    }
                    $crate::engine::simd::SimdPath::Avx2 => {
                        assert!(path.is_supported(), "the CPU lacks AVX2 and FMA");
                        // SAFETY: the CPU supports every feature `v3` is compiled for
                        // (checked just above).
                        return unsafe { v3($($arg),*) };
                    }
                    $crate::engine::simd::SimdPath::Scalar => {}
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = path;
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    multiversion! {
        fn add_into(dst: &mut [f32], src: &[f32]) {
            for (d, s) in dst.iter_mut().zip(src) {
                *d += *s;
            }
        }
    }

    #[test]
    fn dispatched_kernels_run_on_every_supported_path() {
        for path in SimdPath::supported() {
            let mut a = vec![1.0f32; 37];
            let b: Vec<f32> = (0..37).map(|i| i as f32).collect();
            add_into(path, &mut a, &b);
            assert_eq!(a[36], 37.0);
            assert_eq!(a[0], 1.0);
        }
    }

    #[test]
    fn names_parse_back_and_unknown_names_are_errors() {
        for path in SimdPath::supported() {
            assert_eq!(path.name().parse::<SimdPath>().unwrap(), path);
            assert_eq!(
                path.to_string().to_uppercase().parse::<SimdPath>().unwrap(),
                path
            );
        }
        assert_eq!("auto".parse::<SimdPath>().unwrap(), SimdPath::best());
        assert_eq!("".parse::<SimdPath>().unwrap(), SimdPath::best());
        let err = "sse9".parse::<SimdPath>().unwrap_err().to_string();
        assert!(
            err.contains("NAS_SIMD=sse9") && err.contains("avx512, avx2, scalar"),
            "{err}"
        );
        for path in SimdPath::ALL {
            if !path.is_supported() {
                let err = path.name().parse::<SimdPath>().unwrap_err().to_string();
                assert!(err.contains("cannot run"), "{err}");
            }
        }
        assert!(SimdPath::Scalar.is_supported());
        assert!(SimdPath::best().is_supported());
    }

    /// Random f32 with exponents spread over the whole range, both signs, and some
    /// zeros, subnormals and infinities.
    fn random_f32(state: &mut u64) -> f32 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let r = *state;
        match r % 64 {
            0 => 0.0,
            1 => -0.0,
            2 => f32::from_bits((r >> 8) as u32 & 0x007f_ffff), // subnormal
            3 => f32::INFINITY,
            _ => {
                // Exponent mostly near 0 (so that sums cancel and round), sometimes anywhere.
                let exp = if r.is_multiple_of(5) {
                    ((r >> 40) % 254) as u32 + 1
                } else {
                    127 + ((r >> 40) % 40) as u32 - 20
                };
                let sign = ((r >> 63) as u32) << 31;
                f32::from_bits(sign | (exp << 23) | ((r >> 8) as u32 & 0x007f_ffff))
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn software_fma_matches_the_hardware_instruction() {
        if !has_avx2() {
            eprintln!("skipped: no FMA instructions on this CPU to compare with");
            return;
        }
        #[target_feature(enable = "fma")]
        fn hw(a: f32, b: f32, c: f32) -> f32 {
            use std::arch::x86_64::*;
            _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)))
        }
        let check = |a: f32, b: f32, c: f32| {
            // SAFETY: has_avx2() checked FMA above.
            let want = unsafe { hw(a, b, c) };
            let got = fma(a, b, c);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "fma({a:e}, {b:e}, {c:e}) = {got:e}, hardware {want:e}"
            );
        };
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2_000_000 {
            let (a, b) = (random_f32(&mut state), random_f32(&mut state));
            let c = random_f32(&mut state);
            check(a, b, c);
            // c close to -a*b: massive cancellation.
            check(a, b, -(a * b));
            // c large next to a tiny product: the product decides the rounding of c.
            let tiny = f32::from_bits((a.to_bits() & 0x807f_ffff) | (90 << 23));
            check(tiny, b, c);
        }
        // Hand-made double-rounding traps: the exact sum lies a hair above or below a
        // halfway point of f32, and its f64 rounding lands exactly on it.
        let one_plus = f32::from_bits(1.0f32.to_bits() + 1); // 1 + 2^-23
        for (a, b, c) in [
            (one_plus, 2f32.powi(-24), 1.0),
            (one_plus, -(2f32.powi(-24)), 1.0),
            (one_plus, one_plus, -1.0),
            (1.0 + 2f32.powi(-12), 1.0 + 2f32.powi(-12), 2f32.powi(30)),
            (1.0 - 2f32.powi(-24), 2f32.powi(-24), 1.0),
            (3.0, 2f32.powi(-26) * (1.0 + 2f32.powi(-23)), 1.0),
            (f32::MAX, 2.0, -f32::MAX),
            (f32::MIN_POSITIVE, 0.5, 0.0),
            (1e-45, 0.5, 0.0),
            (1e-45, 1.5, 1e-45),
        ] {
            check(a, b, c);
            check(-a, b, -c);
        }
        // Every product of small-significand numbers against sums near ties.
        for i in 0..2048u32 {
            for j in [1u32, 3, 5, 0x7f_ffff, 0x40_0001] {
                let a = f32::from_bits(0x3f80_0000 | i);
                let b = f32::from_bits(0x3380_0000 | j);
                for c in [1.0f32, -1.0, 0.75, one_plus, 3.0] {
                    check(a, b, c);
                }
            }
        }
    }
}
