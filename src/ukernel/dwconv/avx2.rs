//! AVX2+FMA depthwise kernels (`f32_dwconv_3x3s1_16c__avx2`, `f32_dwconv2d_chw_3x3s1__avx2`, ...), 8 lanes.

use pulp::x86::V3;

super::generic::dw_entry_points!(V3, V3::new_unchecked(), crate::isa::Isa::Avx2, 8, 16, "avx2", Some(split2));

/// Stride-2 split of `n` (even, odd) pairs at `src` into `n` evens at `ev` and `n` odds at `od`, 8 pairs per
/// step with lane permutes (compilers do not vectorise this interleaved access well).
///
/// # Safety
/// The CPU has AVX2; `2 * n` floats are readable at `src`, `n` writable at `ev` and at `od`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn split2(src: *const f32, ev: *mut f32, od: *mut f32, n: usize) {
    use core::arch::x86_64::*;
    // SAFETY: every access is below `2 * n` floats at `src` and `n` floats at `ev` / `od` (contract).
    unsafe {
        let idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
        let mut m = 0;
        while m + 8 <= n {
            // a = e0 e1 e2 e3 o0 o1 o2 o3, b = e4 e5 e6 e7 o4 o5 o6 o7
            let a = _mm256_permutevar8x32_ps(_mm256_loadu_ps(src.add(2 * m)), idx);
            let b = _mm256_permutevar8x32_ps(_mm256_loadu_ps(src.add(2 * m + 8)), idx);
            _mm256_storeu_ps(ev.add(m), _mm256_permute2f128_ps::<0x20>(a, b));
            _mm256_storeu_ps(od.add(m), _mm256_permute2f128_ps::<0x31>(a, b));
            m += 8;
        }
        while m < n {
            *ev.add(m) = *src.add(2 * m);
            *od.add(m) = *src.add(2 * m + 1);
            m += 1;
        }
    }
}
