//! The GEMM micro-kernel body, generic over the SIMD backend, the row count `MR` and the vector count `NV`.
//!
//! One body serves every ISA (AVX2, AVX-512, NEON, portable and the 16-lane stand-ins that run the AVX-512
//! logic on AVX2 or in portable code), so the index math tested on one backend is the math of all of them.

use super::lanes::TileSimd;
use crate::simd::load;
use pulp::Simd;

/// One micro-kernel call: `C[mr x nr] = clamp(bias + A[mr x k] * B[k x nr] + R)`, where the `nr` columns span
/// one or more `NV * lanes`-wide panels of B (the call loops over them, reusing the A rows).
///
/// Each row of A is `segs` segments of `k` elements (indirect GEMM: a 1x1 convolution has one segment per row,
/// read in place; a `kh x kw` NHWC convolution one per kernel row, each `kw * c_in` contiguous input floats, or
/// one per tap), so the reduction length is `segs * k`.
///
/// Pointer contract (checked by the driver, relied on here):
/// - `a[s * mr + i]` for `s < segs`, `i < mr` points at segment `s` of row `i` of A; element `kk` of it is at
///   `+ kk * csa`, readable for `kk < k`. Rows `>= mr` are never read.
/// - Panel `q` of B starts at `b + q * b_stride`; its row `kk` holds `NV * lanes` readable floats at
///   `+ kk * ldb` (zero-padded past the real columns), for `kk < segs * k`.
/// - `bias_col` (null for none): panel `q`'s `NV * lanes` column biases are at `bias_col + q * b_stride`;
///   `bias_row` (null for none) points at `mr` floats.
/// - `c` is written at `c + i * rsc + j` for `i < mr`, `j < nr` only (masked stores in the last panel); through
///   a transposed entry point (`GemmKernel::select_t`) at `c + i + j * rsc` instead.
/// - `res` (null for none) is read at `res + i * rsr + j` for `i < mr`, `j < nr` only (transposed entry:
///   `res + i + j * rsr`).
/// - The last panel holds more than `(NV - 1) * lanes` columns (narrower tails use a smaller-`NV` entry).
/// - Strided entry points (full tiles, see [`STRIDED_ROWS`], [`RS_ANY`] and the pixel-row entries) read `a[s]`
///   only, row `i` of segment `s` at `a[s] + i * rsa` (`rsa` the entry's own spacing for the fixed-spacing ones),
///   its element `kk` `kk * csa` floats further.
#[derive(Clone, Copy, Debug)]
pub struct GemmTile<'a> {
    pub mr: usize,
    pub nr: usize,
    pub k: usize,
    pub segs: usize,
    pub a: &'a [*const f32],
    pub csa: usize,
    /// A row spacing (floats) for the strided entry points; unused by the others.
    pub rsa: usize,
    pub b: *const f32,
    pub ldb: usize,
    pub b_stride: usize,
    pub bias_col: *const f32,
    pub bias_row: *const f32,
    pub c: *mut f32,
    pub rsc: usize,
    pub res: *const f32,
    pub rsr: usize,
    pub min: f32,
    pub max: f32,
    /// What the tile prefetches ahead of its use; the plan decides where it pays.
    pub prefetch: Prefetch,
}

/// What a tile prefetches ahead of its use ([`GemmTile::prefetch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefetch {
    /// Nothing: the hardware prefetchers keep up.
    None,
    /// Each A row's element [`PREFETCH_STEPS`] k steps ahead, every step, where `k` is at least
    /// [`PREFETCH_MIN_K`]: rows whose elements are a channel plane apart (NCHW pixel rows), each step onto another
    /// line and often another page. Pointer-table and fixed-spacing entries.
    Columns,
    /// The next tile's A rows (the `MR * k` floats after the tile's own), during the first panel: the any-spacing
    /// entries ([`RS_ANY`]) over contiguous rows (`rsa == k`, `csa == 1`).
    NextTile,
    /// The `NV * lanes` floats after each B row of every panel, each k step: the next panel, where B rows are rows
    /// of a caller's tensor read in place (NCHW pixel lanes). The entry for A rows one float apart (`RS == 1`,
    /// [`STRIDED_ROWS`]) with C not transposed; elsewhere nothing.
    NextPanel,
}

/// Row spacings (in floats) with strided entry points (each kernel's `STRIDED` list): 1, the NCHW path's packed
/// weight panels (`MR` rows interleaved, `csa == MR`); 3 and 6, `stride_w * c_in` of the 3-channel stems (stride
/// 1 and 2), whose kernel rows run one A row per output pixel at a fixed spacing.
///
/// A strided entry takes one pointer per segment instead of `MR`: `a[s]` (for `s < segs`) points at segment `s` of
/// row 0, and row `i`'s segment `s` starts at `a[s] + i * RS`, its `k` elements `csa` apart. The
/// row offsets fold into the loads' displacements, so the tile needs no pointer table and no pointer registers per
/// row (the 16-row AVX-512 tile otherwise spills five of its sixteen row pointers in the inner loop).
pub const STRIDED_ROWS: [usize; 3] = [1, 3, 6];

/// The `RS` of each kernel's strided entry point for any row spacing (`GemmTile::rsa`), its `STRIDED_ANY`: the
/// rows of a 1x1 NHWC layer read in place (`c_in` floats apart). Four row groups of one base pointer each, the
/// offsets inside a group multiples of `rsa`, so a 16-row tile needs a few pointer registers instead of sixteen
/// that spill and are re-stored every k step (measured on Zen 4, AVX-512, against the pointer table: 1.04-1.24x on
/// the short-reduction layers, 112x112 32->16 and 16->96, 28x28 32->192, 56x56 64->64; neutral from K = 512).
pub const RS_ANY: usize = usize::MAX;

/// How far ahead (in floats) the A rows are prefetched.
const PREFETCH_FLOATS: usize = 64;
/// Segments shorter than this are not prefetched.
pub const PREFETCH_MIN_K: usize = 32;
/// How many k steps ahead A is prefetched where [`GemmTile::prefetch`] asks for [`Prefetch::Columns`].
pub const PREFETCH_STEPS: usize = 8;

/// Signature shared by every GEMM micro-kernel entry point.
pub type GemmFn = unsafe fn(&GemmTile<'_>);

/// A run of tiles of the entry's `MR` rows (the kernel's full tile, or one row fewer for the short-run entries):
/// `(tile, count)` computes `count` tiles, the `i`-th being `tile` with its single A segment, C and the residual
/// moved on by `i * MR` rows (`MR * rsa` floats for A; for C and the residual `MR * rsc` and `MR * rsr`, or `MR`
/// through a transposed entry); `tile.mr == MR`.
pub type GemmRunFn = unsafe fn(&GemmTile<'_>, usize);

/// `count` consecutive `MR`-row tiles through the strided entry for `RS` (with `TC`, C transposed), in one
/// call: the per-call set-up (the backend's entry, the tile's constants) is paid once per run instead of once per
/// tile (measured on Zen 4, AVX-512, one thread, contiguous 1x1 NHWC layers: 112x112 32->16 1.09x, 16->96
/// 1.04-1.06x, 56x56 144->24 1.05x, 28x28 256->16 1.02x; from K = 192 on within noise).
///
/// # Safety
/// For each `i < count`, the tile moved on by `i * MR` rows (see [`GemmRunFn`]) satisfies the strided contract of
/// [`gemm_tile`] for `RS` and `TC`; `t.segs == 1`.
#[inline(always)]
pub unsafe fn gemm_tiles<S: TileSimd, const MR: usize, const NV: usize, const RS: usize, const TC: bool>(
    simd: S,
    t: &GemmTile<'_>,
    count: usize,
) {
    debug_assert!(t.segs == 1 && !t.a.is_empty() && RS > 0);
    let rs = if RS == RS_ANY { t.rsa } else { RS };
    let (dc, dr) = if TC { (MR, MR) } else { (MR * t.rsc, MR * t.rsr) };
    let (mut a0, mut c, mut res) = (t.a[0], t.c, t.res);
    for _ in 0..count {
        let seg = [a0];
        let tile = GemmTile { a: &seg, c, res, ..*t };
        // SAFETY: tile `i` of the run satisfies the strided contract (caller).
        unsafe { gemm_tile::<S, MR, NV, RS, TC>(simd, &tile) };
        // Wrapping: the pointers past the last tile are never used.
        a0 = a0.wrapping_add(MR * rs);
        c = c.wrapping_add(dc);
        if !res.is_null() {
            res = res.wrapping_add(dr);
        }
    }
}

/// Computes `MR` rows (`t.mr == MR`) of every panel the call spans; with `RS > 0`, A rows `RS` floats apart; with
/// `TC`, C (and the residual) transposed.
///
/// # Safety
/// `t` must satisfy the pointer contract of [`GemmTile`] with `t.mr == MR`; with `RS > 0` its strided form (see
/// [`STRIDED_ROWS`]); with `TC` its transposed form (see [`GemmTile`]).
#[inline(always)]
pub unsafe fn gemm_tile<S: TileSimd, const MR: usize, const NV: usize, const RS: usize, const TC: bool>(
    simd: S,
    t: &GemmTile<'_>,
) {
    let nr_full = NV * S::F32_LANES;
    debug_assert!(t.mr == MR && t.a.len() >= if RS == 0 { MR * t.segs } else { t.segs } && t.nr > 0);
    debug_assert!(RS == 0 || RS == RS_ANY || t.rsa == RS);
    debug_assert!((t.nr - 1) % nr_full >= (NV - 1) * S::F32_LANES);
    let mut j = 0;
    let mut q = 0;
    while j < t.nr {
        // SAFETY: panel q and columns j.. are inside the extents the contract grants.
        unsafe {
            let bias_col = if t.bias_col.is_null() { t.bias_col } else { t.bias_col.add(q * t.b_stride) };
            // Column j of C (and of the residual): `j` floats on in a row, or `j` columns of `rsc` floats on.
            let (cj, rj) = if TC { (j * t.rsc, j * t.rsr) } else { (j, j) };
            let res = if t.res.is_null() { t.res } else { t.res.add(rj) };
            let (nr, b) = (nr_full.min(t.nr - j), t.b.add(q * t.b_stride));
            panel::<S, MR, NV, RS, TC>(simd, t, nr, b, bias_col, t.c.add(cj), res, q == 0);
        }
        j += nr_full;
        q += 1;
    }
}

/// One panel: `nr <= NV * lanes` columns; `first_panel` for the first of the call.
// Index loops on purpose: iterator chains over the accumulator array made the compiler keep it on the stack.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn panel<S: TileSimd, const MR: usize, const NV: usize, const RS: usize, const TC: bool>(
    simd: S,
    t: &GemmTile<'_>,
    nr: usize,
    b: *const f32,
    bias_col: *const f32,
    c: *mut f32,
    res: *const f32,
    first_panel: bool,
) {
    let lanes = S::F32_LANES;
    let zero = simd.splat_f32s(0.0);
    let mut acc = [[zero; NV]; MR];
    // SAFETY (whole function): every pointer access below stays inside the extents the contract grants.
    unsafe {
        if !bias_col.is_null() {
            for v in 0..NV {
                let bv = load::<S>(bias_col.add(v * lanes));
                for i in 0..MR {
                    acc[i][v] = bv;
                }
            }
        }
        if !t.bias_row.is_null() {
            for i in 0..MR {
                let bi = simd.splat_f32s(*t.bias_row.add(i));
                for v in 0..NV {
                    // Start from the bias itself when it is the only one, so a `-0.0` bias stays `-0.0`.
                    acc[i][v] = if bias_col.is_null() { bi } else { simd.add_f32s(acc[i][v], bi) };
                }
            }
        }
        let mut bp = b;
        let a = t.a.as_ptr();
        let columns = t.prefetch == Prefetch::Columns;
        for seg in 0..t.segs {
            if RS == 0 {
                let mut ap = [core::ptr::null::<f32>(); MR];
                for (i, p) in ap.iter_mut().enumerate() {
                    *p = *a.add(seg * MR + i);
                }
                // By value in and out: keeps the accumulators in registers across the segment loop.
                acc = k_loop::<S, MR, NV>(simd, acc, ap, bp, t.k, t.csa, t.ldb, columns);
            } else if RS == RS_ANY {
                let (a0, rs, csa) = (*a.add(seg), t.rsa, t.csa);
                // Two instances: a run-time test in the k loop cost 2-4% where it was false.
                acc = if t.prefetch == Prefetch::NextTile && first_panel {
                    k_loop_spaced::<S, MR, NV, true>(simd, acc, a0, rs, csa, bp, t.k, t.ldb)
                } else {
                    k_loop_spaced::<S, MR, NV, false>(simd, acc, a0, rs, csa, bp, t.k, t.ldb)
                };
            } else {
                let a0 = *a.add(seg);
                // As above, two instances.
                acc = if RS == 1 && !TC && t.prefetch == Prefetch::NextPanel {
                    k_loop_strided::<S, MR, NV, RS, true>(simd, acc, a0, t.csa, bp, t.k, t.ldb, false)
                } else {
                    k_loop_strided::<S, MR, NV, RS, false>(simd, acc, a0, t.csa, bp, t.k, t.ldb, columns)
                };
            }
            bp = bp.add(t.k * t.ldb);
        }
        if TC && S::F32_LANES == 16 {
            store_tile_transposed_16::<S, MR, NV>(simd, t, nr, c, res, acc);
        } else if TC {
            store_tile_transposed::<S, MR, NV>(t, nr, c, res, acc);
        } else {
            store_tile::<S, MR, NV>(simd, t, nr, c, res, acc);
        }
    }
}

/// The reduction over one segment: `k` steps of `MR` broadcasts times `NV` vectors of B.
///
/// # Safety
/// `ap[i]` holds `k` readable elements `csa` apart; `bp` holds `k` rows of `NV * lanes` floats `ldb` apart.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn k_loop<S: Simd, const MR: usize, const NV: usize>(
    simd: S,
    mut acc: [[S::f32s; NV]; MR],
    mut ap: [*const f32; MR],
    mut bp: *const f32,
    k: usize,
    csa: usize,
    ldb: usize,
    columns: bool,
) -> [[S::f32s; NV]; MR] {
    let lanes = S::F32_LANES;
    let zero = simd.splat_f32s(0.0);
    // Every 16 k steps (a cache line of each A row), prefetch the A rows a few lines ahead: rows read in place
    // from a caller's tensor are MR separate streams that the hardware prefetcher follows poorly. Short segments
    // (a stem's kernel rows) are left to the hardware: the prefetches would cost more than they hide.
    let prefetch_rows = csa == 1 && k >= PREFETCH_MIN_K;
    // A rows that are neighbouring pixels of one channel plane (NCHW pixel rows, `csa` = the plane) step a whole
    // plane per k, onto a new line and often a new page each step: where the plan asks for it, prefetch the line a
    // few steps ahead where the first and the last row lie.
    let prefetch_cols = columns && k >= PREFETCH_MIN_K;
    // SAFETY: the reads stay inside the extents of the caller's contract.
    unsafe {
        for kk in 0..k {
            if prefetch_cols {
                crate::simd::prefetch(ap[0].wrapping_add(PREFETCH_STEPS * csa));
                crate::simd::prefetch(ap[MR - 1].wrapping_add(PREFETCH_STEPS * csa));
            }
            if prefetch_rows && kk % 16 == 0 {
                for p in ap.iter() {
                    crate::simd::prefetch(p.wrapping_add(PREFETCH_FLOATS));
                }
            }
            let mut bv = [zero; NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = load::<S>(bp.add(v * lanes));
            }
            for i in 0..MR {
                let ai = simd.splat_f32s(*ap[i]);
                for v in 0..NV {
                    acc[i][v] = simd.mul_add_e_f32s(ai, bv[v], acc[i][v]);
                }
                ap[i] = ap[i].add(csa);
            }
            bp = bp.add(ldb);
        }
    }
    acc
}

/// The reduction over one segment whose `MR` rows are `RS` floats apart: one pointer, the row offsets are
/// constants folded into the loads. Element `kk` of a row is `kk * csa` floats on: `csa == 1` for the stems'
/// kernel rows, a whole channel plane for NCHW pixel rows (`RS == 1`), whose lines are prefetched as in
/// [`k_loop`] (`columns`). With `NEXT_PANEL`, the `NV * lanes` floats after each B row are prefetched as it is
/// read ([`Prefetch::NextPanel`]).
///
/// # Safety
/// `a0 + i * RS + kk * csa` is readable for `i < MR`, `kk < k`; `bp` as in [`k_loop`]. (The prefetches may name
/// addresses past the buffers: a prefetch reads nothing and never faults.)
// Index loops on purpose: iterator chains over the accumulator array made the compiler keep it on the stack.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn k_loop_strided<S: Simd, const MR: usize, const NV: usize, const RS: usize, const NEXT_PANEL: bool>(
    simd: S,
    mut acc: [[S::f32s; NV]; MR],
    mut a0: *const f32,
    csa: usize,
    mut bp: *const f32,
    k: usize,
    ldb: usize,
    columns: bool,
) -> [[S::f32s; NV]; MR] {
    let lanes = S::F32_LANES;
    let zero = simd.splat_f32s(0.0);
    let prefetch_cols = columns && k >= PREFETCH_MIN_K;
    // SAFETY: the reads stay inside the extents of the caller's contract.
    unsafe {
        for _ in 0..k {
            if prefetch_cols {
                crate::simd::prefetch(a0.wrapping_add(PREFETCH_STEPS * csa));
                crate::simd::prefetch(a0.wrapping_add(PREFETCH_STEPS * csa + (MR - 1) * RS));
            }
            if NEXT_PANEL {
                for v in 0..NV {
                    crate::simd::prefetch(bp.wrapping_add((NV + v) * lanes));
                }
            }
            let mut bv = [zero; NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = load::<S>(bp.add(v * lanes));
            }
            for i in 0..MR {
                let ai = simd.splat_f32s(*a0.add(i * RS));
                for v in 0..NV {
                    acc[i][v] = simd.mul_add_e_f32s(ai, bv[v], acc[i][v]);
                }
            }
            a0 = a0.add(csa);
            bp = bp.add(ldb);
        }
    }
    acc
}

/// Rows per base pointer of [`k_loop_spaced`].
const SPACED_GROUP: usize = 4;

/// The reduction over one segment whose `MR` rows are `rs` floats apart (`rs` known at run time): one base
/// pointer per [`SPACED_GROUP`] rows, each row a multiple of `rs` past its group's base.
///
/// With `NEXT_TILE` ([`Prefetch::NextTile`]: contiguous rows, `rs == k * csa`), the next tile's rows, the `MR * k`
/// floats from `a0 + MR * rs` on, are prefetched along the way, a line every `16 / MR` k steps (rounded down; every
/// step from 9 rows on): all of the next tile by the end of this one (up to a third more for row counts that do not
/// divide 16).
/// It pays where the rows stream from L3 or memory (a thread's share of the layer's input and output nears L2)
/// and each line of them feeds few FMAs (narrow outputs): see the NHWC driver's `PREFETCH_NEXT_MAX_N`.
///
/// # Safety
/// `a0 + i * rs + kk * csa` is readable for `i < MR`, `kk < k`; `bp` as in [`k_loop`]. (The prefetches may name
/// addresses past the rows, even past the buffer: a prefetch reads nothing and never faults.)
// Index loops on purpose: iterator chains over the accumulator array made the compiler keep it on the stack.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn k_loop_spaced<S: Simd, const MR: usize, const NV: usize, const NEXT_TILE: bool>(
    simd: S,
    mut acc: [[S::f32s; NV]; MR],
    a0: *const f32,
    rs: usize,
    csa: usize,
    mut bp: *const f32,
    k: usize,
    ldb: usize,
) -> [[S::f32s; NV]; MR] {
    const G: usize = SPACED_GROUP;
    let lanes = S::F32_LANES;
    let zero = simd.splat_f32s(0.0);
    // Bases of groups past the last row are never read (wrapping: they may point past the buffer).
    let mut base: [*const f32; 4] = core::array::from_fn(|g| a0.wrapping_add(g * G * rs));
    const { assert!(MR <= 4 * G) };
    // K steps per prefetched line of the next tile, and the next line (wrapping: it may lie past the buffer).
    let step = (16 / MR).max(1);
    let mut next = a0.wrapping_add(MR * rs);
    // SAFETY: the reads stay inside the extents of the caller's contract.
    unsafe {
        for kk in 0..k {
            if NEXT_TILE && kk % step == 0 {
                crate::simd::prefetch(next);
                next = next.wrapping_add(16);
            }
            let mut bv = [zero; NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = load::<S>(bp.add(v * lanes));
            }
            for i in 0..MR {
                let ai = simd.splat_f32s(*base[i / G].add((i % G) * rs));
                for v in 0..NV {
                    acc[i][v] = simd.mul_add_e_f32s(ai, bv[v], acc[i][v]);
                }
            }
            for b in base.iter_mut() {
                *b = opaque(b.wrapping_add(csa));
            }
            bp = bp.add(ldb);
        }
    }
    acc
}

/// `p`, through a value the optimiser cannot see into: keeps each row group's base an independent register (left
/// alone, LLVM rewrites the rows `base + j * rs` of every group as one chain of pointer increments, a serial
/// add per row on the loop's critical path).
#[inline(always)]
// The template never dereferences the pointer: `nomem` is exact.
#[allow(clippy::pointers_in_nomem_asm_block)]
fn opaque(p: *const f32) -> *const f32 {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let mut p = p;
        // SAFETY: an empty template: no instruction runs, no memory or flag is touched; the value is unchanged.
        unsafe { core::arch::asm!("/* {0} */", inout(reg) p, options(pure, nomem, nostack, preserves_flags)) };
        p
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        p
    }
}

/// The fused epilogue: residual add, clamp (NaN-preserving), full or masked stores.
// Index loops on purpose: iterator chains over the accumulator array made the compiler keep it on the stack.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn store_tile<S: Simd, const MR: usize, const NV: usize>(
    simd: S,
    t: &GemmTile<'_>,
    nr: usize,
    c: *mut f32,
    res: *const f32,
    mut acc: [[S::f32s; NV]; MR],
) {
    let lanes = S::F32_LANES;
    let full = nr == NV * lanes;
    let tail = nr - (NV - 1) * lanes;
    let clamp = crate::simd::clamps(t.min, t.max);
    let lo = simd.splat_f32s(t.min);
    let hi = simd.splat_f32s(t.max);
    // SAFETY: rows `< mr == MR` and columns `< nr` are inside the extents granted by the caller.
    unsafe {
        // Each step is its own loop with a small body, so the compiler unrolls it and the accumulators stay in
        // registers (one loop doing all three spilled them to the stack and back).
        if !res.is_null() {
            for i in 0..MR {
                let r = res.add(i * t.rsr);
                for v in 0..NV {
                    let rv = if full || v + 1 < NV {
                        load::<S>(r.add(v * lanes))
                    } else {
                        crate::simd::load_first(simd, tail, r.add(v * lanes))
                    };
                    acc[i][v] = simd.add_f32s(acc[i][v], rv);
                }
            }
        }
        if clamp {
            for i in 0..MR {
                for v in 0..NV {
                    acc[i][v] = crate::simd::clamp(simd, acc[i][v], lo, hi);
                }
            }
        }
        if full {
            for i in 0..MR {
                for v in 0..NV {
                    (c.add(i * t.rsc + v * lanes) as *mut S::f32s).write_unaligned(acc[i][v]);
                }
            }
        } else {
            for i in 0..MR {
                for v in 0..NV {
                    if v + 1 < NV {
                        (c.add(i * t.rsc + v * lanes) as *mut S::f32s).write_unaligned(acc[i][v]);
                    } else {
                        crate::simd::store_first(simd, tail, c.add(i * t.rsc + v * lanes), acc[i][v]);
                    }
                }
            }
        }
    }
}

/// The fused epilogue into a transposed C: element `(i, j)` at `c + i + j * rsc` (residual at `res + i + j * rsr`),
/// so each of the `nr` columns is a run of `MR` contiguous floats (an NCHW output channel's pixels). Per element
/// the same operations as [`store_tile`] (residual add, NaN-preserving clamp), in scalar code: bitwise the same.
/// Backends of fewer than 16 lanes; 16-lane ones use [`store_tile_transposed_16`].
// Index loops on purpose: iterator chains over the accumulator array made the compiler keep it on the stack.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn store_tile_transposed<S: Simd, const MR: usize, const NV: usize>(
    t: &GemmTile<'_>,
    nr: usize,
    c: *mut f32,
    res: *const f32,
    acc: [[S::f32s; NV]; MR],
) {
    let lanes = S::F32_LANES;
    let width = NV * lanes;
    let clamp = crate::simd::clamps(t.min, t.max);
    // The tile goes through a stack buffer by vector stores: taking the accumulators' own address would make the
    // compiler keep them in memory through the reduction loop.
    let mut buf = core::mem::MaybeUninit::<[f32; TRANSPOSE_MAX]>::uninit();
    let flat = buf.as_mut_ptr().cast::<f32>();
    assert!(MR * width <= TRANSPOSE_MAX);
    // SAFETY: the buffer holds `MR * width` floats (asserted), all written before they are read; rows `< MR` and
    // columns `< nr` of C and the residual are inside the extents granted by the caller.
    unsafe {
        for i in 0..MR {
            for v in 0..NV {
                (flat.add(i * width + v * lanes) as *mut S::f32s).write_unaligned(acc[i][v]);
            }
        }
        for j in 0..nr {
            let cj = c.add(j * t.rsc);
            let rj = if res.is_null() { res } else { res.add(j * t.rsr) };
            for i in 0..MR {
                let mut v = *flat.add(i * width + j);
                if !rj.is_null() {
                    v += *rj.add(i);
                }
                if clamp {
                    // `v < min` and `v > max` are false for NaN, so NaN passes through unchanged.
                    v = if v < t.min { t.min } else { v };
                    v = if v > t.max { t.max } else { v };
                }
                *cj.add(i) = v;
            }
        }
    }
}

/// [`store_tile_transposed`] for 16-lane backends, in vectors: the accumulators are transposed in registers
/// ([`TileSimd::transpose16`]), so each output column (an NCHW output channel) becomes the `MR` contiguous floats
/// of one masked vector store, its residual one masked vector load. Per element the same operations as
/// [`store_tile`] (residual add, NaN-preserving clamp): bitwise the same.
///
/// Tiles of at most 8 rows pair two vectors of columns per transpose: rows `0..MR` of the 16 x 16 block are
/// vector `2b`'s, rows `8..8 + MR` vector `2b + 1`'s, so transposed vector `j` holds column `32b + j`'s pixels in
/// lanes `0..MR` and column `32b + 16 + j`'s in lanes `8..8 + MR`. Taller tiles transpose one vector at a time.
/// Each block is gathered from the accumulators with constant indices (one call per block, not a loop over
/// blocks): an accumulator indexed at run time would make the compiler keep them all in memory through the
/// reduction loop (the 8 x 48 tile ran at half speed so).
#[inline(always)]
unsafe fn store_tile_transposed_16<S: TileSimd, const MR: usize, const NV: usize>(
    simd: S,
    t: &GemmTile<'_>,
    nr: usize,
    c: *mut f32,
    res: *const f32,
    acc: [[S::f32s; NV]; MR],
) {
    const { assert!(MR <= 16) };
    debug_assert!(S::F32_LANES == 16);
    let blocks = NV.div_ceil(transpose_runs(MR).1);
    // SAFETY: forwarded contract; each block stores the columns it holds.
    unsafe {
        transposed_block_16::<S, MR, NV>(simd, t, nr, c, res, 0, gather_block::<S, MR, NV>(simd, &acc, 0));
        if blocks > 1 {
            transposed_block_16::<S, MR, NV>(simd, t, nr, c, res, 1, gather_block::<S, MR, NV>(simd, &acc, 1));
        }
        if blocks > 2 {
            transposed_block_16::<S, MR, NV>(simd, t, nr, c, res, 2, gather_block::<S, MR, NV>(simd, &acc, 2));
        }
        // No 16-lane tile has more than three blocks (the 4 x 96 tile has three).
        for blk in 3..blocks {
            transposed_block_16::<S, MR, NV>(simd, t, nr, c, res, blk, gather_block::<S, MR, NV>(simd, &acc, blk));
        }
    }
}

/// Lanes per column run and vectors of columns per 16 x 16 transpose for tiles of `mr` rows: two runs of 8 lanes for
/// tiles of at most 8 rows, else one of 16.
const fn transpose_runs(mr: usize) -> (usize, usize) {
    if mr <= 8 { (8, 2) } else { (16, 1) }
}

/// Block `blk` of the accumulators for [`transposed_block_16`]: rows `0..MR` of lane run `s` hold vector
/// `blk * per + s` (`per` vectors a block, 2 for tiles of at most 8 rows, else 1), zeros elsewhere.
// Index loops on purpose: iterator chains over the accumulator array made the compiler keep it on the stack.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn gather_block<S: Simd, const MR: usize, const NV: usize>(
    simd: S,
    acc: &[[S::f32s; NV]; MR],
    blk: usize,
) -> [S::f32s; 16] {
    let (run, per) = transpose_runs(MR);
    let mut block = [simd.splat_f32s(0.0); 16];
    for s in 0..per {
        let v = blk * per + s;
        if v < NV {
            for i in 0..MR {
                block[s * run + i] = acc[i][v];
            }
        }
    }
    block
}

/// Transposes block `blk` (from [`gather_block`]) and stores its columns (those `< nr`) with the epilogue.
///
/// # Safety
/// As [`store_tile_transposed_16`].
// Index loops on purpose, as above.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn transposed_block_16<S: TileSimd, const MR: usize, const NV: usize>(
    simd: S,
    t: &GemmTile<'_>,
    nr: usize,
    c: *mut f32,
    res: *const f32,
    blk: usize,
    block: [S::f32s; 16],
) {
    // Lanes per column run, and vectors of columns per transpose.
    let (run, per) = transpose_runs(MR);
    let clamp = crate::simd::clamps(t.min, t.max);
    let zero = simd.splat_f32s(0.0);
    let lo = simd.splat_f32s(t.min);
    let hi = simd.splat_f32s(t.max);
    let cols = simd.transpose16(block);
    // SAFETY: columns `< nr` of C and of the residual hold `MR` contiguous floats each (the transposed contract);
    // the runs touch those only.
    unsafe {
        for j in 0..16 {
            // Column of lane run `s` of transposed vector `j`: `(blk * per + s) * 16 + j`, rising with `s`.
            if blk * per * 16 + j >= nr {
                break;
            }
            let col = |s: usize| (blk * per + s) * 16 + j;
            let live = |s: usize| blk * per + s < NV && col(s) < nr;
            let mut x = cols[j];
            if !res.is_null() {
                let mut r = zero;
                for s in 0..per {
                    if live(s) {
                        r = simd.load_run(r, s * run, MR, res.add(col(s) * t.rsr));
                    }
                }
                x = simd.add_f32s(x, r);
            }
            if clamp {
                x = crate::simd::clamp(simd, x, lo, hi);
            }
            for s in 0..per {
                if live(s) {
                    simd.store_run(x, s * run, MR, c.add(col(s) * t.rsc));
                }
            }
        }
    }
}

/// Floats of the largest tile (`MR x NV x lanes`) any kernel stores transposed: 16 rows of 32.
const TRANSPOSE_MAX: usize = 512;

/// Declares a [`pulp::WithSimd`] adaptor and a table of entry points `[nv - 1][mr - 1]` for one ISA.
///
/// `$token` is an expression producing the backend; it runs inside an `unsafe` block whose safety the plan
/// proves by having detected the ISA before any entry point can be reached.
macro_rules! gemm_entry_points {
    ($simd:ty, $token:expr, $mr:literal, $nv:literal, $ms:tt, [$($v:literal),*]) => {
        $crate::ukernel::gemm::generic::gemm_entry_points!($simd, $token, on $token, $mr, $nv, $ms, [$($v),*]);
    };
    // `on $host`: the body runs with `$simd`'s vectors inside `$host`'s target features (e.g. AVX2's 8-lane body
    // with AVX-512VL's 32 vector registers).
    ($simd:ty, $token:expr, on $host:expr, $mr:literal, $nv:literal, $ms:tt, [$($v:literal),*]) => {
        /// Runs the body with the concrete backend `$simd` (not the `S` that `vectorize` passes: a stand-in such as
        /// `V3_512b` vectorizes through its host ISA, which would hand us the 8-lane `V3`).
        struct Op<'a, 'b, const MR: usize, const NV: usize, const RS: usize, const TC: bool>(
            &'a $crate::ukernel::gemm::generic::GemmTile<'b>,
            $simd,
        );
        impl<const MR: usize, const NV: usize, const RS: usize, const TC: bool> pulp::WithSimd
            for Op<'_, '_, MR, NV, RS, TC>
        {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the GemmTile contract for MR x NV (rows RS apart, C
                // transposed with TC).
                unsafe { $crate::ukernel::gemm::generic::gemm_tile::<$simd, MR, NV, RS, TC>(self.1, self.0) }
            }
        }
        struct OpRun<'a, 'b, const MR: usize, const RS: usize, const TC: bool>(
            &'a $crate::ukernel::gemm::generic::GemmTile<'b>,
            usize,
            $simd,
        );
        impl<const MR: usize, const RS: usize, const TC: bool> pulp::WithSimd for OpRun<'_, '_, MR, RS, TC> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the run contract of `gemm_tiles`.
                unsafe { $crate::ukernel::gemm::generic::gemm_tiles::<$simd, MR, $nv, RS, TC>(self.2, self.0, self.1) }
            }
        }
        /// # Safety
        /// As [`gemm_tiles`](crate::ukernel::gemm::generic::gemm_tiles) for this module's tile, and the CPU must
        /// support this module's ISA.
        unsafe fn entry_run<const MR: usize, const RS: usize, const TC: bool>(
            t: &$crate::ukernel::gemm::generic::GemmTile<'_>,
            count: usize,
        ) {
            // SAFETY: as in `entry`.
            #[allow(unused_unsafe)]
            let (simd, host): ($simd, _) = unsafe { ($token, $host) };
            pulp::Simd::vectorize(host, OpRun::<MR, RS, TC>(t, count, simd))
        }
        /// Runs of full tiles through the any-spacing entry: see
        /// [`GemmRunFn`](crate::ukernel::gemm::generic::GemmRunFn).
        pub static STRIDED_ANY_RUN: $crate::ukernel::gemm::generic::GemmRunFn =
            entry_run::<$mr, { $crate::ukernel::gemm::generic::RS_ANY }, false>;
        /// Runs of tiles one row short of full (`MR - 1` rows, `t.mr == MR - 1`) through the any-spacing entry.
        pub static STRIDED_ANY_SHORT_RUN: $crate::ukernel::gemm::generic::GemmRunFn =
            entry_run::<{ $mr - 1 }, { $crate::ukernel::gemm::generic::RS_ANY }, false>;
        /// Runs of full tiles through the pixel-row entry (`PIXEL_ROWS`).
        pub static PIXEL_ROWS_RUN: $crate::ukernel::gemm::generic::GemmRunFn = entry_run::<$mr, 1, true>;
        /// Runs of tiles one row short of full (`MR - 1` rows) through the pixel-row entry.
        pub static PIXEL_ROWS_SHORT_RUN: $crate::ukernel::gemm::generic::GemmRunFn = entry_run::<{ $mr - 1 }, 1, true>;

        /// # Safety
        /// The tile must satisfy the [`GemmTile`](crate::ukernel::gemm::generic::GemmTile) contract for `MR` x
        /// `NV` (with `RS > 0`: the strided form of it; with `TC`: the transposed one), and the CPU must support
        /// this module's ISA.
        unsafe fn entry<const MR: usize, const NV: usize, const RS: usize, const TC: bool>(
            t: &$crate::ukernel::gemm::generic::GemmTile<'_>,
        ) {
            // SAFETY: entry points are reachable only through a plan built for an ISA this CPU has
            // (see `Isa::available`), so the backend and host tokens are valid.
            #[allow(unused_unsafe)]
            let (simd, host): ($simd, _) = unsafe { ($token, $host) };
            pulp::Simd::vectorize(host, Op::<MR, NV, RS, TC>(t, simd))
        }
        /// Entry points indexed `[nv - 1][mr - 1]`.
        pub static TABLE: [[$crate::ukernel::gemm::generic::GemmFn; $mr]; $nv] = [$($crate::ukernel::gemm::generic::gemm_row!($v, false; $ms)),*];
        /// Entry points with C transposed, indexed `[nv - 1][mr - 1]`.
        pub static TABLE_T: [[$crate::ukernel::gemm::generic::GemmFn; $mr]; $nv] = [$($crate::ukernel::gemm::generic::gemm_row!($v, true; $ms)),*];

        /// Full-tile (`MR` x `NV`) entry points whose A rows are a fixed number of floats apart, as
        /// `(floats apart, entry)`: see [`STRIDED_ROWS`](crate::ukernel::gemm::generic::STRIDED_ROWS).
        pub static STRIDED: [(usize, $crate::ukernel::gemm::generic::GemmFn); 3] = [
            (1, entry::<$mr, $nv, 1, false> as $crate::ukernel::gemm::generic::GemmFn),
            (3, entry::<$mr, $nv, 3, false> as $crate::ukernel::gemm::generic::GemmFn),
            (6, entry::<$mr, $nv, 6, false> as $crate::ukernel::gemm::generic::GemmFn),
        ];

        /// The full-tile entry point whose A rows are `GemmTile::rsa` floats apart, any spacing: see
        /// [`RS_ANY`](crate::ukernel::gemm::generic::RS_ANY).
        pub static STRIDED_ANY: $crate::ukernel::gemm::generic::GemmFn =
            entry::<$mr, $nv, { $crate::ukernel::gemm::generic::RS_ANY }, false>;

        /// The full-tile transposed-C entry point whose A rows are neighbouring floats (`rsa == 1`): NCHW pixel
        /// rows, each pixel's channels a plane (`csa`) apart.
        pub static PIXEL_ROWS: $crate::ukernel::gemm::generic::GemmFn = entry::<$mr, $nv, 1, true>;

        /// The entry point for a tile of exactly `mr` rows and `nv` column vectors.
        pub fn select(mr: usize, nv: usize) -> $crate::ukernel::gemm::generic::GemmFn {
            TABLE[nv - 1][mr - 1]
        }

        /// The entry point for a tile of exactly `mr` rows and `nv` column vectors, C transposed.
        pub fn select_t(mr: usize, nv: usize) -> $crate::ukernel::gemm::generic::GemmFn {
            TABLE_T[nv - 1][mr - 1]
        }
    };
}
pub(crate) use gemm_entry_points;

/// One row of a [`gemm_entry_points`] table: the entry points for `NV = $vv` and every listed `MR`.
macro_rules! gemm_row {
    ($vv:literal, $tc:literal; [$($m:literal),*]) => {
        [$(entry::<$m, $vv, 0, $tc> as $crate::ukernel::gemm::generic::GemmFn),*]
    };
}
pub(crate) use gemm_row;
