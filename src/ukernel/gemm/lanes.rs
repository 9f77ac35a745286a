//! Lane moves of the GEMM kernels' transposed store: a 16 x 16 transpose and partial-vector loads and stores at a
//! lane offset, in registers on AVX-512, through a stack copy on every other backend.
//!
//! Only 16-lane backends call these (the AVX-512 kernels and the stand-ins that run the same body); the others
//! carry the portable defaults so that one generic kernel body compiles for all of them.

use crate::simd::{load, store};
use pulp::Simd;

/// Lane moves the transposed store needs beyond pulp's `Simd`; the defaults are portable (stack copies).
pub trait TileSimd: Simd {
    /// The transpose of a 16 x 16 block: lane `i` of output `j` is lane `j` of input `i`.
    /// Requires `F32_LANES == 16`.
    #[inline(always)]
    fn transpose16(self, rows: [Self::f32s; 16]) -> [Self::f32s; 16] {
        assert!(Self::F32_LANES == 16);
        let mut t = [[0f32; 16]; 16];
        // SAFETY: each vector is 16 floats (asserted), the size of one row of `t`.
        unsafe {
            for (i, r) in rows.iter().enumerate() {
                store::<Self>(t[i].as_mut_ptr(), *r);
            }
        }
        let mut o = [[0f32; 16]; 16];
        for (j, row) in o.iter_mut().enumerate() {
            for (i, x) in row.iter_mut().enumerate() {
                *x = t[i][j];
            }
        }
        // SAFETY: as above.
        core::array::from_fn(|j| unsafe { load::<Self>(o[j].as_ptr()) })
    }

    /// `x` with lanes `first..first + n` replaced by `p[..n]`; lanes from `first + n` to the next multiple of 8
    /// are unspecified, the others are `x`'s. Reads `p[..n]` only.
    ///
    /// # Safety
    /// `first` is 0 or 8, `first + n <= F32_LANES`, and `n` floats are readable at `p`.
    #[inline(always)]
    unsafe fn load_run(self, x: Self::f32s, first: usize, n: usize, p: *const f32) -> Self::f32s {
        assert!(first + n <= Self::F32_LANES && Self::F32_LANES <= 16);
        let mut t = [0f32; 16];
        // SAFETY: `t` holds a vector (at most 16 lanes, asserted); `n` floats are readable at `p` (caller) and
        // `first + n` lanes fit in `t`.
        unsafe {
            store::<Self>(t.as_mut_ptr(), x);
            core::ptr::copy_nonoverlapping(p, t.as_mut_ptr().add(first), n);
            load::<Self>(t.as_ptr())
        }
    }

    /// Stores lanes `first..first + n` of `x` at `p[..n]`; writes nothing else.
    ///
    /// # Safety
    /// `first` is 0 or 8, `first + n <= F32_LANES`, and `n` floats are writable at `p`.
    #[inline(always)]
    unsafe fn store_run(self, x: Self::f32s, first: usize, n: usize, p: *mut f32) {
        assert!(first + n <= Self::F32_LANES && Self::F32_LANES <= 16);
        let mut t = [0f32; 16];
        // SAFETY: as in `load_run`, with `n` floats writable at `p`.
        unsafe {
            store::<Self>(t.as_mut_ptr(), x);
            core::ptr::copy_nonoverlapping(t.as_ptr().add(first), p, n);
        }
    }
}

impl TileSimd for pulp::Scalar {}
impl TileSimd for pulp::Scalar256b {}
impl TileSimd for pulp::Scalar512b {}
#[cfg(target_arch = "x86_64")]
impl TileSimd for pulp::x86::V3 {}
#[cfg(target_arch = "x86_64")]
impl TileSimd for pulp::x86::V3_512b {}
#[cfg(target_arch = "aarch64")]
impl TileSimd for pulp::aarch64::Neon {}

#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
use crate::simd::bits;

#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
impl TileSimd for pulp::x86::V4 {
    /// Four shuffle stages of 16 each: pairs of rows interleaved by element, then by element pair, then 128-bit
    /// blocks gathered across row groups twice.
    // Plain loops, no closures: a closure does not inherit the caller's target features, so the intrinsics in
    // it would become calls.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn transpose16(self, rows: [Self::f32s; 16]) -> [Self::f32s; 16] {
        use core::arch::x86_64::{__m512, __m512d};
        let f = self.avx512f;
        let z = f._mm512_setzero_ps();
        let mut r = [z; 16];
        for i in 0..16 {
            r[i] = bits(rows[i]);
        }
        // t[2p] per 128-bit block L: [a0 b0 a1 b1] of rows a = 2p, b = 2p + 1 (elements 4L..);
        // t[2p + 1]: [a2 b2 a3 b3].
        let mut t = [f._mm512_setzero_pd(); 16];
        for p in 0..8 {
            let (a, b) = (r[2 * p], r[2 * p + 1]);
            t[2 * p] = bits(f._mm512_unpacklo_ps(a, b));
            t[2 * p + 1] = bits(f._mm512_unpackhi_ps(a, b));
        }
        // u[4g + c], block L: column 4L + c of rows 4g..4g + 4.
        let mut u = [z; 16];
        for g in 0..4 {
            let (t0, t1, t2, t3): (__m512d, __m512d, __m512d, __m512d) =
                (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
            u[4 * g] = bits(f._mm512_unpacklo_pd(t0, t2));
            u[4 * g + 1] = bits(f._mm512_unpackhi_pd(t0, t2));
            u[4 * g + 2] = bits(f._mm512_unpacklo_pd(t1, t3));
            u[4 * g + 3] = bits(f._mm512_unpackhi_pd(t1, t3));
        }
        // v[8h + c] (rows 8h..8h + 8): blocks [col c rows 8h.., col 8 + c rows 8h.., col c rows 8h + 4.., col 8 + c
        // rows 8h + 4..]; v[8h + 4 + c] likewise for columns 4 + c and 12 + c.
        let mut v: [__m512; 16] = [z; 16];
        for h in 0..2 {
            for c in 0..4 {
                let (a, b) = (u[8 * h + c], u[8 * h + 4 + c]);
                v[8 * h + c] = f._mm512_shuffle_f32x4::<0x88>(a, b);
                v[8 * h + 4 + c] = f._mm512_shuffle_f32x4::<0xdd>(a, b);
            }
        }
        // Column 4e + c (e in 0..2, c in 0..4): blocks 0 and 2 of v[4e + c] and of v[8 + 4e + c]; column
        // 8 + 4e + c: blocks 1 and 3.
        let mut o = [rows[0]; 16];
        for i in 0..8 {
            let (a, b) = (v[i], v[8 + i]);
            o[i] = bits(f._mm512_shuffle_f32x4::<0x88>(a, b));
            o[8 + i] = bits(f._mm512_shuffle_f32x4::<0xdd>(a, b));
        }
        o
    }

    #[inline(always)]
    unsafe fn load_run(self, x: Self::f32s, first: usize, n: usize, p: *const f32) -> Self::f32s {
        use core::arch::x86_64::__m512;
        let f = self.avx512f;
        let xv: __m512 = bits(x);
        // SAFETY: the masks select `n` lanes from `p`, which are readable (caller); masked-off lanes are not read.
        unsafe {
            match first {
                0 if n == 16 => bits(f._mm512_loadu_ps(p)),
                0 => bits(f._mm512_mask_loadu_ps(xv, ((1u32 << n) - 1) as u16, p)),
                8 if n <= 8 => {
                    let hi = f._mm256_maskz_loadu_ps(((1u32 << n) - 1) as u8, p);
                    bits(self.avx512dq._mm512_insertf32x8::<1>(xv, hi))
                }
                _ => unreachable!("load_run: first {first} n {n}"),
            }
        }
    }

    #[inline(always)]
    unsafe fn store_run(self, x: Self::f32s, first: usize, n: usize, p: *mut f32) {
        use core::arch::x86_64::__m512;
        let f = self.avx512f;
        let xv: __m512 = bits(x);
        // SAFETY: the masks select `n` lanes written at `p`, which are writable (caller); masked-off lanes are not
        // written.
        unsafe {
            match first {
                0 if n == 16 => f._mm512_storeu_ps(p, xv),
                0 => f._mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as u16, xv),
                8 if n <= 8 => {
                    let hi = self.avx512dq._mm512_extractf32x8_ps::<1>(xv);
                    f._mm256_mask_storeu_ps(p, ((1u32 << n) - 1) as u8, hi)
                }
                _ => unreachable!("store_run: first {first} n {n}"),
            }
        }
    }
}

#[cfg(all(test, target_arch = "x86_64", feature = "x86-v4"))]
mod tests {
    use super::*;

    /// The AVX-512 transpose and runs against the portable defaults, where the CPU has AVX-512.
    #[test]
    fn v4_lane_moves_match_the_portable_ones() {
        let Some(simd) = pulp::x86::V4::try_new() else { return };
        struct Op(pulp::x86::V4);
        impl pulp::WithSimd for Op {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, _: S) {
                let simd = self.0;
                let m: [[f32; 16]; 16] = core::array::from_fn(|i| core::array::from_fn(|j| (i * 16 + j) as f32));
                // SAFETY: rows of 16 floats.
                let rows = core::array::from_fn(|i| unsafe { load::<pulp::x86::V4>(m[i].as_ptr()) });
                let got = simd.transpose16(rows);
                for (j, g) in got.iter().enumerate() {
                    let mut o = [0f32; 16];
                    // SAFETY: 16 floats.
                    unsafe { store::<pulp::x86::V4>(o.as_mut_ptr(), *g) };
                    for (i, x) in o.iter().enumerate() {
                        assert_eq!(*x, m[i][j], "transpose lane {i} of {j}");
                    }
                }
                let src: [f32; 16] = core::array::from_fn(|i| 100.0 + i as f32);
                for first in [0, 8] {
                    for n in 1..=16 - first {
                        if first == 8 && n > 8 {
                            continue;
                        }
                        let mut out = [-1f32; 18];
                        // SAFETY: `n` floats readable at `src`, writable at `out[1..]`.
                        unsafe {
                            let v = simd.load_run(rows[3], first, n, src.as_ptr());
                            let mut lanes = [0f32; 16];
                            store::<pulp::x86::V4>(lanes.as_mut_ptr(), v);
                            assert_eq!(lanes[first..first + n], src[..n], "load_run {first} {n}");
                            assert_eq!(lanes[..first], m[3][..first], "load_run {first} {n}");
                            simd.store_run(rows[5], first, n, out.as_mut_ptr().add(1));
                        }
                        assert_eq!(out[1..1 + n], m[5][first..first + n], "store_run {first} {n}");
                        assert!(out[0] == -1.0 && out[1 + n..].iter().all(|x| *x == -1.0), "store_run {first} {n}");
                    }
                }
            }
        }
        pulp::Simd::vectorize(simd, Op(simd));
    }
}
