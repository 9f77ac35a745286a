//! A thin facade over pulp: full-vector unaligned loads and stores shared by every kernel family, and the
//! operations whose pulp 0.22.3 implementation needs a correction.
//!
//! pulp 0.22.3's `x86::V3_512b` (16 lanes as two ymm halves) addresses the upper half of its masked loads and
//! stores at lane 16 instead of lane 8, so a masked access of a 16-lane vector reads and writes up to 8 floats
//! past the caller's range (fixed upstream after 0.22.3). Kernels use [`load_first`] and [`store_first`] for
//! partial vectors: they forward to pulp's masked operations on every backend but that one, which goes through
//! a stack copy instead.

use pulp::Simd;

/// Loads a full vector from `p` (any alignment).
///
/// # Safety
/// `S::F32_LANES` floats are readable at `p`.
#[inline(always)]
pub(crate) unsafe fn load<S: Simd>(p: *const f32) -> S::f32s {
    // SAFETY: the caller guarantees `S::F32_LANES` readable floats at `p`; f32s is plain data.
    unsafe { (p as *const S::f32s).read_unaligned() }
}

/// Stores a full vector to `p` (any alignment).
///
/// # Safety
/// `S::F32_LANES` floats are writable at `p`.
#[inline(always)]
pub(crate) unsafe fn store<S: Simd>(p: *mut f32, v: S::f32s) {
    // SAFETY: the caller guarantees `S::F32_LANES` writable floats at `p`.
    unsafe { (p as *mut S::f32s).write_unaligned(v) }
}

/// `x` clamped to `[lo, hi]`, NaN passed through: `x < lo` and `x > hi` are false for NaN. The one clamp of every
/// kernel's fused epilogue.
#[inline(always)]
pub(crate) fn clamp<S: Simd>(simd: S, x: S::f32s, lo: S::f32s, hi: S::f32s) -> S::f32s {
    #[cfg(target_arch = "x86_64")]
    {
        use core::any::TypeId;
        // x86's `max(a, b)` is `a > b ? a : b` and `min(a, b)` is `a < b ? a : b`, the second operand whenever one
        // is NaN: with the bound first they give exactly the selects below (NaN and signed zeros included) in one
        // instruction each instead of a compare and a blend, which competes with the FMAs for the vector pipes.
        use core::mem::{size_of, transmute_copy as cast};
        #[cfg(feature = "x86-v4")]
        if TypeId::of::<S>() == TypeId::of::<pulp::x86::V4>()
            && size_of::<S::f32s>() == size_of::<core::arch::x86_64::__m512>()
        {
            // SAFETY: a `V4` value exists only where AVX-512F was detected; its `f32s` has `__m512`'s size (checked)
            // and any bits are a valid float vector.
            return unsafe { cast(&clamp_avx512(cast(&x), cast(&lo), cast(&hi))) };
        }
        if TypeId::of::<S>() == TypeId::of::<pulp::x86::V3>()
            && size_of::<S::f32s>() == size_of::<core::arch::x86_64::__m256>()
        {
            // SAFETY: a `V3` value exists only where AVX2 was detected; as above with `__m256`.
            return unsafe { cast(&clamp_avx(cast(&x), cast(&lo), cast(&hi))) };
        }
    }
    let x = simd.select_f32s(simd.less_than_f32s(x, lo), lo, x);
    simd.select_f32s(simd.greater_than_f32s(x, hi), hi, x)
}

/// The same bits as another SIMD vector type of the same size (pulp's vectors and the platform's).
#[inline(always)]
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))]
pub(crate) fn bits<A: Copy, B: Copy>(a: A) -> B {
    const { assert!(size_of::<A>() == size_of::<B>()) };
    // SAFETY: equal sizes (checked at compile time); only used between SIMD vector types, plain bits without
    // invalid values.
    unsafe { core::mem::transmute_copy(&a) }
}

/// [`clamp`] on AVX-512F.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn clamp_avx512(
    x: core::arch::x86_64::__m512,
    lo: core::arch::x86_64::__m512,
    hi: core::arch::x86_64::__m512,
) -> core::arch::x86_64::__m512 {
    use core::arch::x86_64::{_mm512_max_ps, _mm512_min_ps};
    _mm512_min_ps(hi, _mm512_max_ps(lo, x))
}

/// [`clamp`] on AVX.
///
/// # Safety
/// The CPU has AVX.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx")]
unsafe fn clamp_avx(
    x: core::arch::x86_64::__m256,
    lo: core::arch::x86_64::__m256,
    hi: core::arch::x86_64::__m256,
) -> core::arch::x86_64::__m256 {
    use core::arch::x86_64::{_mm256_max_ps, _mm256_min_ps};
    _mm256_min_ps(hi, _mm256_max_ps(lo, x))
}

/// Whether the bounds `[min, max]` clamp anything (an unbounded epilogue skips [`clamp`]).
#[inline(always)]
pub(crate) fn clamps(min: f32, max: f32) -> bool {
    min > f32::NEG_INFINITY || max < f32::INFINITY
}

/// Whether `S` is `V3_512b`, whose masked loads and stores must not be used.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::extra_unused_type_parameters))]
pub(crate) fn broken_masks<S: Simd>() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        core::any::TypeId::of::<S>() == core::any::TypeId::of::<pulp::x86::V3_512b>()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Loads lanes `0..n` from `p`; the other lanes are zero.
///
/// # Safety
/// `n <= S::F32_LANES` and `n` floats are readable at `p`.
#[inline(always)]
pub(crate) unsafe fn load_first<S: Simd>(simd: S, n: usize, p: *const f32) -> S::f32s {
    debug_assert!(n <= S::F32_LANES);
    if broken_masks::<S>() {
        let mut tmp = [0f32; 16];
        assert!(size_of::<S::f32s>() == size_of_val(&tmp));
        // SAFETY: `n <= 16` floats are readable at `p` (caller) and writable in `tmp`; `tmp` has the vector's size
        // and f32s is plain data.
        unsafe {
            core::ptr::copy_nonoverlapping(p, tmp.as_mut_ptr(), n);
            (tmp.as_ptr() as *const S::f32s).read_unaligned()
        }
    } else {
        // SAFETY: the mask selects lanes `0..n`, which are readable (caller).
        unsafe { simd.mask_load_ptr_f32s(simd.mask_between_m32s(0, n as u32), p) }
    }
}

/// Stores lanes `0..n` of `v` at `p`; nothing else is written.
///
/// # Safety
/// `n <= S::F32_LANES` and `n` floats are writable at `p`.
#[inline(always)]
pub(crate) unsafe fn store_first<S: Simd>(simd: S, n: usize, p: *mut f32, v: S::f32s) {
    debug_assert!(n <= S::F32_LANES);
    if broken_masks::<S>() {
        let mut tmp = [0f32; 16];
        assert!(size_of::<S::f32s>() == size_of_val(&tmp));
        // SAFETY: `tmp` has the vector's size; `n <= 16` floats are writable at `p` (caller).
        unsafe {
            (tmp.as_mut_ptr() as *mut S::f32s).write_unaligned(v);
            core::ptr::copy_nonoverlapping(tmp.as_ptr(), p, n);
        }
    } else {
        // SAFETY: the mask selects lanes `0..n`, which are writable (caller).
        unsafe { simd.mask_store_ptr_f32s(simd.mask_between_m32s(0, n as u32), p, v) }
    }
}

/// Hints the CPU to bring the cache line holding `p` into L1. Never faults, whatever `p` is.
#[inline(always)]
pub(crate) fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, even on an invalid address, and changes no state.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values that tell the clamp forms apart: NaN, signed zeros, infinities, the bounds and their neighbours.
    const SPECIAL: [f32; 16] = [
        f32::NAN,
        -f32::NAN,
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        6.0,
        -1.0,
        5.999_999_5,
        6.000_001,
        -1.000_000_1,
        -0.999_999_9,
        1.0e-40,
        -1.0e-40,
        3.0,
        f32::MAX,
    ];

    /// The selects that define [`clamp`], lane by lane.
    fn by_select(x: f32, lo: f32, hi: f32) -> f32 {
        let x = if x < lo { lo } else { x };
        if x > hi { hi } else { x }
    }

    struct Check;
    impl pulp::WithSimd for Check {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let n = S::F32_LANES;
            for &(lo, hi) in
                &[(0.0f32, 6.0f32), (-1.0, 6.0), (-0.0, 0.0), (f32::NEG_INFINITY, 6.0), (0.0, f32::INFINITY)]
            {
                for start in 0..SPECIAL.len() {
                    let xs: Vec<f32> = (0..n).map(|i| SPECIAL[(start + i) % SPECIAL.len()]).collect();
                    // SAFETY: `xs` and `out` hold `n` floats.
                    let x = unsafe { load::<S>(xs.as_ptr()) };
                    let y = clamp(simd, x, simd.splat_f32s(lo), simd.splat_f32s(hi));
                    let mut out = vec![0f32; n];
                    // SAFETY: as above.
                    unsafe { store::<S>(out.as_mut_ptr(), y) };
                    for (i, (&o, &x)) in out.iter().zip(&xs).enumerate() {
                        let want = by_select(x, lo, hi);
                        assert_eq!(
                            o.to_bits(),
                            want.to_bits(),
                            "lane {i}: clamp({x:?}, {lo}, {hi}) = {o:?}, want {want:?} ({} lanes)",
                            n
                        );
                    }
                }
            }
        }
    }

    /// The one-instruction min/max forms agree bit for bit with the selects on every backend this CPU runs.
    #[test]
    fn clamp_matches_selects_bitwise() {
        pulp::Simd::vectorize(pulp::Scalar::new(), Check);
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(s) = pulp::x86::V3::try_new() {
                pulp::Simd::vectorize(s, Check);
            }
            #[cfg(feature = "x86-v4")]
            if let Some(s) = pulp::x86::V4::try_new() {
                pulp::Simd::vectorize(s, Check);
            }
        }
        #[cfg(target_arch = "aarch64")]
        if let Some(s) = pulp::aarch64::Neon::try_new() {
            pulp::Simd::vectorize(s, Check);
        }
    }
}
