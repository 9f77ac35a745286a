//! Depthwise convolution micro-kernel bodies, generic over the SIMD backend, the kernel size, the stride and
//! the number of outputs computed per iteration.
//!
//! NHWC kernels put channels in the lanes (tiles of two vectors) and compute one output row of a group of channel
//! tiles per call, pixel-major: for each run of `R` interior output pixels, every tile in turn, so neighbouring
//! outputs share input loads and a pixel's channels stay in L1 across tiles; the 3x3 stride-2 kernel for many
//! channels instead takes tiles of one vector in turn, each over two output rows ([`nhwc_rows`]). NCHW kernels put
//! the pixels of an output row in the lanes and compute a range of output rows of one channel plane per call. The
//! specialised (direct) NCHW kernels read the input plane in place, `RR` output rows by one vector per step so that
//! rows share input-row loads: stride 1 loads each input row once per vector and forms the other taps by shifting
//! lanes in from the row's previous vector; stride 2 splits each pair of input vectors into even and odd columns in
//! registers ([`DwSimd`]). Rows that fit one vector (stride 1), 3x3 rows that fit two (stride 1) and 3x3 stride-2
//! rows of up to four output vectors are instead loaded whole, every tap formed from those vectors with no window
//! carried between steps. The general NCHW kernel reads rows prepared by [`pad_rows`] (zero-padded, split into stride
//! phases).
//!
//! Whatever path computes an output, its arithmetic is the same: `acc = bias`, then one multiply-add per tap in
//! `(ky, kx)` order, then the residual, then the clamp (NaN-preserving). Padded taps are skipped (NHWC, general
//! NCHW) or multiply zeros (direct NCHW); for the finite weights the plan sends here both equal the reference's
//! zero padding. Which path computes an output depends only on its position (but for whether a 3x3 stride-2 row
//! runs alone or with the next, which the same arithmetic makes no difference), so results do not depend on how the
//! driver splits the work.
//!
//! One body serves every ISA (AVX2, AVX-512, NEON, portable and the 16-lane stand-ins that run the AVX-512
//! logic on AVX2 or in portable code).

use crate::simd::{load, store};
use pulp::{MemMask, Simd};

/// The cross-lane shuffles the depthwise kernels need beyond pulp's `Simd`: one instruction or two on AVX-512,
/// AVX2 and NEON, a stack copy on the portable and stand-in backends.
pub trait DwSimd: Simd {
    /// The even and the odd elements of the `2 * lanes` floats `a ++ b`, each in order.
    #[inline(always)]
    fn deinterleave(self, a: Self::f32s, b: Self::f32s) -> (Self::f32s, Self::f32s) {
        let n = Self::F32_LANES;
        let (mut t, mut e, mut o) = ([0f32; 32], [0f32; 16], [0f32; 16]);
        // SAFETY: `n <= 16` lanes: every access stays inside the three arrays.
        unsafe {
            store::<Self>(t.as_mut_ptr(), a);
            store::<Self>(t.as_mut_ptr().add(n), b);
            for j in 0..n {
                e[j] = t[2 * j];
                o[j] = t[2 * j + 1];
            }
            (load::<Self>(e.as_ptr()), load::<Self>(o.as_ptr()))
        }
    }

    /// The even and the odd elements of the `2 * lanes` floats `a ++ b`, both in the same lane order, which
    /// [`DwSimd::split_order`] puts back into element order and [`DwSimd::split_shift_in`] shifts in: on AVX2 and
    /// AVX-512 one in-lane shuffle each (cheaper than [`DwSimd::deinterleave`]'s cross-lane permutes), the exact
    /// split elsewhere.
    #[inline(always)]
    fn split_pairs(self, a: Self::f32s, b: Self::f32s) -> (Self::f32s, Self::f32s) {
        self.deinterleave(a, b)
    }

    /// [`DwSimd::shift_in`] for vectors in [`DwSimd::split_pairs`]' lane order.
    #[inline(always)]
    fn split_shift_in(self, prev: Self::f32s, cur: Self::f32s, r: usize) -> Self::f32s {
        self.shift_in(prev, cur, r)
    }

    /// A vector whose lanes are in [`DwSimd::split_pairs`]' order, in element order.
    #[inline(always)]
    fn split_order(self, v: Self::f32s) -> Self::f32s {
        v
    }

    /// `cur` moved up by `r` lanes (`0 < r < lanes`), the top `r` lanes of `prev` shifted in below:
    /// `[prev[lanes - r..], cur[..lanes - r]]`.
    #[inline(always)]
    fn shift_in(self, prev: Self::f32s, cur: Self::f32s, r: usize) -> Self::f32s {
        self.shift_in_fallback(prev, cur, r)
    }

    /// `v` moved down by `k` lanes (`0 < k < lanes`), zeros shifted in above: `[v[k..], 0; k]`.
    #[inline(always)]
    fn shift_down(self, v: Self::f32s, k: usize) -> Self::f32s {
        self.shift_in_fallback(v, self.splat_f32s(0.0), Self::F32_LANES - k)
    }

    /// Lane `o` of the result is lane `idx[o]` of `v` (every `idx[o] < lanes`; `idx` from [`lane_index`]): one
    /// `vpermps` on AVX2 and AVX-512, a stack copy elsewhere.
    #[inline(always)]
    fn permute(self, v: Self::f32s, idx: Self::u32s) -> Self::f32s {
        let n = Self::F32_LANES;
        let (mut t, mut i, mut o) = ([0f32; 16], [0u32; 16], [0f32; 16]);
        // SAFETY: `n <= 16` lanes: every access stays inside the arrays; indices are below `n` (contract).
        unsafe {
            store::<Self>(t.as_mut_ptr(), v);
            core::ptr::write_unaligned(i.as_mut_ptr().cast::<Self::u32s>(), idx);
            for j in 0..n {
                o[j] = t[i[j] as usize % n];
            }
            load::<Self>(o.as_ptr())
        }
    }

    /// Loads lane `j` from `p + j` where bit `j` of `bits` is set, zero elsewhere; touches no other address.
    ///
    /// # Safety
    /// `p + j` is readable for every set bit `j < lanes` (`p` itself may lie outside any allocation).
    #[inline(always)]
    unsafe fn load_bits(self, bits: u32, p: *const f32) -> Self::f32s {
        let mut t = [0f32; 16];
        for (j, v) in t.iter_mut().enumerate().take(Self::F32_LANES) {
            if bits >> j & 1 != 0 {
                // SAFETY: bit `j` is set (contract).
                *v = unsafe { *p.wrapping_add(j) };
            }
        }
        // SAFETY: `t` holds 16 >= lanes floats.
        unsafe { load::<Self>(t.as_ptr()) }
    }
}

/// The portable [`DwSimd::shift_in`], through a stack copy.
trait DwSimdFallback: Simd {
    #[inline(always)]
    fn shift_in_fallback(self, prev: Self::f32s, cur: Self::f32s, r: usize) -> Self::f32s {
        let n = Self::F32_LANES;
        let (mut t, mut o) = ([0f32; 32], [0f32; 16]);
        // SAFETY: `r < n <= 16` lanes: every access stays inside the arrays.
        unsafe {
            store::<Self>(t.as_mut_ptr(), prev);
            store::<Self>(t.as_mut_ptr().add(n), cur);
            o[..n].copy_from_slice(&t[n - r..2 * n - r]);
            load::<Self>(o.as_ptr())
        }
    }
}
impl<S: Simd> DwSimdFallback for S {}

/// The first `lanes` of `t` as a vector of lane indices for [`DwSimd::permute`].
#[inline(always)]
pub fn lane_index<S: Simd>(t: &[u32; 16]) -> S::u32s {
    const { assert!(core::mem::size_of::<S::u32s>() <= 64) };
    // SAFETY: `S::u32s` is a plain vector of at most 16 `u32`s (checked above), all bit patterns valid.
    unsafe { core::ptr::read_unaligned(t.as_ptr().cast::<S::u32s>()) }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::simd::bits;

impl DwSimd for pulp::Scalar {}
impl DwSimd for pulp::Scalar512b {}
#[cfg(target_arch = "x86_64")]
impl DwSimd for pulp::x86::V3_512b {}

/// The lane of split element `j` (`j < lanes`) in the in-lane [`DwSimd::split_pairs`] order of AVX2 (8 lanes) and
/// AVX-512 (16): 128-bit lane L holds split elements 2L, 2L + 1, 2L + lanes / 2, 2L + lanes / 2 + 1.
#[cfg(target_arch = "x86_64")]
const fn split_lane(lanes: usize, j: usize) -> usize {
    let half = lanes / 2;
    4 * ((j % half) / 2) + 2 * (j / half) + j % 2
}

/// Permute indices that put the in-lane split order of `N` lanes back into element order: lane `j` takes the lane
/// holding split element `j`.
#[cfg(target_arch = "x86_64")]
const fn split_order_table<const N: usize>() -> [i32; N] {
    let mut t = [0i32; N];
    let mut j = 0;
    while j < N {
        t[j] = split_lane(N, j) as i32;
        j += 1;
    }
    t
}

/// Where split element `j` of a shift in by `r` lanes (`0 < r < lanes`) comes from, both vectors in the in-lane
/// split order: `(false, lane)` of the current vector (element `j - r`), or `(true, lane)` of the previous one
/// (element `lanes + j - r`).
#[cfg(target_arch = "x86_64")]
const fn split_shift_source(lanes: usize, j: usize, r: usize) -> (bool, usize) {
    if j >= r { (false, split_lane(lanes, j - r)) } else { (true, split_lane(lanes, lanes + j - r)) }
}

/// `_mm256_permutevar8x32_ps` indices of AVX2's [`DwSimd::split_order`].
#[cfg(target_arch = "x86_64")]
static V3_SPLIT_ORDER: [i32; 8] = split_order_table::<8>();

/// AVX2's [`DwSimd::split_shift_in`], row `r - 1` for a shift by `r` lanes: `[indices into cur, indices into prev,
/// blend mask]`. The lane holding split element `j` takes element `j - r` of `cur`, or (mask set) element `8 + j -
/// r` of `prev` below zero.
#[cfg(target_arch = "x86_64")]
static V3_SPLIT_SHIFT: [[[i32; 8]; 3]; 7] = {
    let mut t = [[[0i32; 8]; 3]; 7];
    let mut r = 1;
    while r < 8 {
        let mut j = 0;
        while j < 8 {
            let (from_prev, src) = split_shift_source(8, j, r);
            let l = split_lane(8, j);
            t[r - 1][from_prev as usize][l] = src as i32;
            if from_prev {
                t[r - 1][2][l] = -1;
            }
            j += 1;
        }
        r += 1;
    }
    t
};

#[cfg(target_arch = "x86_64")]
impl DwSimd for pulp::x86::V3 {
    #[inline(always)]
    fn permute(self, v: Self::f32s, idx: Self::u32s) -> Self::f32s {
        use core::arch::x86_64::{__m256, __m256i};
        bits(self.avx2._mm256_permutevar8x32_ps(bits::<_, __m256>(v), bits::<_, __m256i>(idx)))
    }

    #[inline(always)]
    fn deinterleave(self, a: Self::f32s, b: Self::f32s) -> (Self::f32s, Self::f32s) {
        use core::arch::x86_64::__m256;
        let (a, b): (__m256, __m256) = (bits(a), bits(b));
        let idx = self.avx._mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
        // a = e0 e1 e2 e3 o0 o1 o2 o3, b = e4 e5 e6 e7 o4 o5 o6 o7
        let a = self.avx2._mm256_permutevar8x32_ps(a, idx);
        let b = self.avx2._mm256_permutevar8x32_ps(b, idx);
        let e = self.avx._mm256_permute2f128_ps::<0x20>(a, b);
        let o = self.avx._mm256_permute2f128_ps::<0x31>(a, b);
        (bits(e), bits(o))
    }

    #[inline(always)]
    fn split_pairs(self, a: Self::f32s, b: Self::f32s) -> (Self::f32s, Self::f32s) {
        use core::arch::x86_64::__m256;
        let (a, b): (__m256, __m256) = (bits(a), bits(b));
        // Lanes 4L..4L + 4 (128-bit lane L) take a[4L], a[4L + 2], b[4L], b[4L + 2] (and the odd ones): split
        // elements 2L, 2L + 1, 2L + 4, 2L + 5 ([`split_lane`]).
        (bits(self.avx._mm256_shuffle_ps::<0x88>(a, b)), bits(self.avx._mm256_shuffle_ps::<0xDD>(a, b)))
    }

    #[inline(always)]
    fn split_shift_in(self, prev: Self::f32s, cur: Self::f32s, r: usize) -> Self::f32s {
        use core::arch::x86_64::{__m256, __m256i};
        // `r < lanes` (contract).
        let t = &V3_SPLIT_SHIFT[r - 1];
        // SAFETY: each row holds 8 indices or mask words; this backend implies AVX2.
        let (ic, ip, m): (__m256i, __m256i, __m256) = unsafe {
            (
                self.avx._mm256_loadu_si256(t[0].as_ptr().cast()),
                self.avx._mm256_loadu_si256(t[1].as_ptr().cast()),
                self.avx._mm256_castsi256_ps(self.avx._mm256_loadu_si256(t[2].as_ptr().cast())),
            )
        };
        let c = self.avx2._mm256_permutevar8x32_ps(bits::<_, __m256>(cur), ic);
        let p = self.avx2._mm256_permutevar8x32_ps(bits::<_, __m256>(prev), ip);
        bits(self.avx._mm256_blendv_ps(c, p, m))
    }

    #[inline(always)]
    fn split_order(self, v: Self::f32s) -> Self::f32s {
        use core::arch::x86_64::__m256;
        // SAFETY: 8 indices; this backend implies AVX2.
        let idx = unsafe { self.avx._mm256_loadu_si256(V3_SPLIT_ORDER.as_ptr().cast()) };
        bits(self.avx2._mm256_permutevar8x32_ps(bits::<_, __m256>(v), idx))
    }

    #[inline(always)]
    fn shift_in(self, prev: Self::f32s, cur: Self::f32s, r: usize) -> Self::f32s {
        use core::arch::x86_64::{__m256, __m256i};
        let (p, c): (__m256, __m256) = (bits(prev), bits(cur));
        // t = prev[4..8] ++ cur[0..4]; per 128-bit half, `alignr(cur, t, 4 * (4 - r))` takes the top `r` lanes
        // of t's half and the bottom `4 - r` of cur's: [prev[8 - r..8], cur[0..4 - r] | cur[4 - r..8 - r]].
        // For r > 4, `alignr(t, prev, 4 * (8 - r))`: [prev[8 - r..4 + 8 - r] | prev[12 - r..8], cur[0..8 - r]].
        let t = self.avx._mm256_permute2f128_ps::<0x21>(p, c);
        let (ti, ci, pi): (__m256i, __m256i, __m256i) = (bits(t), bits(c), bits(p));
        let v: __m256i = match r {
            1 => self.avx2._mm256_alignr_epi8::<12>(ci, ti),
            2 => self.avx2._mm256_alignr_epi8::<8>(ci, ti),
            3 => self.avx2._mm256_alignr_epi8::<4>(ci, ti),
            4 => ti,
            5 => self.avx2._mm256_alignr_epi8::<12>(ti, pi),
            6 => self.avx2._mm256_alignr_epi8::<8>(ti, pi),
            7 => self.avx2._mm256_alignr_epi8::<4>(ti, pi),
            _ => return <Self as DwSimdFallback>::shift_in_fallback(self, prev, cur, r),
        };
        bits(v)
    }

    #[inline(always)]
    fn shift_down(self, v: Self::f32s, k: usize) -> Self::f32s {
        use core::arch::x86_64::{__m256, __m256i};
        let v: __m256 = bits(v);
        // t = v[4..8] ++ zeros; per 128-bit half, `alignr(t, v, 4 * k)`: [v[k..4], v[4..4 + k] | v[4 + k..8], 0].
        let t = self.avx._mm256_permute2f128_ps::<0x81>(v, v);
        let (ti, vi): (__m256i, __m256i) = (bits(t), bits(v));
        let r: __m256i = match k {
            1 => self.avx2._mm256_alignr_epi8::<4>(ti, vi),
            2 => self.avx2._mm256_alignr_epi8::<8>(ti, vi),
            3 => self.avx2._mm256_alignr_epi8::<12>(ti, vi),
            4 => ti,
            _ => return <Self as DwSimdFallback>::shift_in_fallback(self, bits(v), self.splat_f32s(0.0), 8 - k),
        };
        bits(r)
    }
}

/// `_mm512_permutexvar_ps` indices of AVX-512's [`DwSimd::split_order`].
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
static V4_SPLIT_ORDER: [i32; 16] = split_order_table::<16>();

/// `_mm512_permutex2var_ps(prev, idx, cur)` indices of AVX-512's [`DwSimd::split_shift_in`], row `r - 1` for a
/// shift by `r` lanes: the lane holding split element `j` takes element `j - r` of `cur`, or of `prev` (its
/// element `16 + j - r`) below zero.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
static V4_SPLIT_SHIFT: [[i32; 16]; 15] = {
    let mut t = [[0i32; 16]; 15];
    let mut r = 1;
    while r < 16 {
        let mut j = 0;
        while j < 16 {
            let (from_prev, src) = split_shift_source(16, j, r);
            t[r - 1][split_lane(16, j)] = if from_prev { src } else { 16 + src } as i32;
            j += 1;
        }
        r += 1;
    }
    t
};

#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
impl DwSimd for pulp::x86::V4 {
    #[inline(always)]
    fn permute(self, v: Self::f32s, idx: Self::u32s) -> Self::f32s {
        use core::arch::x86_64::{__m512, __m512i};
        bits(self.avx512f._mm512_permutexvar_ps(bits::<_, __m512i>(idx), bits::<_, __m512>(v)))
    }

    #[inline(always)]
    fn deinterleave(self, a: Self::f32s, b: Self::f32s) -> (Self::f32s, Self::f32s) {
        use core::arch::x86_64::__m512;
        let (a, b): (__m512, __m512) = (bits(a), bits(b));
        let f = self.avx512f;
        let ie = f._mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let io = f._mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        (bits(f._mm512_permutex2var_ps(a, ie, b)), bits(f._mm512_permutex2var_ps(a, io, b)))
    }

    #[inline(always)]
    fn split_pairs(self, a: Self::f32s, b: Self::f32s) -> (Self::f32s, Self::f32s) {
        use core::arch::x86_64::__m512;
        let (a, b): (__m512, __m512) = (bits(a), bits(b));
        let f = self.avx512f;
        // Lanes 4L..4L + 4 (128-bit lane L) take a[4L], a[4L + 2], b[4L], b[4L + 2] (and the odd ones): split
        // elements 2L, 2L + 1, 2L + 8, 2L + 9 ([`split_lane`]).
        (bits(f._mm512_shuffle_ps::<0x88>(a, b)), bits(f._mm512_shuffle_ps::<0xDD>(a, b)))
    }

    #[inline(always)]
    fn split_shift_in(self, prev: Self::f32s, cur: Self::f32s, r: usize) -> Self::f32s {
        use core::arch::x86_64::__m512;
        let f = self.avx512f;
        // `r < lanes` (contract).
        let t = &V4_SPLIT_SHIFT[r - 1];
        // SAFETY: `t` holds 16 indices; this backend implies AVX-512F.
        let idx = unsafe { f._mm512_loadu_si512(t.as_ptr().cast()) };
        bits(f._mm512_permutex2var_ps(bits::<_, __m512>(prev), idx, bits::<_, __m512>(cur)))
    }

    #[inline(always)]
    fn split_order(self, v: Self::f32s) -> Self::f32s {
        use core::arch::x86_64::__m512;
        let f = self.avx512f;
        // SAFETY: 16 indices; this backend implies AVX-512F.
        let idx = unsafe { f._mm512_loadu_si512(V4_SPLIT_ORDER.as_ptr().cast()) };
        bits(f._mm512_permutexvar_ps(idx, bits::<_, __m512>(v)))
    }

    #[inline(always)]
    fn shift_in(self, prev: Self::f32s, cur: Self::f32s, r: usize) -> Self::f32s {
        use core::arch::x86_64::__m512i;
        let (p, c): (__m512i, __m512i) = (bits(prev), bits(cur));
        let f = self.avx512f;
        // `alignr_epi32::<N>(c, p)` is lanes `N..N + 16` of `p ++ c`.
        let v = match r {
            1 => f._mm512_alignr_epi32::<15>(c, p),
            2 => f._mm512_alignr_epi32::<14>(c, p),
            3 => f._mm512_alignr_epi32::<13>(c, p),
            4 => f._mm512_alignr_epi32::<12>(c, p),
            5 => f._mm512_alignr_epi32::<11>(c, p),
            6 => f._mm512_alignr_epi32::<10>(c, p),
            7 => f._mm512_alignr_epi32::<9>(c, p),
            8 => f._mm512_alignr_epi32::<8>(c, p),
            9 => f._mm512_alignr_epi32::<7>(c, p),
            10 => f._mm512_alignr_epi32::<6>(c, p),
            11 => f._mm512_alignr_epi32::<5>(c, p),
            12 => f._mm512_alignr_epi32::<4>(c, p),
            13 => f._mm512_alignr_epi32::<3>(c, p),
            14 => f._mm512_alignr_epi32::<2>(c, p),
            15 => f._mm512_alignr_epi32::<1>(c, p),
            _ => return <Self as DwSimdFallback>::shift_in_fallback(self, prev, cur, r),
        };
        bits(v)
    }

    #[inline(always)]
    fn shift_down(self, v: Self::f32s, k: usize) -> Self::f32s {
        use core::arch::x86_64::__m512i;
        let f = self.avx512f;
        let (v, z): (__m512i, __m512i) = (bits(v), f._mm512_setzero_si512());
        // `alignr_epi32::<N>(z, v)` is lanes `N..N + 16` of `v ++ z`.
        let r = match k {
            1 => f._mm512_alignr_epi32::<1>(z, v),
            2 => f._mm512_alignr_epi32::<2>(z, v),
            3 => f._mm512_alignr_epi32::<3>(z, v),
            4 => f._mm512_alignr_epi32::<4>(z, v),
            _ => return <Self as DwSimdFallback>::shift_in_fallback(self, bits(v), self.splat_f32s(0.0), 16 - k),
        };
        bits(r)
    }

    #[inline(always)]
    unsafe fn load_bits(self, m: u32, p: *const f32) -> Self::f32s {
        // SAFETY: masked-off lanes are not accessed (AVX-512 fault suppression); set lanes are readable
        // (contract); this backend implies AVX-512F.
        bits(unsafe { core::arch::x86_64::_mm512_maskz_loadu_ps(m as u16, p) })
    }
}

#[cfg(target_arch = "aarch64")]
impl DwSimd for pulp::aarch64::Neon {
    #[inline(always)]
    fn deinterleave(self, a: Self::f32s, b: Self::f32s) -> (Self::f32s, Self::f32s) {
        use core::arch::aarch64::float32x4_t;
        let (a, b): (float32x4_t, float32x4_t) = (bits(a), bits(b));
        (bits(self.neon.vuzp1q_f32(a, b)), bits(self.neon.vuzp2q_f32(a, b)))
    }

    #[inline(always)]
    fn permute(self, v: Self::f32s, idx: Self::u32s) -> Self::f32s {
        use core::arch::aarch64::{float32x4_t, uint32x4_t, vaddq_u32, vdupq_n_u32, vmulq_n_u32, vqtbl1q_u8};
        use core::arch::aarch64::{vreinterpretq_f32_u8, vreinterpretq_u8_f32, vreinterpretq_u8_u32};
        let (v, i): (float32x4_t, uint32x4_t) = (bits(v), bits(idx));
        // SAFETY: NEON is part of the aarch64 baseline this backend runs on. Lane index `i` becomes the bytes
        // `4i .. 4i + 4` of a byte table lookup.
        unsafe {
            let b = vaddq_u32(vmulq_n_u32(i, 4 * 0x0101_0101), vdupq_n_u32(0x0302_0100));
            bits(vreinterpretq_f32_u8(vqtbl1q_u8(vreinterpretq_u8_f32(v), vreinterpretq_u8_u32(b))))
        }
    }

    #[inline(always)]
    fn shift_in(self, prev: Self::f32s, cur: Self::f32s, r: usize) -> Self::f32s {
        use core::arch::aarch64::float32x4_t;
        let (p, c): (float32x4_t, float32x4_t) = (bits(prev), bits(cur));
        // `vextq_f32::<N>(p, c)` is lanes `N..N + 4` of `p ++ c`.
        let v = match r {
            1 => self.neon.vextq_f32::<3>(p, c),
            2 => self.neon.vextq_f32::<2>(p, c),
            3 => self.neon.vextq_f32::<1>(p, c),
            _ => return <Self as DwSimdFallback>::shift_in_fallback(self, prev, cur, r),
        };
        bits(v)
    }

    #[inline(always)]
    fn shift_down(self, v: Self::f32s, k: usize) -> Self::f32s {
        use core::arch::aarch64::float32x4_t;
        let (v, z): (float32x4_t, float32x4_t) = (bits(v), bits(self.splat_f32s(0.0)));
        // `vextq_f32::<N>(v, z)` is lanes `N..N + 4` of `v ++ z`.
        let r = match k {
            1 => self.neon.vextq_f32::<1>(v, z),
            2 => self.neon.vextq_f32::<2>(v, z),
            3 => self.neon.vextq_f32::<3>(v, z),
            _ => return <Self as DwSimdFallback>::shift_in_fallback(self, bits(v), bits(z), 4 - k),
        };
        bits(r)
    }
}

/// Lanes `lo..hi` of a vector: the pulp mask and its bounds.
#[derive(Clone, Copy)]
struct Lanes<S: Simd> {
    m: MemMask<S::m32s>,
    lo: usize,
    hi: usize,
}

impl<S: Simd> Lanes<S> {
    #[inline(always)]
    fn new(simd: S, lo: usize, hi: usize) -> Self {
        // `MemMask::new` keeps only the lane mask: x86 then uses plain masked moves rather than pulp's
        // out-of-line load/store stubs.
        // An empty range is asked for as 0..0: pulp 0.22.3's AVX-512 mask table has no row for a start of 16
        // (`mask_between_m32s(16, 16)` indexes past it).
        let (a, b) = if lo < hi { (lo as u32, hi as u32) } else { (0, 0) };
        Lanes { m: MemMask::new(simd.mask_between_m32s(a, b).mask()), lo, hi }
    }
}

/// Whether masked stores should use the instruction: not on AVX2 (`vpmaskmovd` to memory is microcoded and slow
/// on AMD cores; a stack copy and scalar stores are faster) nor on `V3_512b` (see [`crate::simd::broken_masks`]).
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::extra_unused_type_parameters))]
fn native_mask_stores<S: Simd>() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use core::any::TypeId;
        TypeId::of::<S>() != TypeId::of::<pulp::x86::V3>() && TypeId::of::<S>() != TypeId::of::<pulp::x86::V3_512b>()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        true
    }
}

/// Loads lanes `m.lo..m.hi` from `p`, zeroes the others; touches no other address.
///
/// # Safety
/// `p + l` is readable for `l` in `m.lo..m.hi`.
#[inline(always)]
unsafe fn mask_load<S: Simd>(simd: S, m: Lanes<S>, p: *const f32) -> S::f32s {
    // SAFETY: only the enabled lanes are read (contract).
    unsafe {
        if !crate::simd::broken_masks::<S>() {
            simd.mask_load_ptr_f32s(m.m, p)
        } else {
            let mut t = [0f32; 16];
            for (l, v) in t.iter_mut().enumerate().take(m.hi).skip(m.lo) {
                *v = *p.add(l);
            }
            load::<S>(t.as_ptr())
        }
    }
}

/// Stores lanes `m.lo..m.hi` of `v` at `p`; touches no other address.
///
/// # Safety
/// `p + l` is writable for `l` in `m.lo..m.hi`.
#[inline(always)]
unsafe fn mask_store<S: Simd>(simd: S, m: Lanes<S>, p: *mut f32, v: S::f32s) {
    // SAFETY: only the enabled lanes are written (contract).
    unsafe {
        if native_mask_stores::<S>() {
            simd.mask_store_ptr_f32s(m.m, p, v)
        } else {
            let mut t = [0f32; 16];
            store::<S>(t.as_mut_ptr(), v);
            for (l, v) in t.iter().enumerate().take(m.hi).skip(m.lo) {
                *p.add(l) = *v;
            }
        }
    }
}

/// A full load, or a masked one (`M`) that touches only the lanes the mask enables and zeroes the others.
#[inline(always)]
unsafe fn ld<S: Simd, const M: bool>(simd: S, mask: Lanes<S>, p: *const f32) -> S::f32s {
    // SAFETY: the caller guarantees the enabled lanes (all lanes when `!M`) at `p` are readable.
    unsafe { if M { mask_load(simd, mask, p) } else { load::<S>(p) } }
}

/// The fused epilogue shared by every kernel: residual add, NaN-preserving clamp, full or masked store.
#[derive(Clone, Copy)]
struct Epilogue<S: Simd> {
    lo: S::f32s,
    hi: S::f32s,
    clamp: bool,
}

impl<S: Simd> Epilogue<S> {
    #[inline(always)]
    fn new(simd: S, min: f32, max: f32) -> Self {
        Epilogue { lo: simd.splat_f32s(min), hi: simd.splat_f32s(max), clamp: crate::simd::clamps(min, max) }
    }

    /// Writes `acc (+ res[off]) clamped` to `y[off..]`, reading the residual before writing (it may alias `y`).
    ///
    /// # Safety
    /// The enabled lanes at `y + off` are writable and, unless `res` is null, readable at `res + off`.
    #[inline(always)]
    unsafe fn finish<const M: bool>(
        self,
        simd: S,
        mut acc: S::f32s,
        y: *mut f32,
        res: *const f32,
        off: usize,
        mask: Lanes<S>,
    ) {
        // SAFETY: forwarded contract.
        unsafe {
            if !res.is_null() {
                acc = simd.add_f32s(acc, ld::<S, M>(simd, mask, res.add(off)));
            }
            if self.clamp {
                acc = crate::simd::clamp(simd, acc, self.lo, self.hi);
            }
            if M {
                mask_store(simd, mask, y.add(off), acc);
            } else {
                store::<S>(y.add(off), acc);
            }
        }
    }

    /// [`Epilogue::finish`] for a tile's masked last vector ([`Last`]): lanes `last.m` at `y + off` and, for a wrap
    /// vector (`last.yb > 0`), lanes `last.mb` `last.yb` floats before it (the residual likewise).
    ///
    /// # Safety
    /// As [`Epilogue::finish`] for the enabled lanes of both parts.
    #[inline(always)]
    unsafe fn finish_last(self, simd: S, mut acc: S::f32s, y: *mut f32, res: *const f32, off: usize, last: Last<S>) {
        // SAFETY: forwarded contract; the address `last.yb` floats below `y + off` (or `res + off`) may lie before
        // the buffer: it is formed with wrapping arithmetic and only the lanes `last.mb` enables, inside it, are
        // accessed.
        unsafe {
            if !res.is_null() {
                acc = simd.add_f32s(acc, last.load(simd, res.add(off), last.yb));
            }
            if self.clamp {
                acc = crate::simd::clamp(simd, acc, self.lo, self.hi);
            }
            let p = y.add(off);
            mask_store(simd, last.m, p, acc);
            if last.yb != 0 {
                mask_store(simd, last.mb, p.wrapping_sub(last.yb), acc);
            }
        }
    }

    /// [`Epilogue::finish`] for `NV` consecutive vectors, the last one masked (or a wrap vector) when `M`.
    ///
    /// # Safety
    /// As [`Epilogue::finish`] for each vector.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn finish_tile<const NV: usize, const M: bool>(
        self,
        simd: S,
        acc: [S::f32s; NV],
        y: *mut f32,
        res: *const f32,
        off: usize,
        last: Last<S>,
    ) {
        // SAFETY: forwarded contract.
        unsafe {
            for (v, a) in acc.into_iter().enumerate() {
                if M && v + 1 == NV {
                    self.finish_last(simd, a, y, res, off + v * S::F32_LANES, last);
                } else {
                    self.finish::<false>(simd, a, y, res, off + v * S::F32_LANES, last.m);
                }
            }
        }
    }
}

/// The lanes of an NHWC tile's last vector when it is masked: `m` at its address; for a *wrap* vector (`xb > 0`)
/// also `mb`, the lanes that lie `xb` floats before it in the input (`yb` in the output and residual).
#[derive(Clone, Copy)]
struct Last<S: Simd> {
    m: Lanes<S>,
    mb: Lanes<S>,
    xb: usize,
    yb: usize,
}

impl<S: Simd> Last<S> {
    /// Lanes `m` from `p` and, when `back > 0`, lanes `mb` from `back` floats before it, zeros elsewhere.
    ///
    /// # Safety
    /// The enabled lanes at both addresses are readable.
    #[inline(always)]
    unsafe fn load(self, simd: S, p: *const f32, back: usize) -> S::f32s {
        // SAFETY: forwarded contract; the address `back` floats before `p` is formed with wrapping arithmetic and
        // read only in the lanes `mb` enables.
        unsafe {
            let a = mask_load(simd, self.m, p);
            if back == 0 {
                return a;
            }
            let b = mask_load(simd, self.mb, p.wrapping_sub(back));
            simd.select_f32s(self.mb.m.mask(), b, a)
        }
    }
}

/// Loads the `NV` vectors of a tile at `p`, the last one masked (or a wrap vector) when `M`.
///
/// # Safety
/// The first `NV - 1` vectors and the enabled lanes of the last are readable.
#[inline(always)]
unsafe fn ld_tile<S: Simd, const NV: usize, const M: bool>(simd: S, last: Last<S>, p: *const f32) -> [S::f32s; NV] {
    let mut t = [simd.splat_f32s(0.0); NV];
    // SAFETY: forwarded contract.
    unsafe {
        for (v, x) in t.iter_mut().enumerate() {
            *x = if M && v + 1 == NV {
                last.load(simd, p.add(v * S::F32_LANES), last.xb)
            } else {
                load::<S>(p.add(v * S::F32_LANES))
            };
        }
    }
    t
}

// ---------------------------------------------------------------------------------------------------------------
// NHWC: channels in lanes, one output row (or two) of a group of channel tiles per call.
// ---------------------------------------------------------------------------------------------------------------

/// One NHWC output row over `tiles` consecutive channel tiles of `tw = nv * lanes` channels (`nv` the kernel's
/// vectors per tile); tile `t` starts at channel `t * tw` and the last one holds `nc_last` channels. With `wrap >
/// 0` (`wrap < lanes`) the last vector of the last tile is a *wrap* vector: its lanes `0..wrap` are read and
/// written at its address, its lanes `wrap..lanes` `x_stride` floats before it (`y_stride` in the output and
/// residual): the channels that precede the first tile in the same pixel. A misaligned input runs with tiles
/// starting at the first vector boundary of each pixel (`lanes - wrap` channels in) so that every other vector
/// is aligned, the pixel's first and last channels sharing one vector.
///
/// A kernel that takes two output rows a call ([`DwKernel::pair`](super::DwKernel::pair)) may be given
/// `out_rows == 2`: rows `oy` and `oy + 1` of the same image, output row `j` reading `rows[j * stride + ky]` and
/// written `j * y_row` floats after `y` (the residual likewise); every other kernel gets `out_rows == 1`.
///
/// Pointer contract (checked by the driver, relied on here):
/// - `rows.len() == kh + (out_rows - 1) * stride`. `rows[ky]` points at channel 0 of the first tile of input
///   pixel 0 of the row tap `ky` reads, or is null for a padded row (its taps are skipped). Channel `c` of tile
///   `t` of pixel `ix` is at `rows[ky] + ix * x_stride + t * tw + c`, readable for `ix < in_w` and `c < tw` (`c <
///   nc_last` in the last tile; a wrap vector's lanes where described above).
/// - `w` points at the first tile's packed weights, `[bias nv * lanes][kh * kw taps][nv * lanes]`, the next tile
///   `w_stride` floats further.
/// - `[ox_lo, ox_hi)` is the interior: every tap `ix = ox * stride + kx * dilation - pad_left` of these outputs
///   lies inside `0..in_w`. Other outputs skip their padded taps.
/// - Output channel `c` of tile `t` of pixel `ox` is written at `y + ox * y_stride + t * nv * lanes + c` (`ox <
///   ow`, `c` as for the input); `res` (null for none) is read at the same offsets, before the write (it may be
///   `y` itself).
#[derive(Clone, Copy, Debug)]
pub struct NhwcRow<'a> {
    pub rows: &'a [*const f32],
    pub w: *const f32,
    pub w_stride: usize,
    pub tiles: usize,
    pub nc_last: usize,
    pub wrap: usize,
    pub x_stride: usize,
    pub in_w: usize,
    pub kw: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_left: usize,
    pub ow: usize,
    pub ox_lo: usize,
    pub ox_hi: usize,
    pub y: *mut f32,
    pub res: *const f32,
    pub y_stride: usize,
    /// Output rows of the call: 1, or 2 for a kernel that takes two (see above).
    pub out_rows: usize,
    /// Floats between the call's output rows (and residual rows) when `out_rows == 2`.
    pub y_row: usize,
    pub min: f32,
    pub max: f32,
    /// Input and output channels per group: 1 for depthwise; for the grouped kernel ([`nhwc_grouped`]) output
    /// channel `c` of a tile reads the `group` input channels `c - c % group ..` of the same tile (tiles start on a
    /// group boundary, `group` divides the lanes).
    pub group: usize,
}

impl NhwcRow<'_> {
    /// The output and residual (null for none) of the call's output row `j`, `j * y_row` floats after row 0's.
    ///
    /// # Safety
    /// `j < out_rows` ([`NhwcRow`]'s contract).
    #[inline(always)]
    unsafe fn out_row(&self, j: usize) -> (*mut f32, *const f32) {
        // SAFETY: row `j` of the call lies inside the output (and residual) (contract).
        unsafe {
            (self.y.add(j * self.y_row), if self.res.is_null() { self.res } else { self.res.add(j * self.y_row) })
        }
    }
}

/// Per-tile constants of an NHWC kernel computing `NV` vectors per pixel (`tw` floats between weight taps).
#[derive(Clone, Copy)]
struct NhwcTile<S: Simd, const NV: usize> {
    last: Last<S>,
    bias: [S::f32s; NV],
    epi: Epilogue<S>,
    /// The tile's first tap weights.
    w: *const f32,
    /// Channel offset of the tile.
    c0: usize,
    tw: usize,
}

/// The constants of tile `t` (`tw` floats wide), whose last of `NV` vectors holds `nc - (NV - 1) * lanes`
/// channels.
///
/// # Safety
/// Tile `t` exists ([`NhwcRow`]'s contract).
#[inline(always)]
unsafe fn nhwc_tile<S: Simd, const NV: usize, const M: bool>(
    simd: S,
    a: &NhwcRow<'_>,
    epi: Epilogue<S>,
    t: usize,
    nc: usize,
    tw: usize,
) -> NhwcTile<S, NV> {
    let lanes = S::F32_LANES;
    let wrap = if M && t + 1 == a.tiles { a.wrap } else { 0 };
    let hi = if wrap > 0 {
        wrap
    } else if M {
        nc - (NV - 1) * lanes
    } else {
        lanes
    };
    let (xb, yb) = if wrap > 0 { (a.x_stride, a.y_stride) } else { (0, 0) };
    // SAFETY: the tile's packed weights start with `tw >= NV * lanes` bias floats (contract).
    unsafe {
        let wt = a.w.add(t * a.w_stride);
        let mut bias = [simd.splat_f32s(0.0); NV];
        for (v, b) in bias.iter_mut().enumerate() {
            *b = load::<S>(wt.add(v * lanes));
        }
        NhwcTile {
            last: Last {
                m: Lanes::new(simd, 0, hi),
                mb: Lanes::new(simd, hi, if wrap > 0 { lanes } else { hi }),
                xb,
                yb,
            },
            bias,
            epi,
            w: wt.add(tw),
            c0: t * tw,
            tw,
        }
    }
}

/// One output pixel of one tile through the general tap loop; `CHECK` skips taps outside the input row.
///
/// # Safety
/// [`NhwcRow`]'s contract; without `CHECK`, `ox` lies in the interior.
#[inline(always)]
unsafe fn nhwc_pixel<S: Simd, const NV: usize, const M: bool, const CHECK: bool>(
    simd: S,
    a: &NhwcRow<'_>,
    c: NhwcTile<S, NV>,
    ox: usize,
) {
    let lanes = S::F32_LANES;
    let mut acc = c.bias;
    let ix0 = (ox * a.stride) as isize - a.pad_left as isize;
    // SAFETY: only taps of present rows inside `0..in_w` are read (checked, or guaranteed by the interior);
    // weights hold kh * kw taps.
    unsafe {
        for (ky, &row) in a.rows.iter().enumerate() {
            if row.is_null() {
                continue;
            }
            let wr = c.w.add(ky * a.kw * c.tw);
            for kx in 0..a.kw {
                let ix = ix0 + (kx * a.dilation) as isize;
                if CHECK && (ix < 0 || ix >= a.in_w as isize) {
                    continue;
                }
                let x = ld_tile::<S, NV, M>(simd, c.last, row.add(ix as usize * a.x_stride + c.c0));
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = simd.mul_add_e_f32s(x[v], load::<S>(wr.add(kx * c.tw + v * lanes)), *acc);
                }
            }
        }
        c.epi.finish_tile::<NV, M>(simd, acc, a.y, a.res, ox * a.y_stride + c.c0, c.last);
    }
}

/// One border output pixel of one tile of a `K x K` kernel: the tap loops are unrolled and padded taps skipped.
///
/// # Safety
/// [`NhwcRow`]'s contract.
#[inline(always)]
unsafe fn nhwc_border<S: Simd, const K: usize, const NV: usize, const M: bool>(
    simd: S,
    a: &NhwcRow<'_>,
    rows: &[*const f32; K],
    c: NhwcTile<S, NV>,
    ox: usize,
) {
    let lanes = S::F32_LANES;
    let mut acc = c.bias;
    let ix0 = (ox * a.stride) as isize - a.pad_left as isize;
    // SAFETY: only taps of present rows inside `0..in_w` are read; weights hold `K * K` taps.
    unsafe {
        for (ky, &row) in rows.iter().enumerate() {
            if row.is_null() {
                continue;
            }
            for kx in 0..K {
                let ix = ix0 + kx as isize;
                if ix < 0 || ix >= a.in_w as isize {
                    continue;
                }
                let x = ld_tile::<S, NV, M>(simd, c.last, row.add(ix as usize * a.x_stride + c.c0));
                let wr = c.w.add((ky * K + kx) * c.tw);
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = simd.mul_add_e_f32s(x[v], load::<S>(wr.add(v * lanes)), *acc);
                }
            }
        }
        c.epi.finish_tile::<NV, M>(simd, acc, a.y, a.res, ox * a.y_stride + c.c0, c.last);
    }
}

/// `R` neighbouring interior outputs of one tile of a `K x K`, stride-`ST` kernel: each input vector is loaded
/// once and used by every output it feeds; the kernel row's weights are loaded once for all `R` outputs.
///
/// # Safety
/// [`NhwcRow`]'s contract, with `ox .. ox + R` inside the interior.
#[inline(always)]
unsafe fn nhwc_segment<S: Simd, const K: usize, const ST: usize, const R: usize, const NV: usize, const M: bool>(
    simd: S,
    a: &NhwcRow<'_>,
    rows: &[*const f32; K],
    c: NhwcTile<S, NV>,
    ox: usize,
) {
    let (xs, lanes) = (a.x_stride, S::F32_LANES);
    let mut acc = [c.bias; R];
    // SAFETY: interior outputs read pixels `ox * ST - pad_left ..= (ox + R - 1) * ST - pad_left + K - 1` of
    // present rows, all inside the row; outputs `ox .. ox + R` are inside the output row; weight rows hold `K`
    // taps.
    unsafe {
        let ix0 = ox * ST - a.pad_left;
        for (ky, &row) in rows.iter().enumerate() {
            if row.is_null() {
                continue;
            }
            let mut w = [[c.bias[0]; NV]; K];
            for (kx, wk) in w.iter_mut().enumerate() {
                for (v, wv) in wk.iter_mut().enumerate() {
                    *wv = load::<S>(c.w.add((ky * K + kx) * c.tw + v * lanes));
                }
            }
            let row = row.add(ix0 * xs + c.c0);
            for j in 0..(R - 1) * ST + K {
                let x = ld_tile::<S, NV, M>(simd, c.last, row.add(j * xs));
                for (r, acc) in acc.iter_mut().enumerate() {
                    if j >= r * ST && j - r * ST < K {
                        for v in 0..NV {
                            acc[v] = simd.mul_add_e_f32s(x[v], w[j - r * ST][v], acc[v]);
                        }
                    }
                }
            }
        }
        for (r, acc) in acc.into_iter().enumerate() {
            c.epi.finish_tile::<NV, M>(simd, acc, a.y, a.res, (ox + r) * a.y_stride + c.c0, c.last);
        }
    }
}

/// Debug check of [`NhwcRow`]'s tile fields for a kernel of `NV` vectors per tile.
#[inline(always)]
fn debug_assert_tiles<S: Simd, const NV: usize>(a: &NhwcRow<'_>) {
    debug_assert!(a.tiles >= 1 && a.nc_last >= 1 && a.nc_last <= NV * S::F32_LANES && a.wrap < S::F32_LANES);
    debug_assert!(a.wrap == 0 || a.nc_last.is_multiple_of(S::F32_LANES));
}

/// How tile `t` runs: 0 = `NV` full vectors, 1 = `NV` vectors with the last masked (or a wrap vector), 2 = one
/// full vector, 3 = one masked (or wrap) vector; and its channel count.
#[inline(always)]
fn tile_kind<S: Simd, const NV: usize>(a: &NhwcRow<'_>, t: usize) -> (u8, usize) {
    let (l, tw) = (S::F32_LANES, NV * S::F32_LANES);
    let last = t + 1 == a.tiles;
    let nc = if last { a.nc_last } else { tw };
    // A wrap vector takes the masked path.
    let kind = if last && a.wrap > 0 {
        if nc > (NV - 1) * l { 1 } else { 3 }
    } else if nc == tw {
        0
    } else if nc > (NV - 1) * l {
        1
    } else if nc == l {
        2
    } else {
        3
    };
    (kind, nc)
}

/// [`nhwc_pixel`] for tile `t`, whatever its kind.
///
/// # Safety
/// As [`nhwc_pixel`].
#[inline(always)]
unsafe fn nhwc_pixel_tile<S: Simd, const NV: usize, const CHECK: bool>(
    simd: S,
    a: &NhwcRow<'_>,
    epi: Epilogue<S>,
    t: usize,
    ox: usize,
) {
    let tw = NV * S::F32_LANES;
    let (kind, nc) = tile_kind::<S, NV>(a, t);
    // SAFETY: forwarded contract.
    unsafe {
        match kind {
            0 => nhwc_pixel::<S, NV, false, CHECK>(simd, a, nhwc_tile::<S, NV, false>(simd, a, epi, t, nc, tw), ox),
            1 => nhwc_pixel::<S, NV, true, CHECK>(simd, a, nhwc_tile::<S, NV, true>(simd, a, epi, t, nc, tw), ox),
            2 => nhwc_pixel::<S, 1, false, CHECK>(simd, a, nhwc_tile::<S, 1, false>(simd, a, epi, t, nc, tw), ox),
            _ => nhwc_pixel::<S, 1, true, CHECK>(simd, a, nhwc_tile::<S, 1, true>(simd, a, epi, t, nc, tw), ox),
        }
    }
}

/// [`nhwc_border`] for tile `t`, whatever its kind.
///
/// # Safety
/// As [`nhwc_border`].
#[inline(always)]
unsafe fn nhwc_border_tile<S: Simd, const K: usize, const NV: usize>(
    simd: S,
    a: &NhwcRow<'_>,
    rows: &[*const f32; K],
    epi: Epilogue<S>,
    t: usize,
    ox: usize,
) {
    let tw = NV * S::F32_LANES;
    let (kind, nc) = tile_kind::<S, NV>(a, t);
    // SAFETY: forwarded contract.
    unsafe {
        match kind {
            0 => nhwc_border::<S, K, NV, false>(simd, a, rows, nhwc_tile::<S, NV, false>(simd, a, epi, t, nc, tw), ox),
            1 => nhwc_border::<S, K, NV, true>(simd, a, rows, nhwc_tile::<S, NV, true>(simd, a, epi, t, nc, tw), ox),
            2 => nhwc_border::<S, K, 1, false>(simd, a, rows, nhwc_tile::<S, 1, false>(simd, a, epi, t, nc, tw), ox),
            _ => nhwc_border::<S, K, 1, true>(simd, a, rows, nhwc_tile::<S, 1, true>(simd, a, epi, t, nc, tw), ox),
        }
    }
}

/// [`nhwc_segment`] for tile `t`, whatever its kind.
///
/// # Safety
/// As [`nhwc_segment`].
#[inline(always)]
unsafe fn nhwc_segment_tile<S: Simd, const K: usize, const ST: usize, const R: usize, const NV: usize>(
    simd: S,
    a: &NhwcRow<'_>,
    rows: &[*const f32; K],
    epi: Epilogue<S>,
    t: usize,
    ox: usize,
) {
    let tw = NV * S::F32_LANES;
    let (kind, nc) = tile_kind::<S, NV>(a, t);
    // SAFETY: forwarded contract.
    unsafe {
        match kind {
            0 => nhwc_segment::<S, K, ST, R, NV, false>(
                simd,
                a,
                rows,
                nhwc_tile::<S, NV, false>(simd, a, epi, t, nc, tw),
                ox,
            ),
            1 => nhwc_segment::<S, K, ST, R, NV, true>(
                simd,
                a,
                rows,
                nhwc_tile::<S, NV, true>(simd, a, epi, t, nc, tw),
                ox,
            ),
            2 => nhwc_segment::<S, K, ST, R, 1, false>(
                simd,
                a,
                rows,
                nhwc_tile::<S, 1, false>(simd, a, epi, t, nc, tw),
                ox,
            ),
            _ => nhwc_segment::<S, K, ST, R, 1, true>(
                simd,
                a,
                rows,
                nhwc_tile::<S, 1, true>(simd, a, epi, t, nc, tw),
                ox,
            ),
        }
    }
}

/// The interior outputs `ox .. a.ox_hi` of tiles `t0..t1` of a `K x K`, stride-`ST` kernel, `R` at a time, the rest
/// in one smaller step (independent accumulator chains), the tiles in turn for each step.
///
/// # Safety
/// [`NhwcRow`]'s contract for `nv == NV`; `a.ox_lo <= ox`, `t1 <= a.tiles`.
#[inline(always)]
unsafe fn nhwc_interior<S: Simd, const K: usize, const ST: usize, const R: usize, const NV: usize>(
    simd: S,
    a: &NhwcRow<'_>,
    rows: &[*const f32; K],
    epi: Epilogue<S>,
    (t0, t1): (usize, usize),
    mut ox: usize,
) {
    // SAFETY: forwarded contract; segments stay inside the interior.
    unsafe {
        while ox + R <= a.ox_hi {
            for t in t0..t1 {
                nhwc_segment_tile::<S, K, ST, R, NV>(simd, a, rows, epi, t, ox);
            }
            ox += R;
        }
        if R > 4 && ox + 4 <= a.ox_hi {
            for t in t0..t1 {
                nhwc_segment_tile::<S, K, ST, 4, NV>(simd, a, rows, epi, t, ox);
            }
            ox += 4;
        }
        match a.ox_hi - ox {
            0 => {}
            1 => {
                for t in t0..t1 {
                    nhwc_segment_tile::<S, K, ST, 1, NV>(simd, a, rows, epi, t, ox);
                }
            }
            2 => {
                for t in t0..t1 {
                    nhwc_segment_tile::<S, K, ST, 2, NV>(simd, a, rows, epi, t, ox);
                }
            }
            _ => {
                while ox + 3 <= a.ox_hi {
                    for t in t0..t1 {
                        nhwc_segment_tile::<S, K, ST, 3, NV>(simd, a, rows, epi, t, ox);
                    }
                    ox += 3;
                }
                while ox < a.ox_hi {
                    for t in t0..t1 {
                        nhwc_segment_tile::<S, K, ST, 1, NV>(simd, a, rows, epi, t, ox);
                    }
                    ox += 1;
                }
            }
        }
    }
}

/// `R` neighbouring interior outputs of a tile of one vector, as [`nhwc_segment`] but loading each input column once
/// into a sliding window of the `K` columns an output reads: the form the compiler unrolls for `R` of 8 and more.
///
/// # Safety
/// As [`nhwc_segment`] for `NV == 1`.
#[inline(always)]
unsafe fn nhwc_one_segment<S: Simd, const K: usize, const ST: usize, const R: usize, const M: bool>(
    simd: S,
    a: &NhwcRow<'_>,
    rows: &[*const f32; K],
    c: NhwcTile<S, 1>,
    ox: usize,
) {
    const { assert!(ST <= K) };
    let xs = a.x_stride;
    let mut acc = [c.bias[0]; R];
    // SAFETY: as [`nhwc_segment`].
    unsafe {
        let ix0 = ox * ST - a.pad_left;
        for (ky, &row) in rows.iter().enumerate() {
            if row.is_null() {
                continue;
            }
            let mut w = [c.bias[0]; K];
            for (kx, wk) in w.iter_mut().enumerate() {
                *wk = load::<S>(c.w.add((ky * K + kx) * c.tw));
            }
            // Opaque, so that the compiler does not keep an induction pointer per column across segments.
            let mut p = core::hint::black_box(row.add(ix0 * xs + c.c0));
            let mut win = [c.bias[0]; K];
            for (r, acc) in acc.iter_mut().enumerate() {
                for (kx, x) in win.iter_mut().enumerate() {
                    if r == 0 || kx >= K - ST {
                        *x = ld_tile::<S, 1, M>(simd, c.last, p.add(kx * xs))[0];
                    }
                }
                for (&x, &wk) in win.iter().zip(&w) {
                    *acc = simd.mul_add_e_f32s(x, wk, *acc);
                }
                for kx in 0..K - ST {
                    win[kx] = win[kx + ST];
                }
                p = p.add(ST * xs);
            }
        }
        for (r, acc) in acc.into_iter().enumerate() {
            c.epi.finish_tile::<1, M>(simd, [acc], a.y, a.res, (ox + r) * a.y_stride + c.c0, c.last);
        }
    }
}

/// The interior outputs of a tile of one vector, `R` at a time, the rest in smaller steps.
///
/// # Safety
/// [`NhwcRow`]'s contract; `c` is one of its tiles of one vector.
#[inline(always)]
unsafe fn nhwc_one_interior<S: Simd, const K: usize, const ST: usize, const R: usize, const M: bool>(
    simd: S,
    a: &NhwcRow<'_>,
    rows: &[*const f32; K],
    c: NhwcTile<S, 1>,
) {
    let mut ox = a.ox_lo;
    // SAFETY: forwarded contract; segments stay inside the interior.
    unsafe {
        while ox + R <= a.ox_hi {
            nhwc_one_segment::<S, K, ST, R, M>(simd, a, rows, c, ox);
            ox += R;
        }
        while R > 4 && ox + 4 <= a.ox_hi {
            nhwc_one_segment::<S, K, ST, 4, M>(simd, a, rows, c, ox);
            ox += 4;
        }
        if ox + 2 <= a.ox_hi {
            nhwc_one_segment::<S, K, ST, 2, M>(simd, a, rows, c, ox);
            ox += 2;
        }
        if ox < a.ox_hi {
            nhwc_one_segment::<S, K, ST, 1, M>(simd, a, rows, c, ox);
        }
    }
}

/// Input row `I` of a [`nhwc_rows_segment`]: it feeds output row `j` through kernel row `I - j * ST`, each of its
/// input vectors loaded once for both output rows (a separate instantiation per row, so that every weight index
/// is a constant and the weights stay in registers).
///
/// # Safety
/// As [`nhwc_rows_segment`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn nhwc_rows_input<
    S: Simd,
    const K: usize,
    const ST: usize,
    const R: usize,
    const OR: usize,
    const M: bool,
    const I: usize,
>(
    simd: S,
    a: &NhwcRow<'_>,
    c: NhwcTile<S, 1>,
    w: &[[S::f32s; K]; K],
    ix0: usize,
    acc: &mut [[S::f32s; R]; OR],
) {
    if I >= K + (OR - 1) * ST || a.rows[I].is_null() {
        return;
    }
    let xs = a.x_stride;
    // SAFETY: as [`nhwc_segment`]: interior outputs read pixels inside present rows.
    unsafe {
        // Opaque, so that the compiler does not keep an induction pointer per column across segments.
        let mut p = core::hint::black_box(a.rows[I].add(ix0 * xs + c.c0));
        let mut win = [c.bias[0]; K];
        for r in 0..R {
            for (kx, x) in win.iter_mut().enumerate() {
                if r == 0 || kx >= K - ST {
                    *x = ld_tile::<S, 1, M>(simd, c.last, p.add(kx * xs))[0];
                }
            }
            for (j, acc) in acc.iter_mut().enumerate() {
                if I >= j * ST && I - j * ST < K {
                    for (&x, &wk) in win.iter().zip(&w[I - j * ST]) {
                        acc[r] = simd.mul_add_e_f32s(x, wk, acc[r]);
                    }
                }
            }
            for kx in 0..K - ST {
                win[kx] = win[kx + ST];
            }
            p = p.add(ST * xs);
        }
    }
}

/// `R` neighbouring interior outputs of a tile of one vector in each of the call's `OR` (1 or 2) output rows, the
/// tile's `K x K` weights in registers ([`nhwc_rows`]), the input rows in order ([`nhwc_rows_input`]).
///
/// # Safety
/// As [`nhwc_segment`] for `NV == 1`, for each of the `OR` output rows.
#[inline(always)]
unsafe fn nhwc_rows_segment<
    S: Simd,
    const K: usize,
    const ST: usize,
    const R: usize,
    const OR: usize,
    const M: bool,
>(
    simd: S,
    a: &NhwcRow<'_>,
    c: NhwcTile<S, 1>,
    w: &[[S::f32s; K]; K],
    ox: usize,
) {
    const { assert!(ST <= K && (OR == 1 || OR == 2) && K + (OR - 1) * ST <= 5) };
    let mut acc = [[c.bias[0]; R]; OR];
    let ix0 = ox * ST - a.pad_left;
    // SAFETY: forwarded contract; output row `j` lies `j * y_row` floats after row 0 (contract).
    unsafe {
        nhwc_rows_input::<S, K, ST, R, OR, M, 0>(simd, a, c, w, ix0, &mut acc);
        nhwc_rows_input::<S, K, ST, R, OR, M, 1>(simd, a, c, w, ix0, &mut acc);
        nhwc_rows_input::<S, K, ST, R, OR, M, 2>(simd, a, c, w, ix0, &mut acc);
        nhwc_rows_input::<S, K, ST, R, OR, M, 3>(simd, a, c, w, ix0, &mut acc);
        nhwc_rows_input::<S, K, ST, R, OR, M, 4>(simd, a, c, w, ix0, &mut acc);
        for (j, acc) in acc.into_iter().enumerate() {
            let (y, res) = a.out_row(j);
            for (r, acc) in acc.into_iter().enumerate() {
                c.epi.finish_tile::<1, M>(simd, [acc], y, res, (ox + r) * a.y_stride + c.c0, c.last);
            }
        }
    }
}

/// The interior outputs of a tile of one vector in the call's `OR` output rows, its weights loaded once into
/// registers, `R` outputs a step, the rest in smaller steps.
///
/// # Safety
/// [`NhwcRow`]'s contract with `out_rows == OR`; `c` is one of its tiles of one vector.
#[inline(always)]
unsafe fn nhwc_rows_interior<
    S: Simd,
    const K: usize,
    const ST: usize,
    const R: usize,
    const OR: usize,
    const M: bool,
>(
    simd: S,
    a: &NhwcRow<'_>,
    c: NhwcTile<S, 1>,
) {
    let mut ox = a.ox_lo;
    // SAFETY: forwarded contract; the tile's weights hold `K * K` taps; segments stay inside the interior.
    unsafe {
        let w: [[S::f32s; K]; K] =
            core::array::from_fn(|ky| core::array::from_fn(|kx| load::<S>(c.w.add((ky * K + kx) * c.tw))));
        while ox + R <= a.ox_hi {
            nhwc_rows_segment::<S, K, ST, R, OR, M>(simd, a, c, &w, ox);
            ox += R;
        }
        if R > 4 && ox + 4 <= a.ox_hi {
            nhwc_rows_segment::<S, K, ST, 4, OR, M>(simd, a, c, &w, ox);
            ox += 4;
        }
        if ox + 2 <= a.ox_hi {
            nhwc_rows_segment::<S, K, ST, 2, OR, M>(simd, a, c, &w, ox);
            ox += 2;
        }
        if ox < a.ox_hi {
            nhwc_rows_segment::<S, K, ST, 1, OR, M>(simd, a, c, &w, ox);
        }
    }
}

/// NHWC `K x K`, stride `ST`, undilated kernel over tiles of one vector that takes two output rows a call
/// ([`NhwcRow`]'s `out_rows`): tile by tile, each tile's weights held in registers across its rows, `R` interior
/// outputs of both rows a step, so that the input row the two output rows share is loaded once. Stride-2 layers
/// are bound by the cache lines their loads fetch (every input vector of an output row a line from L2 or L3); two
/// rows a call fetch five input rows instead of six.
///
/// # Safety
/// `a` satisfies [`NhwcRow`]'s contract for `nv == 1` with `kh == kw == K`, `stride == ST`, `dilation == 1`.
#[inline(always)]
pub unsafe fn nhwc_rows<S: Simd, const K: usize, const ST: usize, const R: usize>(simd: S, a: &NhwcRow<'_>) {
    debug_assert!(a.out_rows == 1 || a.out_rows == 2);
    debug_assert!(a.rows.len() == K + (a.out_rows - 1) * ST && a.kw == K && a.stride == ST && a.dilation == 1);
    debug_assert_tiles::<S, 1>(a);
    let epi = Epilogue::new(simd, a.min, a.max);
    let tw = S::F32_LANES;
    // SAFETY: forwarded contract; output row `j` of the call is row 0's contract moved by `j * ST` input rows and
    // `j * y_row` output floats.
    unsafe {
        for j in 0..a.out_rows {
            let mut rows = [core::ptr::null::<f32>(); K];
            rows.copy_from_slice(&a.rows[j * ST..j * ST + K]);
            let (y, res) = a.out_row(j);
            let aj = NhwcRow { y, res, out_rows: 1, ..*a };
            for ox in (0..a.ox_lo).chain(a.ox_hi.max(a.ox_lo)..a.ow) {
                for t in 0..a.tiles {
                    nhwc_border_tile::<S, K, 1>(simd, &aj, &rows, epi, t, ox);
                }
            }
        }
        for t in 0..a.tiles {
            let (kind, nc) = tile_kind::<S, 1>(a, t);
            let full = kind == 0;
            match (full, a.out_rows == 2) {
                (true, true) => {
                    let c = nhwc_tile::<S, 1, false>(simd, a, epi, t, nc, tw);
                    nhwc_rows_interior::<S, K, ST, R, 2, false>(simd, a, c);
                }
                (true, false) => {
                    let c = nhwc_tile::<S, 1, false>(simd, a, epi, t, nc, tw);
                    nhwc_rows_interior::<S, K, ST, R, 1, false>(simd, a, c);
                }
                (false, true) => {
                    let c = nhwc_tile::<S, 1, true>(simd, a, epi, t, nc, tw);
                    nhwc_rows_interior::<S, K, ST, R, 2, true>(simd, a, c);
                }
                (false, false) => {
                    let c = nhwc_tile::<S, 1, true>(simd, a, epi, t, nc, tw);
                    nhwc_rows_interior::<S, K, ST, R, 1, true>(simd, a, c);
                }
            }
        }
    }
}

/// NHWC `K x K`, stride `ST`, undilated kernel over tiles of `NV` (1 or 2) vectors of channels: for each group
/// of `R` interior outputs, every tile in turn (so the input pixels stay in L1 across tiles). A last tile of one
/// vector (the rest of the channels, or a wrap vector) makes its own pass over the row, `R1` outputs at a time:
/// with `R` it would keep half the accumulators in flight and run at half the speed of the others.
///
/// # Safety
/// `a` satisfies [`NhwcRow`]'s contract for `nv == NV` with `kh == kw == K`, `stride == ST`, `dilation == 1`.
#[inline(always)]
pub unsafe fn nhwc_fast<S: Simd, const K: usize, const ST: usize, const R: usize, const R1: usize, const NV: usize>(
    simd: S,
    a: &NhwcRow<'_>,
) {
    const { assert!(NV == 1 || NV == 2) };
    debug_assert!(a.rows.len() == K && a.kw == K && a.stride == ST && a.dilation == 1);
    debug_assert_tiles::<S, NV>(a);
    let epi = Epilogue::new(simd, a.min, a.max);
    let mut rows = [core::ptr::null::<f32>(); K];
    rows.copy_from_slice(&a.rows[..K]);
    let (last_kind, last_nc) = tile_kind::<S, NV>(a, a.tiles - 1);
    let single = NV > 1 && last_kind >= 2;
    let tn = a.tiles - usize::from(single);
    // SAFETY: forwarded contract; segments stay inside the interior.
    unsafe {
        for ox in (0..a.ox_lo).chain(a.ox_hi.max(a.ox_lo)..a.ow) {
            for t in 0..a.tiles {
                nhwc_border_tile::<S, K, NV>(simd, a, &rows, epi, t, ox);
            }
        }
        nhwc_interior::<S, K, ST, R, NV>(simd, a, &rows, epi, (0, tn), a.ox_lo);
        if single {
            if last_kind == 2 {
                let c = nhwc_tile::<S, 1, false>(simd, a, epi, tn, last_nc, NV * S::F32_LANES);
                nhwc_one_interior::<S, K, ST, R1, false>(simd, a, &rows, c);
            } else {
                let c = nhwc_tile::<S, 1, true>(simd, a, epi, tn, last_nc, NV * S::F32_LANES);
                nhwc_one_interior::<S, K, ST, R1, true>(simd, a, &rows, c);
            }
        }
    }
}

/// NHWC kernel for any kernel size, stride and dilation: one output pixel at a time, every tile in turn.
///
/// # Safety
/// `a` satisfies [`NhwcRow`]'s contract for `nv == NV`.
#[inline(always)]
pub unsafe fn nhwc_generic<S: Simd, const NV: usize>(simd: S, a: &NhwcRow<'_>) {
    const { assert!(NV == 1 || NV == 2) };
    debug_assert_tiles::<S, NV>(a);
    let epi = Epilogue::new(simd, a.min, a.max);
    let lo = a.ox_lo.min(a.ow);
    let hi = a.ox_hi.clamp(lo, a.ow);
    // SAFETY: forwarded contract; interior outputs skip the bounds checks.
    unsafe {
        for ox in 0..a.ow {
            let interior = ox >= lo && ox < hi;
            for t in 0..a.tiles {
                if interior {
                    nhwc_pixel_tile::<S, NV, false>(simd, a, epi, t, ox);
                } else {
                    nhwc_pixel_tile::<S, NV, true>(simd, a, epi, t, ox);
                }
            }
        }
    }
}

/// Per-tile constants of the grouped NHWC kernel: the epilogue, the lane indices of each group channel's permute,
/// the bias, the tile's first weight vector, its first channel and its lanes.
struct GroupedTile<'a, S: Simd, const CG: usize> {
    epi: Epilogue<S>,
    idx: &'a [S::u32s; CG],
    bias: S::f32s,
    w: *const f32,
    c0: usize,
    mask: Lanes<S>,
}

impl<S: Simd, const CG: usize> Clone for GroupedTile<'_, S, CG> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S: Simd, const CG: usize> Copy for GroupedTile<'_, S, CG> {}

/// Outputs `ox0 .. ox0 + n` (`n <= R`) of one tile of the grouped kernel, any kernel size, stride and dilation:
/// for each kernel row and each input channel `i` of a group, for each tap `kx`, one weight vector and `R` input
/// vectors permuted so that every lane holds its own group's channel `i`. `CHECK` skips each output's taps outside
/// the input row (border blocks keep `R` independent accumulators: one output alone would wait on its FMA chain).
///
/// # Safety
/// [`NhwcRow`]'s contract with `a.group == CG`; without `CHECK`, `n == R` and the outputs lie in the interior;
/// `w` points at the tile's `kh * kw * CG` weight vectors.
#[inline(always)]
unsafe fn grouped_pixels<S: DwSimd, const CG: usize, const R: usize, const M: bool, const CHECK: bool>(
    simd: S,
    a: &NhwcRow<'_>,
    c: &GroupedTile<'_, S, CG>,
    ox0: usize,
    n: usize,
) {
    let GroupedTile { epi, idx, bias, w, c0, mask } = *c;
    let lanes = S::F32_LANES;
    let kw = a.kw;
    let mut acc = [bias; R];
    // SAFETY: every load is a present row's pixel inside `0..in_w` (interior, or checked), its tile's enabled lanes;
    // weights stay inside the tile's taps; outputs are this row's pixels (contract).
    unsafe {
        for (ky, &row) in a.rows.iter().enumerate() {
            if row.is_null() {
                continue;
            }
            for (i, &ix) in idx.iter().enumerate() {
                for kx in 0..kw {
                    let off = kx * a.dilation;
                    let wv = load::<S>(w.add(((ky * kw + kx) * CG + i) * lanes));
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let col = ((ox0 + r) * a.stride + off) as isize - a.pad_left as isize;
                        if CHECK && (col < 0 || col >= a.in_w as isize) {
                            continue;
                        }
                        let x = ld::<S, M>(simd, mask, row.add(col as usize * a.x_stride + c0));
                        *acc = simd.mul_add_e_f32s(simd.permute(x, ix), wv, *acc);
                    }
                }
            }
        }
        for (r, v) in acc.into_iter().enumerate().take(n) {
            epi.finish::<M>(simd, v, a.y, a.res, (ox0 + r) * a.y_stride + c0, mask);
        }
    }
}

/// [`grouped_pixels`] for interior outputs of a 3-wide, stride-1, undilated kernel: the `R + 2` input vectors of a
/// kernel row are permuted once per group channel and each serves the (up to) three outputs whose taps it is, in
/// the same `(ky, i, kx)` order per output: a third of the permutes.
///
/// # Safety
/// As [`grouped_pixels`] without `CHECK`, with `a.kw == 3`, `a.stride == 1`, `a.dilation == 1`.
#[inline(always)]
unsafe fn grouped_pixels_k3s1<S: DwSimd, const CG: usize, const R: usize, const M: bool>(
    simd: S,
    a: &NhwcRow<'_>,
    c: &GroupedTile<'_, S, CG>,
    ox0: usize,
) {
    let GroupedTile { epi, idx, bias, w, c0, mask } = *c;
    let lanes = S::F32_LANES;
    let mut acc = [bias; R];
    // SAFETY: as `grouped_pixels`: interior outputs read input columns `ox0 - pad_left ..` `+ R + 2`, inside the row.
    unsafe {
        for (ky, &row) in a.rows.iter().enumerate() {
            if row.is_null() {
                continue;
            }
            let x0 = row.add((ox0 - a.pad_left) * a.x_stride + c0);
            // The R + 2 columns, as a fixed-size array the compiler keeps in registers.
            let mut xv = [[simd.splat_f32s(0.0); 2]; R];
            for (j, v) in xv.iter_mut().flatten().enumerate().take(R + 2) {
                *v = ld::<S, M>(simd, mask, x0.add(j * a.x_stride));
            }
            let xs = |j: usize| xv[j / 2][j % 2];
            let wt = w.add(ky * 3 * CG * lanes);
            for (i, &ix) in idx.iter().enumerate() {
                let wv = [0, 1, 2].map(|kx| load::<S>(wt.add((kx * CG + i) * lanes)));
                for j in 0..R + 2 {
                    let p = simd.permute(xs(j), ix);
                    for (kx, &wk) in wv.iter().enumerate() {
                        if j >= kx && j - kx < R {
                            acc[j - kx] = simd.mul_add_e_f32s(p, wk, acc[j - kx]);
                        }
                    }
                }
            }
        }
        for (r, v) in acc.into_iter().enumerate() {
            epi.finish::<M>(simd, v, a.y, a.res, (ox0 + r) * a.y_stride + c0, mask);
        }
    }
}

/// Outputs per step of [`nhwc_grouped`] over the interior.
pub const GROUPED_R: usize = 4;

/// NHWC kernel for grouped convolutions of `a.group` input and output channels per group, `1 < group <= lanes`
/// dividing the lanes (tiles of one vector, `nv == 1`, no wrap vector), any kernel size, stride and dilation. Each
/// output lane sums, over the taps and its group's input channels, the input vector of the tap permuted so that
/// every lane holds its own group's channel (one `vpermps`), times a weight vector: the group's channels stay in
/// the lanes instead of a GEMM whose rows would be one group's few channels. Weights per tile: `[bias lanes][kh *
/// kw taps][group][lanes]`, lane `c` of input channel `i` holding output channel `c`'s weight for its group's
/// channel `i`. Arithmetic per output: `acc = bias`, one multiply-add per (tap, group channel) in `(ky, i, kx)`
/// order, skipping padded taps, then the residual and the clamp.
///
/// # Safety
/// [`NhwcRow`]'s contract for `nv == 1`, `wrap == 0`, with `a.group` as above.
#[inline(always)]
pub unsafe fn nhwc_grouped<S: DwSimd>(simd: S, a: &NhwcRow<'_>) {
    // SAFETY: forwarded contract.
    unsafe {
        match a.group {
            2 => grouped_row::<S, 2>(simd, a),
            4 => grouped_row::<S, 4>(simd, a),
            8 => grouped_row::<S, 8>(simd, a),
            16 => grouped_row::<S, 16>(simd, a),
            g => unreachable!("grouped kernel called for {g} channels per group"),
        }
    }
}

/// [`nhwc_grouped`] for `CG` channels per group.
///
/// # Safety
/// As [`nhwc_grouped`], `a.group == CG`.
#[inline(always)]
unsafe fn grouped_row<S: DwSimd, const CG: usize>(simd: S, a: &NhwcRow<'_>) {
    let lanes = S::F32_LANES;
    debug_assert!(a.group == CG && CG <= lanes && lanes.is_multiple_of(CG) && a.wrap == 0);
    debug_assert_tiles::<S, 1>(a);
    let epi = Epilogue::new(simd, a.min, a.max);
    // Lane `c` of permute `i` takes lane `c - c % CG + i`: its group's channel `i`.
    // Opaque to the optimiser: with the indices known it splits many of these permutes into two shuffles (an
    // in-lane `vshufps` and a `vpermpd`), both on the port that one `vpermps` takes.
    let idx: [S::u32s; CG] = core::hint::black_box(core::array::from_fn(|i| {
        let t: [u32; 16] = core::array::from_fn(|c| if c < lanes { (c - c % CG + i) as u32 } else { 0 });
        lane_index::<S>(&t)
    }));
    let lo = a.ox_lo.min(a.ow);
    let hi = a.ox_hi.clamp(lo, a.ow);
    let k3s1 = a.kw == 3 && a.stride == 1 && a.dilation == 1;
    debug_assert!(a.w_stride >= (1 + a.rows.len() * a.kw * CG) * lanes);
    // SAFETY: forwarded contract; interior outputs skip the bounds checks.
    unsafe {
        for t in 0..a.tiles {
            let full = t + 1 < a.tiles || a.nc_last == lanes;
            let nc = if full { lanes } else { a.nc_last };
            let mask = Lanes::new(simd, 0, nc);
            let wt = a.w.add(t * a.w_stride);
            let bias = load::<S>(wt);
            let c = GroupedTile { epi, idx: &idx, bias, w: wt.add(lanes), c0: t * lanes, mask };
            macro_rules! row {
                ($m:literal) => {{
                    // The left border, then blocks of R interior outputs through the unchecked loops, then the rest
                    // of the row (the right border and the interior outputs short of a block) through the checked
                    // one, in blocks of up to R outputs (4 for 3: outputs past the row are computed from the taps
                    // inside it and not stored) or fewer.
                    const R: usize = GROUPED_R;
                    // A macro, not a closure: a closure would be a function of its own, compiled without the
                    // backend's target features.
                    macro_rules! checked {
                        ($ox:expr, $n:expr) => {
                            match $n {
                                1 => grouped_pixels::<S, CG, 1, $m, true>(simd, a, &c, $ox, 1),
                                2 => grouped_pixels::<S, CG, 2, $m, true>(simd, a, &c, $ox, 2),
                                n => grouped_pixels::<S, CG, R, $m, true>(simd, a, &c, $ox, n),
                            }
                        };
                    }
                    let mut ox = 0;
                    while ox < lo {
                        let n = R.min(lo - ox);
                        checked!(ox, n);
                        ox += n;
                    }
                    while ox + R <= hi {
                        if k3s1 {
                            grouped_pixels_k3s1::<S, CG, R, $m>(simd, a, &c, ox);
                        } else {
                            grouped_pixels::<S, CG, R, $m, false>(simd, a, &c, ox, R);
                        }
                        ox += R;
                    }
                    while ox < a.ow {
                        let n = R.min(a.ow - ox);
                        checked!(ox, n);
                        ox += n;
                    }
                }};
            }
            if full { row!(false) } else { row!(true) }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// NCHW: pixels of an output row in lanes, a range of output rows of one channel plane per call.
// ---------------------------------------------------------------------------------------------------------------

/// Output rows `oy0..oy1` of one NCHW channel plane.
///
/// The direct kernels ([`DwKernel::reads_in_place`](super::DwKernel::reads_in_place)) read the input plane
/// itself: `x` is input row 0, `iy0 == 0`, `x_row == in_w`; `x_phase` is unused. The general kernel reads rows
/// prepared by [`pad_rows`]: a prepared row holds `stride_w` phases of `x_phase` floats, element `j` of phase `p`
/// being input column `ix = j * stride_w + p - pad_left`, or zero where `ix` lies outside `0..in_w`; output `ox`
/// reads tap `kx` at phase `(kx * dil_w) % stride_w`, element `ox + (kx * dil_w) / stride_w`.
///
/// Pointer contract (checked by the driver, relied on here):
/// - general kernel: `x_phase >= round_up(ow, lanes) + ((kw - 1) * dil_w) / stride_w` (see [`PadRows`]).
/// - the (prepared) row of every input row `iy` in `0..in_h` that the output rows read is at
///   `x + (iy - iy0) * x_row` with `in_w` readable floats (`x_row >= stride_w * x_phase` for prepared rows); rows
///   outside `0..in_h` are padding: the direct kernels read `zero` for them (`max(in_w, x_row)` zeros), the
///   general kernel skips them.
/// - `w` points at `kh * kw` weights in `(ky, kx)` order.
/// - output row `oy` is written at `y + oy * ow .. + ow`, `res` (null for none) read at the same offsets before
///   the write (it may be `y` itself).
#[derive(Clone, Copy, Debug)]
pub struct NchwPlane {
    pub x: *const f32,
    pub iy0: usize,
    pub x_row: usize,
    pub x_phase: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub zero: *const f32,
    pub w: *const f32,
    pub bias: f32,
    pub kh: usize,
    pub kw: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dil_h: usize,
    pub dil_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub ow: usize,
    pub oy0: usize,
    pub oy1: usize,
    pub y: *mut f32,
    pub res: *const f32,
    pub min: f32,
    pub max: f32,
    /// Null, or the tap masks of the flat small-plane path ([`flat_masks`]): the call then covers `planes`
    /// whole planes, plane `q` reading `x + q * in_h * in_w`, weights `w + q * kh * kw`, bias `biases[q]` and
    /// writing (reading the residual at) `q * oy1 * ow` floats further (`bias` is unused).
    pub flat: *const u32,
    pub planes: usize,
    pub biases: *const f32,
    /// Input and output channels per group: 1 for depthwise. The grouped kernel ([`nchw_grouped`]) computes the
    /// `group` output planes of one group from its `group` input planes: input plane `i`'s (prepared) rows at
    /// `x + i * x_plane`, output plane `j` at `y + j * y_plane` (the residual likewise), bias `biases[j]`, weights
    /// `w[((i * kh + ky) * kw + kx) * group + j]` (`bias` and `flat` unused).
    pub group: usize,
    pub x_plane: usize,
    pub y_plane: usize,
}

/// Offset of tap column `kx` in a prepared row, for output 0.
#[inline(always)]
fn col_off(a: &NchwPlane, kx: usize) -> usize {
    let t = kx * a.dil_w;
    (t % a.stride_w) * a.x_phase + t / a.stride_w
}

/// Prepared row of input row `iy` (signed, may be padding), or the zero row.
#[inline(always)]
fn nchw_row(a: &NchwPlane, iy: isize) -> *const f32 {
    if iy < 0 || iy >= a.in_h as isize { a.zero } else { a.x.wrapping_add((iy as usize - a.iy0) * a.x_row) }
}

/// Which lanes of a vector from input column `c` lie inside `0..w` (possibly none).
#[inline(always)]
fn col_lanes<S: Simd>(simd: S, c: isize, w: usize) -> Lanes<S> {
    let l = S::F32_LANES as isize;
    Lanes::new(simd, (-c).clamp(0, l) as usize, (w as isize - c).clamp(0, l) as usize)
}

/// One vector of an input row from column `c` (stride 1), or the even and odd columns of the two vectors from `c`
/// (stride 2). `EDGE` loads through `masks` (one per vector, from [`col_lanes`]), zeros outside the image;
/// otherwise plain loads.
///
/// # Safety
/// `row` holds the columns the enabled lanes read; without `EDGE`, columns `c .. c + ST * lanes` are inside it.
#[inline(always)]
unsafe fn direct_load<S: DwSimd, const ST: usize, const EDGE: bool>(
    simd: S,
    row: *const f32,
    c: isize,
    masks: &[Lanes<S>; 2],
) -> (S::f32s, S::f32s) {
    // SAFETY: forwarded contract.
    unsafe {
        if ST == 1 {
            (edge_load::<S, EDGE>(simd, row, c, masks[0]), simd.splat_f32s(0.0))
        } else {
            let l = S::F32_LANES as isize;
            simd.split_pairs(
                edge_load::<S, EDGE>(simd, row, c, masks[0]),
                edge_load::<S, EDGE>(simd, row, c + l, masks[1]),
            )
        }
    }
}

/// [`direct_load`]'s single vector.
///
/// # Safety
/// As [`direct_load`] for one vector.
#[inline(always)]
unsafe fn edge_load<S: Simd, const EDGE: bool>(simd: S, row: *const f32, c: isize, m: Lanes<S>) -> S::f32s {
    let p = row.wrapping_offset(c);
    // SAFETY: forwarded contract.
    unsafe { if EDGE { mask_load(simd, m, p) } else { load::<S>(p) } }
}

/// Vectors kept per input row by the direct NCHW kernels: the current one and enough earlier ones for the largest
/// lane shift `smax` (`lanes == 1` keeps one vector per shift).
const fn window(smax: usize, lanes: usize) -> usize {
    smax.div_ceil(lanes) + 1
}

/// The tap vector shifted up by `s` lanes from a window (`win[0]` the current vector, `win[q]` the one `q`
/// vectors earlier); with `SPLIT` the window's vectors are in [`DwSimd::split_pairs`]' lane order.
#[inline(always)]
fn tap<S: DwSimd, const SPLIT: bool>(simd: S, win: &[S::f32s; MAX_WIN], s: usize) -> S::f32s {
    let (q, r) = (s / S::F32_LANES, s % S::F32_LANES);
    if r == 0 {
        win[q]
    } else if SPLIT {
        simd.split_shift_in(win[q + 1], win[q], r)
    } else {
        simd.shift_in(win[q + 1], win[q], r)
    }
}

/// Largest window of the direct kernels (5 x 5, stride 1, one lane).
const MAX_WIN: usize = 5;

/// The `RR` accumulators of one vector position (input column `c`) of [`nchw_direct_rows`]: loads each row's
/// vector(s), builds its `K` tap vectors, accumulates, and moves the row windows on.
///
/// # Safety
/// As [`direct_load`] for every row of `rp`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn direct_vector<S: DwSimd, const K: usize, const ST: usize, const RR: usize, const EDGE: bool>(
    simd: S,
    rp: &[*const f32; 16],
    we: &mut [[S::f32s; MAX_WIN]; 16],
    wo: &mut [[S::f32s; MAX_WIN]; 16],
    w: &[[S::f32s; K]; K],
    bias: S::f32s,
    c: isize,
    masks: &[Lanes<S>; 2],
    nwin: usize,
) -> [S::f32s; RR] {
    let nr = (RR - 1) * ST + K;
    let mut acc = [bias; RR];
    for i in 0..nr {
        // SAFETY: forwarded contract.
        (we[i][0], wo[i][0]) = unsafe { direct_load::<S, ST, EDGE>(simd, rp[i], c, masks) };
        let mut t = [bias; K];
        for (kx, t) in t.iter_mut().enumerate() {
            *t = if ST == 1 {
                tap::<S, false>(simd, &we[i], K - 1 - kx)
            } else {
                // Column offset `m = kx + 2 - K`: odd `m` reads the odd vector, shifted up by `(1 - m) / 2`.
                let m = kx as isize + 2 - K as isize;
                let s = ((1 - m) / 2) as usize;
                if m & 1 == 1 { tap::<S, true>(simd, &wo[i], s) } else { tap::<S, true>(simd, &we[i], s) }
            };
        }
        for (r, acc) in acc.iter_mut().enumerate() {
            if i >= r * ST && i - r * ST < K {
                for (kx, &t) in t.iter().enumerate() {
                    *acc = simd.mul_add_e_f32s(t, w[i - r * ST][kx], *acc);
                }
            }
        }
        for q in (1..nwin).rev() {
            we[i][q] = we[i][q - 1];
            wo[i][q] = wo[i][q - 1];
        }
    }
    acc
}

/// `RR` output rows starting at `oy` of a `K x K`, stride-`ST` NCHW kernel, one vector of each row at a time, read
/// straight from the input rows.
///
/// Stride 1: each input row is loaded once per vector at columns `ox0 + K - 1 - pad_left ..`; tap `kx` is that
/// vector shifted up by `K - 1 - kx` lanes, the lanes below coming from the row's previous vector. Stride 2: the
/// row's columns `2 * ox0 + K - 2 - pad_left ..` (two vectors) are split into even and odd columns; tap `kx` is
/// the odd (`kx - K` odd) or even vector shifted up by `(K - 1 - kx) / 2` lanes, the lanes below coming from the
/// row's previous odd or even vector. Columns outside the image load as
/// zeros; rows outside it are read from `zero`.
///
/// # Safety
/// [`NchwPlane`]'s contract for the direct kernels with `oy + RR <= oy1`.
#[inline(always)]
unsafe fn nchw_direct_rows<S: DwSimd, const K: usize, const ST: usize, const RR: usize>(
    simd: S,
    a: &NchwPlane,
    w: &[[S::f32s; K]; K],
    epi: Epilogue<S>,
    oy: usize,
) {
    let lanes = S::F32_LANES;
    let nr = (RR - 1) * ST + K;
    let smax = if ST == 1 { K - 1 } else { (K - 1) / 2 };
    let nwin = window(smax, lanes);
    let iw = a.in_w;
    let mut rp = [a.zero; 16];
    for (i, r) in rp.iter_mut().enumerate().take(nr) {
        *r = nchw_row(a, (oy * ST + i) as isize - a.pad_top as isize);
    }
    // Input column of lane 0 of the first vector.
    let base = if ST == 1 { K as isize - 1 } else { K as isize - 2 } - a.pad_left as isize;
    let step = (lanes * ST) as isize;
    let zero = simd.splat_f32s(0.0);
    // Per input row: the window of (even) vectors and, with stride 2, of odd vectors.
    let mut we = [[zero; MAX_WIN]; 16];
    let mut wo = [[zero; MAX_WIN]; 16];
    let masks_at = |c: isize| [col_lanes(simd, c, iw), col_lanes(simd, c + lanes as isize, iw)];
    for q in 1..nwin {
        let c = base - q as isize * step;
        if c + step <= 0 {
            // Wholly left of the image: the zeros the windows start with.
            continue;
        }
        let m = masks_at(c);
        for i in 0..nr {
            // SAFETY: rows hold `in_w` readable floats, of which the masks enable only columns inside.
            (we[i][q], wo[i][q]) = unsafe { direct_load::<S, ST, true>(simd, rp[i], c, &m) };
        }
    }
    let nvec = a.ow.div_ceil(lanes);
    let full = Lanes::new(simd, 0, lanes);
    let bias = simd.splat_f32s(a.bias);
    for v in 0..nvec {
        let c = base + v as isize * step;
        let acc = if c < 0 || c + step > iw as isize {
            let m = masks_at(c);
            // SAFETY: as above.
            unsafe { direct_vector::<S, K, ST, RR, true>(simd, &rp, &mut we, &mut wo, w, bias, c, &m, nwin) }
        } else {
            // SAFETY: columns `c .. c + step` lie inside every row.
            unsafe { direct_vector::<S, K, ST, RR, false>(simd, &rp, &mut we, &mut wo, w, bias, c, &[full; 2], nwin) }
        };
        let ox0 = v * lanes;
        let nl = lanes.min(a.ow - ox0);
        // SAFETY: outputs `ox0 .. ox0 + nl` of rows `oy .. oy + RR` are inside the output (contract).
        unsafe {
            for (r, acc) in acc.into_iter().enumerate() {
                let acc = if ST == 2 { simd.split_order(acc) } else { acc };
                let off = (oy + r) * a.ow + ox0;
                if nl == lanes {
                    epi.finish::<false>(simd, acc, a.y, a.res, off, full);
                } else {
                    epi.finish::<true>(simd, acc, a.y, a.res, off, Lanes::new(simd, 0, nl));
                }
            }
        }
    }
}

/// Output rows per pass of the narrow-row stride-1 path (one vector per row: several rows keep enough independent
/// accumulators in flight).
const NARROW_RR: usize = 8;

/// `RR` output rows starting at `oy` of a `K x K` stride-1 NCHW kernel whose rows fit one vector
/// (`ow + K - 1 <= lanes`): each input row is one masked load from column `-pad_left` (`m`), tap `kx` that vector
/// moved down by `kx` lanes.
///
/// # Safety
/// [`NchwPlane`]'s contract for the direct kernels with `oy + RR <= oy1`; `m` = `col_lanes(-pad_left, in_w)`.
#[inline(always)]
unsafe fn nchw_narrow_rows<S: DwSimd, const K: usize, const RR: usize>(
    simd: S,
    a: &NchwPlane,
    w: &[[S::f32s; K]; K],
    epi: Epilogue<S>,
    m: Lanes<S>,
    oy: usize,
) {
    let bias = simd.splat_f32s(a.bias);
    let mut acc = [bias; RR];
    let c = -(a.pad_left as isize);
    for i in 0..RR + K - 1 {
        let row = nchw_row(a, (oy + i) as isize - a.pad_top as isize);
        // SAFETY: the row holds `in_w` floats, of which the mask enables only columns inside.
        let v = unsafe { mask_load(simd, m, row.wrapping_offset(c)) };
        let mut t = [v; K];
        for (kx, t) in t.iter_mut().enumerate().skip(1) {
            *t = simd.shift_down(v, kx);
        }
        for (r, acc) in acc.iter_mut().enumerate() {
            if i >= r && i - r < K {
                for (kx, &t) in t.iter().enumerate() {
                    *acc = simd.mul_add_e_f32s(t, w[i - r][kx], *acc);
                }
            }
        }
    }
    let tail = Lanes::new(simd, 0, a.ow);
    for (r, acc) in acc.into_iter().enumerate() {
        // SAFETY: outputs `0..ow` of row `oy + r` are inside the output (contract).
        unsafe { epi.finish::<true>(simd, acc, a.y, a.res, (oy + r) * a.ow, tail) };
    }
}

/// [`nchw_narrow_rows`] over rows `oy0..oy1`: `NARROW_RR` rows per pass, the rest in one pass.
///
/// # Safety
/// As [`nchw_narrow_rows`] for rows `oy0..oy1`.
#[inline(always)]
unsafe fn nchw_narrow<S: DwSimd, const K: usize>(simd: S, a: &NchwPlane, w: &[[S::f32s; K]; K], epi: Epilogue<S>) {
    let m = col_lanes(simd, -(a.pad_left as isize), a.in_w);
    let mut oy = a.oy0;
    // SAFETY: forwarded contract; each pass covers rows below `oy1`.
    unsafe {
        while oy + NARROW_RR <= a.oy1 {
            nchw_narrow_rows::<S, K, NARROW_RR>(simd, a, w, epi, m, oy);
            oy += NARROW_RR;
        }
        match a.oy1 - oy {
            0 => {}
            1 => nchw_narrow_rows::<S, K, 1>(simd, a, w, epi, m, oy),
            2 => nchw_narrow_rows::<S, K, 2>(simd, a, w, epi, m, oy),
            3 => nchw_narrow_rows::<S, K, 3>(simd, a, w, epi, m, oy),
            4 => nchw_narrow_rows::<S, K, 4>(simd, a, w, epi, m, oy),
            5 => nchw_narrow_rows::<S, K, 5>(simd, a, w, epi, m, oy),
            6 => nchw_narrow_rows::<S, K, 6>(simd, a, w, epi, m, oy),
            _ => nchw_narrow_rows::<S, K, 7>(simd, a, w, epi, m, oy),
        }
    }
}

/// Output rows per pass of the two-vector narrow-row stride-1 path (eight accumulators; six rows measured no
/// faster).
const NARROW2_RR: usize = 4;

/// `RR` output rows starting at `oy` of a `K x K` stride-1 NCHW kernel whose rows fit two vectors (`lanes < ow`,
/// `ow + K - 1 <= 2 * lanes`): each input row is two masked loads from columns `-pad_left` and `lanes - pad_left`
/// (`m`); tap `kx` of the first output vector is the pair moved down by `kx` lanes, of the second the second vector
/// moved down by `kx` lanes.
///
/// # Safety
/// [`NchwPlane`]'s contract for the direct kernels with `oy + RR <= oy1`; `m` = the [`col_lanes`] of the two
/// vectors.
#[inline(always)]
unsafe fn nchw_narrow2_rows<S: DwSimd, const K: usize, const RR: usize>(
    simd: S,
    a: &NchwPlane,
    w: &[[S::f32s; K]; K],
    epi: Epilogue<S>,
    m: [Lanes<S>; 2],
    oy: usize,
) {
    let lanes = S::F32_LANES;
    let bias = simd.splat_f32s(a.bias);
    let mut acc = [[bias; 2]; RR];
    let c = -(a.pad_left as isize);
    for i in 0..RR + K - 1 {
        let row = nchw_row(a, (oy + i) as isize - a.pad_top as isize);
        // SAFETY: the row holds `in_w` floats, of which the masks enable only columns inside.
        let (v0, v1) = unsafe {
            (
                mask_load(simd, m[0], row.wrapping_offset(c)),
                mask_load(simd, m[1], row.wrapping_offset(c + lanes as isize)),
            )
        };
        let mut t = [[v0, v1]; K];
        for (kx, t) in t.iter_mut().enumerate().skip(1) {
            *t = [simd.shift_in(v0, v1, lanes - kx), simd.shift_down(v1, kx)];
        }
        for (r, acc) in acc.iter_mut().enumerate() {
            if i >= r && i - r < K {
                for (kx, t) in t.iter().enumerate() {
                    for (acc, &t) in acc.iter_mut().zip(t) {
                        *acc = simd.mul_add_e_f32s(t, w[i - r][kx], *acc);
                    }
                }
            }
        }
    }
    let full = Lanes::new(simd, 0, lanes);
    let tail = Lanes::new(simd, 0, a.ow - lanes);
    for (r, [acc0, acc1]) in acc.into_iter().enumerate() {
        // SAFETY: outputs `0..ow` of row `oy + r` are inside the output (contract), `lanes < ow`.
        unsafe {
            epi.finish::<false>(simd, acc0, a.y, a.res, (oy + r) * a.ow, full);
            epi.finish::<true>(simd, acc1, a.y, a.res, (oy + r) * a.ow + lanes, tail);
        }
    }
}

/// [`nchw_narrow2_rows`] over rows `oy0..oy1`: `NARROW2_RR` rows per pass, the rest in one pass. Against the
/// vector-at-a-time path (a window vector, an interior and an edge vector per row and pass, their masks computed
/// per pass): 28x28x192 1.42-1.51x on Zen 4 (AVX-512, in process, three alternating rounds), 14x14x384 forced to
/// AVX2 1.19-1.20x.
///
/// # Safety
/// As [`nchw_narrow2_rows`] for rows `oy0..oy1`.
#[inline(always)]
unsafe fn nchw_narrow2<S: DwSimd, const K: usize>(simd: S, a: &NchwPlane, w: &[[S::f32s; K]; K], epi: Epilogue<S>) {
    let lanes = S::F32_LANES as isize;
    let c = -(a.pad_left as isize);
    let m = [col_lanes(simd, c, a.in_w), col_lanes(simd, c + lanes, a.in_w)];
    let mut oy = a.oy0;
    // SAFETY: forwarded contract; each pass covers rows below `oy1`.
    unsafe {
        while oy + NARROW2_RR <= a.oy1 {
            nchw_narrow2_rows::<S, K, NARROW2_RR>(simd, a, w, epi, m, oy);
            oy += NARROW2_RR;
        }
        match a.oy1 - oy {
            0 => {}
            1 => nchw_narrow2_rows::<S, K, 1>(simd, a, w, epi, m, oy),
            2 => nchw_narrow2_rows::<S, K, 2>(simd, a, w, epi, m, oy),
            _ => nchw_narrow2_rows::<S, K, 3>(simd, a, w, epi, m, oy),
        }
    }
}

/// `RR` output rows starting at `oy` of a 3x3 stride-2 NCHW kernel whose output rows are `NV` vectors (`(NV - 1) *
/// lanes < ow <= NV * lanes`) and whose left padding is at least 1: each input row is `2 * NV` masked loads from
/// column `1 - pad_left` (`m`), each pair split into the even and odd columns of one output vector; the first
/// vector's shifted odd tap takes zeros from the left (all padding), the others' the previous vector's odd columns.
/// Every output vector of the pass keeps its accumulators, so nothing is carried from step to step but that one
/// odd vector.
///
/// # Safety
/// [`NchwPlane`]'s contract for the direct kernels with `oy + RR <= oy1`; `K == 3`, `NV <= 4`; `m` = the
/// [`col_lanes`] of the `2 * NV` vectors.
#[inline(always)]
unsafe fn nchw_whole_s2_rows<S: DwSimd, const K: usize, const NV: usize, const RR: usize>(
    simd: S,
    a: &NchwPlane,
    w: &[[S::f32s; K]; K],
    epi: Epilogue<S>,
    m: &[Lanes<S>; 8],
    oy: usize,
) {
    let lanes = S::F32_LANES;
    let l = lanes as isize;
    let bias = simd.splat_f32s(a.bias);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [[bias; NV]; RR];
    let c = 1 - a.pad_left as isize;
    for i in 0..2 * RR + 1 {
        let row = nchw_row(a, (2 * oy + i) as isize - a.pad_top as isize);
        let mut prev = zero;
        for j in 0..NV {
            let q = 2 * j;
            // SAFETY: the row holds `in_w` floats, of which the masks enable only columns inside.
            let (e, o) = unsafe {
                simd.split_pairs(
                    mask_load(simd, m[q], row.wrapping_offset(c + q as isize * l)),
                    mask_load(simd, m[q + 1], row.wrapping_offset(c + (q as isize + 1) * l)),
                )
            };
            let t = [simd.split_shift_in(prev, o, 1), e, o];
            prev = o;
            for (r, acc) in acc.iter_mut().enumerate() {
                if i >= 2 * r && i - 2 * r < 3 {
                    for (kx, &t) in t.iter().enumerate() {
                        acc[j] = simd.mul_add_e_f32s(t, w[i - 2 * r][kx], acc[j]);
                    }
                }
            }
        }
    }
    let full = Lanes::new(simd, 0, lanes);
    let tail = Lanes::new(simd, 0, a.ow - (NV - 1) * lanes);
    for (r, acc) in acc.into_iter().enumerate() {
        for (j, acc) in acc.into_iter().enumerate() {
            let off = (oy + r) * a.ow + j * lanes;
            // SAFETY: outputs `0..ow` of row `oy + r` are inside the output (contract).
            unsafe {
                if j + 1 < NV {
                    epi.finish::<false>(simd, simd.split_order(acc), a.y, a.res, off, full);
                } else {
                    epi.finish::<true>(simd, simd.split_order(acc), a.y, a.res, off, tail);
                }
            }
        }
    }
}

/// [`nchw_whole_s2_rows`] over rows `oy0..oy1`: `RR` rows per pass, the rest in one pass. Against the
/// vector-at-a-time path (Zen 4, AVX-512, in process, input 16 bytes past a line, medians of alternating processes):
/// 56x56x144 (two vectors, three rows a pass) 45.8 against 34.7 GFLOP/s, 84x84x96 (three, two rows) 56.5 against
/// 40.9, 112x112x96 (four, two rows) 51.7 against 39.9.
///
/// # Safety
/// As [`nchw_whole_s2_rows`] for rows `oy0..oy1`.
#[inline(always)]
unsafe fn nchw_whole_s2<S: DwSimd, const K: usize, const NV: usize, const RR: usize>(
    simd: S,
    a: &NchwPlane,
    w: &[[S::f32s; K]; K],
    epi: Epilogue<S>,
) {
    let l = S::F32_LANES as isize;
    let c = 1 - a.pad_left as isize;
    let m = core::array::from_fn(|q| col_lanes(simd, c + q as isize * l, a.in_w));
    let mut oy = a.oy0;
    // SAFETY: forwarded contract; each pass covers rows below `oy1`.
    unsafe {
        while oy + RR <= a.oy1 {
            nchw_whole_s2_rows::<S, K, NV, RR>(simd, a, w, epi, &m, oy);
            oy += RR;
        }
        match a.oy1 - oy {
            0 => {}
            1 => nchw_whole_s2_rows::<S, K, NV, 1>(simd, a, w, epi, &m, oy),
            _ => nchw_whole_s2_rows::<S, K, NV, 2>(simd, a, w, epi, &m, oy),
        }
    }
}

/// The tap masks of the flat small-plane path for a stride-1 `kh x kw` kernel whose output plane has the input's
/// size (`in_h x in_w`): for output vector `v` (outputs `v * lanes ..` of the plane in row-major order) and tap
/// `t = ky * kw + kx`, bit `j` is set when output `v * lanes + j` exists and its tap lies inside the image.
pub fn flat_masks(
    lanes: usize,
    in_h: usize,
    in_w: usize,
    kh: usize,
    kw: usize,
    pad_top: usize,
    pad_left: usize,
) -> Vec<u32> {
    let n = in_h * in_w;
    let nvec = n.div_ceil(lanes);
    let mut m = vec![0u32; nvec * kh * kw];
    for i in 0..n {
        let (y, x) = (i / in_w, i % in_w);
        for ky in 0..kh {
            for kx in 0..kw {
                let (iy, ix) = ((y + ky) as isize - pad_top as isize, (x + kx) as isize - pad_left as isize);
                if iy >= 0 && (iy as usize) < in_h && ix >= 0 && (ix as usize) < in_w {
                    m[(i / lanes) * kh * kw + ky * kw + kx] |= 1 << (i % lanes);
                }
            }
        }
    }
    m
}

/// Output vectors `v` and, when `two`, `v + 1` of the flat small-plane path: the plane's outputs
/// in row-major order fill the lanes across rows, tap `(ky, kx)` of output `i` is input `i + (ky - pad_top) *
/// in_w + kx - pad_left` (`ow == in_w`), loaded where its mask bit is set (inside the image), zero elsewhere.
///
/// # Safety
/// [`NchwPlane`]'s contract for the direct kernels, `a.flat` holding [`flat_masks`] for this plane, `v` (and
/// `v + 1` when `two`) below the plane's vector count.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn nchw_flat_pair<S: DwSimd, const K: usize>(
    simd: S,
    a: &NchwPlane,
    w: &[[S::f32s; K]; K],
    bias: S::f32s,
    epi: Epilogue<S>,
    v: usize,
    two: bool,
    n: usize,
) {
    let lanes = S::F32_LANES;
    let mut acc = [bias; 2];
    let base = -((a.pad_top * a.in_w + a.pad_left) as isize);
    for (ky, wr) in w.iter().enumerate() {
        for (kx, &wt) in wr.iter().enumerate() {
            let off = base + (ky * a.in_w + kx) as isize;
            for (u, acc) in acc.iter_mut().enumerate() {
                if u == 1 && !two {
                    continue;
                }
                let i0 = ((v + u) * lanes) as isize;
                // SAFETY: the mask (inside the plane's masks) enables only taps inside the image.
                let x = unsafe {
                    let bits = *a.flat.add((v + u) * K * K + ky * K + kx);
                    simd.load_bits(bits, a.x.wrapping_offset(i0 + off))
                };
                *acc = simd.mul_add_e_f32s(x, wt, *acc);
            }
        }
    }
    for (u, acc) in acc.into_iter().enumerate() {
        if u == 1 && !two {
            continue;
        }
        let i0 = (v + u) * lanes;
        let tail = Lanes::new(simd, 0, (n - i0).min(lanes));
        // SAFETY: outputs `i0 .. min(i0 + lanes, n)` are inside the output plane.
        unsafe { epi.finish::<true>(simd, acc, a.y, a.res, i0, tail) };
    }
}

/// The flat small-plane path: whole planes whose outputs fill the lanes across rows (7x7: four vectors instead
/// of seven rows of seven lanes), two vectors at a time, `planes` planes per call (the per-call set-up would
/// otherwise cost as much as a small plane's arithmetic).
///
/// # Safety
/// As [`nchw_flat_pair`] for every vector of every plane.
#[inline(always)]
unsafe fn nchw_flat<S: DwSimd, const K: usize>(simd: S, a: &NchwPlane, epi: Epilogue<S>) {
    let n = a.oy1 * a.ow;
    let nvec = n.div_ceil(S::F32_LANES);
    let mut q = *a;
    // SAFETY: forwarded contract: plane `i` of the call is at the documented offsets.
    unsafe {
        for i in 0..a.planes {
            q.x = a.x.add(i * a.in_h * a.in_w);
            q.y = a.y.add(i * n);
            q.res = if a.res.is_null() { a.res } else { a.res.add(i * n) };
            let wp = a.w.add(i * K * K);
            let mut w = [[simd.splat_f32s(0.0); K]; K];
            for (ky, wr) in w.iter_mut().enumerate() {
                for (kx, v) in wr.iter_mut().enumerate() {
                    *v = simd.splat_f32s(*wp.add(ky * K + kx));
                }
            }
            let bias = simd.splat_f32s(*a.biases.add(i));
            let mut v = 0;
            while v < nvec {
                nchw_flat_pair::<S, K>(simd, &q, &w, bias, epi, v, v + 1 < nvec, n);
                v += 2;
            }
        }
    }
}

/// NCHW `K x K`, stride `ST` (both directions), undilated kernel reading the input plane in place (no prepared
/// rows): `RR` output rows per pass, the last rows in one smaller pass. Rows outside the image are read from the
/// zero row and multiplied like the others, so the weights must be finite for padding to contribute nothing.
///
/// # Safety
/// `a` satisfies [`NchwPlane`]'s contract for the direct kernels with `kh == kw == K`, `stride_h == stride_w ==
/// ST`, no dilation; `(RR - 1) * ST + K <= 16`, `ST <= 2`.
#[inline(always)]
pub unsafe fn nchw_direct<S: DwSimd, const K: usize, const ST: usize, const RR: usize>(simd: S, a: &NchwPlane) {
    debug_assert!(a.kh == K && a.kw == K && a.stride_h == ST && a.stride_w == ST && a.dil_h == 1 && a.dil_w == 1);
    const { assert!(RR >= 1 && RR <= 4 && (RR - 1) * ST + K <= 16 && (ST == 1 || ST == 2) && K <= MAX_WIN) };
    let epi = Epilogue::new(simd, a.min, a.max);
    if ST == 1 && !a.flat.is_null() {
        debug_assert!(a.oy0 == 0 && a.ow == a.in_w);
        // SAFETY: forwarded contract; the driver sets `flat` for whole small planes only.
        unsafe { nchw_flat::<S, K>(simd, a, epi) };
        return;
    }
    let mut w = [[simd.splat_f32s(0.0); K]; K];
    // SAFETY: `w` holds `K * K` weights (contract).
    unsafe {
        for (ky, wr) in w.iter_mut().enumerate() {
            for (kx, v) in wr.iter_mut().enumerate() {
                *v = simd.splat_f32s(*a.w.add(ky * K + kx));
            }
        }
    }
    let mut oy = a.oy0;
    // Rows that fit one vector: every column a row's outputs read is loaded at once (no window).
    if ST == 1 && a.ow + K - 1 <= S::F32_LANES {
        // SAFETY: forwarded contract.
        unsafe { nchw_narrow::<S, K>(simd, a, &w, epi) };
        return;
    }
    // 3x3 rows that fit two vectors (stride 1): each input row loaded whole, no window carried from vector to vector.
    if K == 3 && a.ow > S::F32_LANES {
        if ST == 1 && a.ow + K - 1 <= 2 * S::F32_LANES {
            // SAFETY: forwarded contract.
            unsafe { nchw_narrow2::<S, K>(simd, a, &w, epi) };
            return;
        }
        // Stride 2, rows of up to four vectors: likewise, every output vector of a pass in registers.
        if ST == 2 && a.pad_left >= 1 && a.ow <= 4 * S::F32_LANES {
            // SAFETY: forwarded contract.
            unsafe {
                match a.ow.div_ceil(S::F32_LANES) {
                    2 => nchw_whole_s2::<S, K, 2, 3>(simd, a, &w, epi),
                    3 => nchw_whole_s2::<S, K, 3, 2>(simd, a, &w, epi),
                    _ => nchw_whole_s2::<S, K, 4, 2>(simd, a, &w, epi),
                }
            }
            return;
        }
    }
    // SAFETY: forwarded contract; each pass covers rows below `oy1`.
    unsafe {
        while oy + RR <= a.oy1 {
            nchw_direct_rows::<S, K, ST, RR>(simd, a, &w, epi, oy);
            oy += RR;
        }
        match a.oy1 - oy {
            0 => {}
            1 => nchw_direct_rows::<S, K, ST, 1>(simd, a, &w, epi, oy),
            2 => nchw_direct_rows::<S, K, ST, 2>(simd, a, &w, epi, oy),
            _ => nchw_direct_rows::<S, K, ST, 3>(simd, a, &w, epi, oy),
        }
    }
}

/// NCHW kernel for any kernel size, stride and dilation, one output row and vector at a time. Padded taps are
/// skipped exactly (padded rows are not read, masked lanes keep their accumulator), so non-finite weights on
/// padding taps change nothing.
///
/// # Safety
/// `a` satisfies [`NchwPlane`]'s contract.
#[inline(always)]
pub unsafe fn nchw_generic<S: Simd>(simd: S, a: &NchwPlane) {
    let lanes = S::F32_LANES;
    let epi = Epilogue::new(simd, a.min, a.max);
    let bias = simd.splat_f32s(a.bias);
    let full = Lanes::new(simd, 0, lanes);
    // Outputs in [ox_lo, ox_hi) have every tap column inside the image.
    let span = (a.kw - 1) * a.dil_w;
    let ox_lo = a.pad_left.div_ceil(a.stride_w);
    let ox_hi = if a.in_w + a.pad_left > span { (a.in_w - 1 + a.pad_left - span) / a.stride_w + 1 } else { 0 };
    // SAFETY: padded rows are skipped, prepared rows are read below `round_up(ow, lanes)` plus the tap shift
    // (contract); outputs below `ow` of rows `oy0..oy1`.
    unsafe {
        for oy in a.oy0..a.oy1 {
            let mut ox0 = 0;
            while ox0 < a.ow {
                let nl = lanes.min(a.ow - ox0);
                let interior = ox0 >= ox_lo && ox0 + lanes <= ox_hi;
                let mut acc = bias;
                for ky in 0..a.kh {
                    let iy = (oy * a.stride_h + ky * a.dil_h) as isize - a.pad_top as isize;
                    if iy < 0 || iy >= a.in_h as isize {
                        continue;
                    }
                    let row = nchw_row(a, iy);
                    for kx in 0..a.kw {
                        let wv = simd.splat_f32s(*a.w.add(ky * a.kw + kx));
                        let f = simd.mul_add_e_f32s(load::<S>(row.add(col_off(a, kx) + ox0)), wv, acc);
                        acc = if interior {
                            f
                        } else {
                            // Lanes whose tap lies in the image: 0 <= (ox0 + l) * stride + kx * dil - pad < in_w.
                            let t = (kx * a.dil_w) as isize - a.pad_left as isize;
                            let base = ox0 as isize * a.stride_w as isize + t;
                            let lo = ((-base).max(0) as usize).div_ceil(a.stride_w).min(nl);
                            let hi = ((a.in_w as isize - base).max(0) as usize).div_ceil(a.stride_w).clamp(lo, nl);
                            simd.select_f32s(Lanes::new(simd, lo, hi).m.mask(), f, acc)
                        };
                    }
                }
                let off = oy * a.ow + ox0;
                if nl == lanes {
                    epi.finish::<false>(simd, acc, a.y, a.res, off, full);
                } else {
                    epi.finish::<true>(simd, acc, a.y, a.res, off, Lanes::new(simd, 0, nl));
                }
                ox0 += lanes;
            }
        }
    }
}

/// NCHW kernel for grouped convolutions of `a.group` (2, 4, 8 or 16) input and output channels per group: output
/// rows `oy0..oy1` of the group's output planes from its input planes' prepared rows ([`pad_rows`]), pixels in
/// the lanes. Each input vector loaded serves the `group` output planes, each with its weight broadcast: per
/// output the bias, then one multiply-add per (input channel, ky, kx), then the residual and the clamp. Padded
/// rows are skipped, padded columns multiply the zeros of the prepared rows (the same for the finite weights the
/// plan sends here).
///
/// # Safety
/// [`NchwPlane`]'s contract for the general kernel, for each of the group's input planes (`x + i * x_plane`) and
/// output planes (`y + j * y_plane`), with the weights and biases of [`NchwPlane::group`].
#[inline(always)]
pub unsafe fn nchw_grouped<S: Simd, const ACC: usize>(simd: S, a: &NchwPlane) {
    // SAFETY: forwarded contract.
    unsafe {
        match a.group {
            2 => nchw_grouped_rows::<S, 2, ACC>(simd, a),
            4 => nchw_grouped_rows::<S, 4, ACC>(simd, a),
            8 => nchw_grouped_rows::<S, 8, ACC>(simd, a),
            16 => nchw_grouped_rows::<S, 16, ACC>(simd, a),
            g => unreachable!("grouped kernel called for {g} channels per group"),
        }
    }
}

/// [`nchw_grouped`] for `CG` channels per group, `CG * V` accumulators of `V = ACC / CG` (at least one) vectors
/// of pixels per output plane.
///
/// # Safety
/// As [`nchw_grouped`], `a.group == CG`.
#[inline(always)]
unsafe fn nchw_grouped_rows<S: Simd, const CG: usize, const ACC: usize>(simd: S, a: &NchwPlane) {
    const { assert!(ACC >= 1 && ACC <= 32) };
    let v_max = (ACC / CG).max(1);
    // SAFETY: forwarded contract.
    unsafe {
        match v_max {
            1 => nchw_grouped_block::<S, CG, 1>(simd, a),
            2 | 3 => nchw_grouped_block::<S, CG, 2>(simd, a),
            _ => nchw_grouped_block::<S, CG, 4>(simd, a),
        }
    }
}

/// [`nchw_grouped_rows`] with `V` vectors of pixels per step.
///
/// # Safety
/// As [`nchw_grouped`].
#[inline(always)]
unsafe fn nchw_grouped_block<S: Simd, const CG: usize, const V: usize>(simd: S, a: &NchwPlane) {
    let lanes = S::F32_LANES;
    let epi = Epilogue::new(simd, a.min, a.max);
    let (dil_quot, dil_rem) = (a.dil_w / a.stride_w, a.dil_w % a.stride_w);
    let mut bias = [simd.splat_f32s(0.0); CG];
    for (j, b) in bias.iter_mut().enumerate() {
        // SAFETY: the group's `CG` biases (contract).
        *b = simd.splat_f32s(unsafe { *a.biases.add(j) });
    }
    // SAFETY: padded rows are skipped; prepared rows are read below `round_up(ow, lanes)` plus the tap shift, a
    // vector at a time for vectors starting below `ow` (contract); outputs below `ow` of rows `oy0..oy1`.
    unsafe {
        for oy in a.oy0..a.oy1 {
            let mut ox0 = 0;
            while ox0 < a.ow {
                // Vectors in this step (those starting below `ow`), lanes of the last one. The loops over `V` run
                // to the constant with the count as a condition, so the accumulators stay in registers.
                let nv = (a.ow - ox0).div_ceil(lanes).min(V);
                let nl = (a.ow - ox0 - (nv - 1) * lanes).min(lanes);
                let mut acc = [[simd.splat_f32s(0.0); V]; CG];
                for (j, row) in acc.iter_mut().enumerate() {
                    *row = [bias[j]; V];
                }
                for i in 0..CG {
                    for ky in 0..a.kh {
                        let iy = (oy * a.stride_h + ky * a.dil_h) as isize - a.pad_top as isize;
                        if iy < 0 || iy >= a.in_h as isize {
                            continue;
                        }
                        let row = nchw_row(a, iy).add(i * a.x_plane + ox0);
                        let wk = a.w.add((i * a.kh + ky) * a.kw * CG);
                        // Tap `kx` reads phase `(kx * dil) % stride` at element `(kx * dil) / stride`, stepped
                        // by `dil`'s quotient and remainder without a division per tap.
                        let (mut phase, mut shift) = (0, 0);
                        for kx in 0..a.kw {
                            let src = row.add(phase * a.x_phase + shift);
                            let mut xv = [simd.splat_f32s(0.0); V];
                            for (v, x) in xv.iter_mut().enumerate() {
                                if v < nv {
                                    *x = load::<S>(src.add(v * lanes));
                                }
                            }
                            let wp = wk.add(kx * CG);
                            for (j, acc) in acc.iter_mut().enumerate() {
                                let wj = simd.splat_f32s(*wp.add(j));
                                for (acc, &x) in acc.iter_mut().zip(&xv) {
                                    *acc = simd.mul_add_e_f32s(x, wj, *acc);
                                }
                            }
                            phase += dil_rem;
                            shift += dil_quot;
                            if phase >= a.stride_w {
                                phase -= a.stride_w;
                                shift += 1;
                            }
                        }
                    }
                }
                for (j, acc) in acc.iter().enumerate() {
                    let y = a.y.add(j * a.y_plane);
                    let res = if a.res.is_null() { a.res } else { a.res.add(j * a.y_plane) };
                    for (v, &val) in acc.iter().enumerate() {
                        let off = oy * a.ow + ox0 + v * lanes;
                        if v + 1 < nv || (v + 1 == nv && nl == lanes) {
                            epi.finish::<false>(simd, val, y, res, off, Lanes::new(simd, 0, lanes));
                        } else if v + 1 == nv {
                            epi.finish::<true>(simd, val, y, res, off, Lanes::new(simd, 0, nl));
                        }
                    }
                }
                ox0 += nv * lanes;
            }
        }
    }
}

/// Prepares NCHW input rows for the kernels: the split into stride phases, shifted by the left padding.
///
/// Pointer contract: `src` holds `rows` rows of `in_w` floats, `in_w` apart; prepared row `i` is at
/// `dst + i * stride * x_phase`, phase `p` element `j` (`j < x_phase`) receives input column
/// `j * stride + p - pad_left` where that lies inside `0..in_w`. Elements outside that range are zero and stay
/// zero: the caller zeroes them once (they sit at the same places for every row and plane of a layer); whole
/// vectors of zeros are rewritten after the valid range, so `x_phase >= pad_left + in_w + lanes` with stride 1 and
/// `x_phase >= round_up(ceil((pad_left + in_w) / 2), lanes)` with stride 2.
#[derive(Clone, Copy, Debug)]
pub struct PadRows {
    pub src: *const f32,
    pub rows: usize,
    pub in_w: usize,
    pub stride: usize,
    pub pad_left: usize,
    pub dst: *mut f32,
    pub x_phase: usize,
}

/// Columns `c .. c + lanes` of a row of `w` floats at `src`, zero outside `0..w`; reads nothing else.
///
/// # Safety
/// `w` floats are readable at `src`.
#[inline(always)]
unsafe fn load_cols<S: Simd>(simd: S, src: *const f32, c: isize, w: usize) -> S::f32s {
    let l = S::F32_LANES as isize;
    // SAFETY: only columns inside `0..w` are read.
    unsafe {
        if c >= 0 && c + l <= w as isize {
            load::<S>(src.add(c as usize))
        } else {
            let (lo, hi) = ((-c).clamp(0, l) as usize, (w as isize - c).clamp(0, l) as usize);
            if lo < hi {
                mask_load(simd, Lanes::new(simd, lo, hi), src.wrapping_offset(c))
            } else {
                simd.splat_f32s(0.0)
            }
        }
    }
}

/// Row preparation: vector copies for stride 1, vector pair splits ([`DwSimd::deinterleave`]) for stride 2.
///
/// # Safety
/// `a` satisfies [`PadRows`]'s contract.
#[inline(always)]
pub unsafe fn pad_rows<S: DwSimd>(simd: S, a: &PadRows) {
    let (s, pl, xp, w) = (a.stride, a.pad_left, a.x_phase, a.in_w);
    let lanes = S::F32_LANES;
    // Valid elements of phase `p`: `j0 <= j < j1`.
    let range = |p: usize| {
        let j0 = pl.saturating_sub(p).div_ceil(s).min(xp);
        let j1 = (w + pl).saturating_sub(p).div_ceil(s).clamp(j0, xp);
        (j0, j1)
    };
    // SAFETY: every read is below `in_w` in a source row, every write inside the valid range of its phase
    // (contract).
    unsafe {
        for i in 0..a.rows {
            let src = a.src.add(i * w);
            let dst = a.dst.add(i * s * xp);
            if s == 1 {
                let (j0, j1) = range(0);
                let (d, sp, n) = (dst.add(j0), src.add(j0 - pl), j1 - j0);
                let mut k = 0;
                while k + lanes <= n {
                    store::<S>(d.add(k), load::<S>(sp.add(k)));
                    k += lanes;
                }
                if k < n {
                    // The lanes past the row are zero, and so is the slack they land in.
                    store::<S>(d.add(k), mask_load(simd, Lanes::new(simd, 0, n - k), sp.add(k)));
                }
            } else if s == 2 {
                // Pairs of the zero-padded row `r[c] = x[c - pl]`: floats `2j` and `2j + 1` go to phases 0 and 1 at
                // `j`, whole vectors at a time, lanes outside the image loaded as zeros.
                let n = (w + pl).div_ceil(2);
                let mut j = 0;
                while j < n {
                    let c = (2 * j) as isize - pl as isize;
                    let (e, o) =
                        simd.deinterleave(load_cols(simd, src, c, w), load_cols(simd, src, c + lanes as isize, w));
                    store::<S>(dst.add(j), e);
                    store::<S>(dst.add(xp + j), o);
                    j += lanes;
                }
            } else {
                for p in 0..s {
                    let (j0, j1) = range(p);
                    for j in j0..j1 {
                        *dst.add(p * xp + j) = *src.add(j * s + p - pl);
                    }
                }
            }
        }
    }
}

/// Declares the depthwise entry points of one ISA and its `KERNELS` list.
///
/// `$token` is an expression producing the backend; it runs inside an `unsafe` block whose safety the plan proves
/// by having detected the ISA before any entry point can be reached. The bodies are called with the concrete
/// backend `$simd`, not the `S` that `vectorize` passes (a stand-in such as `V3_512b` vectorizes through its
/// host ISA, which would hand over the 8-lane `V3`).
///
/// `$rs1` is the number of outputs per step of the stride-1 NHWC kernels: 6 with AVX-512's 32 registers (12
/// accumulators; measured against 4 on Zen 4: 3x3 1.02-1.08x, 5x5 1.06-1.09x) and its stand-ins, 4 where 16
/// registers hold the 8 accumulators, 6 weights and 2 inputs. `$acc` is the NCHW grouped kernel's accumulator
/// budget (output planes x vectors of pixels): 16 of 32 registers, 8 of AVX2's 16. `$pair` lists the NHWC 3x3
/// stride-2 kernel that takes two output rows a call ([`nhwc_rows`]; see the `KERNELS` list).
macro_rules! dw_entry_points {
    (
        $simd:ty,
        $token:expr,
        $isa:expr,
        $lanes:literal,
        $tile:literal,
        $suffix:literal,
        $rs1:literal,
        $acc:literal,
        $pair:literal
    ) => {
        use $crate::ukernel::dwconv::generic as g;
        use $crate::ukernel::dwconv::{DwEntry, DwKernel, DwShape};

        /// Vectors of channels per NHWC tile.
        const NV: usize = 2;
        /// Outputs per step of the stride-1 NHWC kernels (`2 * RS1` accumulators, `2 * K` weight vectors).
        const RS1: usize = $rs1;
        /// Outputs per step of a stride-1 tile of one vector (as many accumulators as `RS1` outputs of two).
        const RS1_ONE: usize = 2 * $rs1;

        struct NhwcFast<'a, 'b, const K: usize, const ST: usize, const R: usize, const R1: usize, const V: usize>(
            &'a g::NhwcRow<'b>,
            $simd,
        );
        impl<const K: usize, const ST: usize, const R: usize, const R1: usize, const V: usize> pulp::WithSimd
            for NhwcFast<'_, '_, K, ST, R, R1, V>
        {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NhwcRow contract for this shape.
                unsafe { g::nhwc_fast::<$simd, K, ST, R, R1, V>(self.1, self.0) }
            }
        }
        struct NhwcRows<'a, 'b, const K: usize, const ST: usize, const R: usize>(&'a g::NhwcRow<'b>, $simd);
        impl<const K: usize, const ST: usize, const R: usize> pulp::WithSimd for NhwcRows<'_, '_, K, ST, R> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NhwcRow contract for this shape.
                unsafe { g::nhwc_rows::<$simd, K, ST, R>(self.1, self.0) }
            }
        }
        struct NhwcGeneric<'a, 'b>(&'a g::NhwcRow<'b>, $simd);
        impl pulp::WithSimd for NhwcGeneric<'_, '_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NhwcRow contract.
                unsafe { g::nhwc_generic::<$simd, NV>(self.1, self.0) }
            }
        }
        struct NhwcGrouped<'a, 'b>(&'a g::NhwcRow<'b>, $simd);
        impl pulp::WithSimd for NhwcGrouped<'_, '_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NhwcRow contract of the grouped kernel.
                unsafe { g::nhwc_grouped::<$simd>(self.1, self.0) }
            }
        }
        struct NchwDirect<'a, const K: usize, const ST: usize, const RR: usize>(&'a g::NchwPlane, $simd);
        impl<const K: usize, const ST: usize, const RR: usize> pulp::WithSimd for NchwDirect<'_, K, ST, RR> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NchwPlane contract for this shape.
                unsafe { g::nchw_direct::<$simd, K, ST, RR>(self.1, self.0) }
            }
        }
        struct NchwGeneric<'a>(&'a g::NchwPlane, $simd);
        impl pulp::WithSimd for NchwGeneric<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NchwPlane contract.
                unsafe { g::nchw_generic::<$simd>(self.1, self.0) }
            }
        }
        struct NchwGrouped<'a>(&'a g::NchwPlane, $simd);
        impl pulp::WithSimd for NchwGrouped<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NchwPlane contract of the grouped kernel.
                unsafe { g::nchw_grouped::<$simd, $acc>(self.1, self.0) }
            }
        }
        struct Pad<'a>(&'a g::PadRows, $simd);
        impl pulp::WithSimd for Pad<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the PadRows contract.
                unsafe { g::pad_rows::<$simd>(self.1, self.0) }
            }
        }

        fn token() -> $simd {
            // SAFETY: entry points are reachable only through a plan built for an ISA this CPU has
            // (see `Isa::available`), so the backend token is valid.
            #[allow(unused_unsafe)]
            unsafe {
                $token
            }
        }
        /// # Safety
        /// [`g::NhwcRow`]'s contract for a `K x K` stride-`ST` undilated kernel.
        unsafe fn nhwc_fast<const K: usize, const ST: usize, const R: usize, const R1: usize, const V: usize>(
            a: &g::NhwcRow<'_>,
        ) {
            let simd = token();
            pulp::Simd::vectorize(simd, NhwcFast::<K, ST, R, R1, V>(a, simd))
        }
        /// # Safety
        /// [`g::NhwcRow`]'s contract for a `K x K` stride-`ST` undilated kernel over tiles of one vector.
        unsafe fn nhwc_rows<const K: usize, const ST: usize, const R: usize>(a: &g::NhwcRow<'_>) {
            let simd = token();
            pulp::Simd::vectorize(simd, NhwcRows::<K, ST, R>(a, simd))
        }
        /// # Safety
        /// [`g::NhwcRow`]'s contract.
        unsafe fn nhwc_generic(a: &g::NhwcRow<'_>) {
            let simd = token();
            pulp::Simd::vectorize(simd, NhwcGeneric(a, simd))
        }
        /// # Safety
        /// [`g::NhwcRow`]'s contract for [`g::nhwc_grouped`].
        unsafe fn nhwc_grouped(a: &g::NhwcRow<'_>) {
            let simd = token();
            pulp::Simd::vectorize(simd, NhwcGrouped(a, simd))
        }
        /// # Safety
        /// [`g::NchwPlane`]'s contract for a direct `K x K` stride-`ST` undilated kernel.
        unsafe fn nchw_direct<const K: usize, const ST: usize, const RR: usize>(a: &g::NchwPlane) {
            let simd = token();
            pulp::Simd::vectorize(simd, NchwDirect::<K, ST, RR>(a, simd))
        }
        /// # Safety
        /// [`g::NchwPlane`]'s contract.
        unsafe fn nchw_generic(a: &g::NchwPlane) {
            let simd = token();
            pulp::Simd::vectorize(simd, NchwGeneric(a, simd))
        }
        /// # Safety
        /// [`g::NchwPlane`]'s contract for [`g::nchw_grouped`].
        unsafe fn nchw_grouped(a: &g::NchwPlane) {
            let simd = token();
            pulp::Simd::vectorize(simd, NchwGrouped(a, simd))
        }
        /// # Safety
        /// [`g::PadRows`]'s contract.
        unsafe fn pad(a: &g::PadRows) {
            let simd = token();
            pulp::Simd::vectorize(simd, Pad(a, simd))
        }

        const fn k(name: &'static str, nv: usize, shape: DwShape, entry: DwEntry) -> DwKernel {
            DwKernel { name, isa: $isa, lanes: $lanes, nv, shape, entry, pad, pair: false, min_channels: 0 }
        }

        /// Every depthwise kernel of this ISA, the two-row NHWC kernel last ([`KERNELS`] keeps it where `$pair`).
        const ALL: &[DwKernel] = &[
            k(
                concat!("f32_dwconv_3x3s1_", $tile, "c__", $suffix),
                2,
                DwShape::K3S1,
                DwEntry::Nhwc(nhwc_fast::<3, 1, RS1, RS1_ONE, 2>),
            ),
            k(
                concat!("f32_dwconv_3x3s2_", $tile, "c__", $suffix),
                2,
                DwShape::K3S2,
                DwEntry::Nhwc(nhwc_fast::<3, 2, 4, 8, 2>),
            ),
            k(
                concat!("f32_dwconv_5x5s1_", $tile, "c__", $suffix),
                2,
                DwShape::K5S1,
                DwEntry::Nhwc(nhwc_fast::<5, 1, RS1, RS1_ONE, 2>),
            ),
            k(
                concat!("f32_dwconv_5x5s2_", $tile, "c__", $suffix),
                2,
                DwShape::K5S2,
                DwEntry::Nhwc(nhwc_fast::<5, 2, 2, 4, 2>),
            ),
            k(concat!("f32_dwconv_generic_", $tile, "c__", $suffix), NV, DwShape::Generic, DwEntry::Nhwc(nhwc_generic)),
            k(concat!("f32_dwconv2d_chw_3x3s1__", $suffix), 1, DwShape::K3S1, DwEntry::Nchw(nchw_direct::<3, 1, 4>)),
            k(concat!("f32_dwconv2d_chw_3x3s2__", $suffix), 1, DwShape::K3S2, DwEntry::Nchw(nchw_direct::<3, 2, 3>)),
            k(concat!("f32_dwconv2d_chw_5x5s1__", $suffix), 1, DwShape::K5S1, DwEntry::Nchw(nchw_direct::<5, 1, 4>)),
            k(concat!("f32_dwconv2d_chw_5x5s2__", $suffix), 1, DwShape::K5S2, DwEntry::Nchw(nchw_direct::<5, 2, 2>)),
            k(concat!("f32_dwconv2d_chw_generic__", $suffix), NV, DwShape::Generic, DwEntry::Nchw(nchw_generic)),
            k(concat!("f32_gconv_generic_", $lanes, "c__", $suffix), 1, DwShape::Grouped, DwEntry::Nhwc(nhwc_grouped)),
            k(concat!("f32_gconv2d_chw_generic__", $suffix), 1, DwShape::Grouped, DwEntry::Nchw(nchw_grouped)),
            DwKernel {
                pair: true,
                min_channels: 4 * $lanes,
                ..k(
                    concat!("f32_dwconv_3x3s2_", $lanes, "c_2rows__", $suffix),
                    1,
                    DwShape::K3S2,
                    DwEntry::Nhwc(nhwc_rows::<3, 2, 4>),
                )
            },
        ];
        /// This ISA's depthwise kernels: NHWC then NCHW, specialised shapes then the general one; then the
        /// grouped kernels; last, where `$pair`, the NHWC 3x3 stride-2 kernel that takes two output rows a call
        /// ([`g::nhwc_rows`]), from four tiles of channels on. AVX-512 runs it (measured on Zen 4, one thread,
        /// input 16 bytes past a line, against the one-row kernel over tiles of two vectors: 56x56x144
        /// 1.12-1.14x, 28x28x192 1.20x, 14x14x576 1.15x, 112x112x96 1.02-1.04x; 112x112x32 0.83x and 56x56x40
        /// 0.87x, where each tile's own pass over the row fetches the lines the other tile's loads share), and so
        /// do the portable backend and the 16-lane stand-ins, which test its logic; AVX2's 16 registers do not
        /// hold its 8 accumulators, 9 weights and 3 input columns, and NEON keeps the one-row kernel until
        /// measured.
        pub static KERNELS: &[DwKernel] = if $pair { ALL } else { ALL.split_at(ALL.len() - 1).0 };
    };
}
pub(crate) use dw_entry_points;

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    /// `vshufps` on `N` lanes: per 128-bit lane, two elements of `a` then two of `b`, chosen by `imm`.
    fn shuffle_ps<const N: usize>(a: &[f32; N], b: &[f32; N], imm: usize) -> [f32; N] {
        core::array::from_fn(|i| {
            let (base, k) = (i / 4 * 4, i % 4);
            let sel = (imm >> (2 * k)) & 3;
            if k < 2 { a[base + sel] } else { b[base + sel] }
        })
    }

    /// A single-source permute (`vpermps`): lane `i` takes element `idx[i]` of `a`.
    fn permute<const N: usize>(idx: &[i32; N], a: &[f32; N]) -> [f32; N] {
        core::array::from_fn(|i| a[idx[i] as usize])
    }

    /// Splits columns `o .. o + 2N` of `row` (`0, 1, 2, ...`) with the in-lane shuffles: (even, odd).
    fn split<const N: usize>(row: &[f32], o: usize) -> ([f32; N], [f32; N]) {
        let v = |o: usize| -> [f32; N] { core::array::from_fn(|i| row[o + i]) };
        (shuffle_ps(&v(o), &v(o + N), 0x88), shuffle_ps(&v(o), &v(o + N), 0xDD))
    }

    /// Checks a split-order table and a split-shift function against element order: the pair at columns `2N..4N`
    /// split and put in order gives its even and odd columns; shifted in from the pair at `0..2N` by every `r`, the
    /// columns `2r` earlier.
    fn check_split<const N: usize>(order: &[i32; N], shift: impl Fn(&[f32; N], &[f32; N], usize) -> [f32; N]) {
        let row: Vec<f32> = (0..4 * N).map(|i| i as f32).collect();
        let ((pe, po), (ce, co)) = (split::<N>(&row, 0), split::<N>(&row, 2 * N));
        let want = |first: usize, r: usize| -> [f32; N] { core::array::from_fn(|j| (first + 2 * j - 2 * r) as f32) };
        assert_eq!(permute(order, &ce), want(2 * N, 0));
        assert_eq!(permute(order, &co), want(2 * N + 1, 0));
        for r in 1..N {
            assert_eq!(permute(order, &shift(&pe, &ce, r)), want(2 * N, r), "even, shift {r}");
            assert_eq!(permute(order, &shift(&po, &co, r)), want(2 * N + 1, r), "odd, shift {r}");
        }
    }

    /// AVX2's split tables: `vpermps` of `cur` and of `prev`, blended by the mask.
    #[test]
    fn avx2_split_tables_match_element_order() {
        check_split::<8>(&super::V3_SPLIT_ORDER, |prev, cur, r| {
            let [ic, ip, m] = &super::V3_SPLIT_SHIFT[r - 1];
            let (c, p) = (permute(ic, cur), permute(ip, prev));
            core::array::from_fn(|i| if m[i] < 0 { p[i] } else { c[i] })
        });
    }

    /// AVX-512's split tables: one `vpermt2ps` of `prev ++ cur`.
    #[cfg(feature = "x86-v4")]
    #[test]
    fn avx512_split_tables_match_element_order() {
        check_split::<16>(&super::V4_SPLIT_ORDER, |prev, cur, r| {
            let idx = &super::V4_SPLIT_SHIFT[r - 1];
            core::array::from_fn(|i| {
                let j = idx[i] as usize;
                if j < 16 { prev[j] } else { cur[j - 16] }
            })
        });
    }
}
