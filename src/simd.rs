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
    let x = simd.select_f32s(simd.less_than_f32s(x, lo), lo, x);
    simd.select_f32s(simd.greater_than_f32s(x, hi), hi, x)
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
