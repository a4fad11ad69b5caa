//! Runtime CPU-feature dispatch for the engine's own kernels.
//!
//! The crate is compiled for the baseline x86-64 target (SSE2), so a plain loop is
//! vectorised 4 lanes wide at best. [`multiversion!`] compiles a kernel body three times:
//! with AVX-512, with AVX2+FMA and for the baseline, and picks the best one the CPU
//! supports at run time (the detection is cached by `std`).
//!
//! Kernels written with this macro use separate multiplies and adds (never `mul_add`),
//! and never reassociate, so every version gives bit-identical results: only the
//! vector width changes. (The `gemm` crate dispatches on its own and may round
//! differently on CPUs of different generations.)

/// Defines a function whose body is compiled for several instruction sets and selected
/// at run time.
///
/// The generated code calls `#[target_feature]` functions, which is `unsafe`: it is sound
/// because each is called only after `is_x86_feature_detected!` confirmed the features.
macro_rules! multiversion {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident $(<$($lt:lifetime),*>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$meta])*
        #[allow(unsafe_code)]
        $vis fn $name $(<$($lt),*>)? ($($arg: $ty),*) $(-> $ret)? {
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
                match $crate::engine::simd::level() {
                    // SAFETY: the CPU supports every feature `v4` is compiled for.
                    $crate::engine::simd::Level::V4 => return unsafe { v4($($arg),*) },
                    // SAFETY: the CPU supports every feature `v3` is compiled for.
                    $crate::engine::simd::Level::V3 => return unsafe { v3($($arg),*) },
                    $crate::engine::simd::Level::Baseline => {}
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// The instruction-set level the kernels run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// AVX-512 (F, VL, BW, DQ) with AVX2 and FMA.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    V4,
    /// AVX2 and FMA.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    V3,
    /// Whatever the compilation target guarantees.
    Baseline,
}

/// The best level this CPU supports (detected once).
#[inline]
pub(crate) fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(detect)
}

fn detect() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::V4;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::V3;
        }
    }
    Level::Baseline
}

#[cfg(test)]
mod tests {
    multiversion! {
        fn add_into(dst: &mut [f32], src: &[f32]) {
            for (d, s) in dst.iter_mut().zip(src) {
                *d += *s;
            }
        }
    }

    #[test]
    fn dispatched_kernels_run() {
        let mut a = vec![1.0f32; 37];
        let b: Vec<f32> = (0..37).map(|i| i as f32).collect();
        add_into(&mut a, &b);
        assert_eq!(a[36], 37.0);
        assert_eq!(a[0], 1.0);
    }
}
