//! Depthwise convolution micro-kernel bodies, generic over the SIMD backend, the kernel size, the stride and
//! the number of outputs computed per iteration.
//!
//! NHWC kernels put channels in the lanes (tiles of two vectors) and compute one output row of a group of channel
//! tiles per call, pixel-major: for each run of `R` interior output pixels, every tile in turn, so neighbouring
//! outputs share input loads and a pixel's channels stay in L1 across tiles. NCHW kernels put the pixels of an
//! output row in the lanes and compute a range of output rows of one channel plane per call from rows we prepared
//! (zero-padded, split into stride phases), `R` output rows by two vectors per iteration so that rows share
//! input-row loads.
//!
//! Whatever path computes an output, its arithmetic is the same: `acc = bias`, then one multiply-add per tap in
//! `(ky, kx)` order, then the residual, then the clamp (NaN-preserving). Padded taps are skipped (NHWC, general
//! NCHW) or multiply zeros of our own (fast NCHW); for the finite weights the plan sends here both equal the
//! reference's zero padding. Which path computes an output depends only on its position, so results do not depend
//! on how the driver splits the work.
//!
//! One body serves every ISA (AVX2, AVX-512, NEON, portable and the 16-lane stand-ins that run the AVX-512
//! logic on AVX2 or in portable code).

use crate::simd::{load, store};
use pulp::{MemMask, Simd};

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

/// Whether pulp's masked loads and stores are right for `S`. pulp 0.22.3's `V3_512b` (16 lanes as two ymm)
/// offsets the upper half by 16 floats instead of 8, reading and writing the wrong addresses; that test stand-in
/// takes the stack-buffer path instead.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::extra_unused_type_parameters))]
fn native_masks<S: Simd>() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        core::any::TypeId::of::<S>() != core::any::TypeId::of::<pulp::x86::V3_512b>()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        true
    }
}

/// Whether masked stores should use the instruction: not on AVX2 (`vpmaskmovd` to memory is microcoded and slow
/// on AMD cores; a stack copy and scalar stores are faster) nor on `V3_512b` (see [`native_masks`]).
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
        if native_masks::<S>() {
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
        Epilogue {
            lo: simd.splat_f32s(min),
            hi: simd.splat_f32s(max),
            clamp: min > f32::NEG_INFINITY || max < f32::INFINITY,
        }
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
                // `x < lo` and `x > hi` are false for NaN, so NaN passes through unchanged.
                acc = simd.select_f32s(simd.less_than_f32s(acc, self.lo), self.lo, acc);
                acc = simd.select_f32s(simd.greater_than_f32s(acc, self.hi), self.hi, acc);
            }
            if M {
                mask_store(simd, mask, y.add(off), acc);
            } else {
                store::<S>(y.add(off), acc);
            }
        }
    }

    /// [`Epilogue::finish`] for `NV` consecutive vectors, the last one masked when `M`.
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
        mask: Lanes<S>,
    ) {
        // SAFETY: forwarded contract.
        unsafe {
            for (v, a) in acc.into_iter().enumerate() {
                if M && v + 1 == NV {
                    self.finish::<true>(simd, a, y, res, off + v * S::F32_LANES, mask);
                } else {
                    self.finish::<false>(simd, a, y, res, off + v * S::F32_LANES, mask);
                }
            }
        }
    }
}

/// Loads the `NV` vectors of a tile at `p`, the last one masked when `M`.
///
/// # Safety
/// The first `NV - 1` vectors and the enabled lanes of the last are readable.
#[inline(always)]
unsafe fn ld_tile<S: Simd, const NV: usize, const M: bool>(simd: S, mask: Lanes<S>, p: *const f32) -> [S::f32s; NV] {
    let mut t = [simd.splat_f32s(0.0); NV];
    // SAFETY: forwarded contract.
    unsafe {
        for (v, x) in t.iter_mut().enumerate() {
            *x = if M && v + 1 == NV {
                mask_load(simd, mask, p.add(v * S::F32_LANES))
            } else {
                load::<S>(p.add(v * S::F32_LANES))
            };
        }
    }
    t
}

// ---------------------------------------------------------------------------------------------------------------
// NHWC: channels in lanes, one output row of one channel tile per call.
// ---------------------------------------------------------------------------------------------------------------

/// One NHWC output row over `tiles` consecutive channel tiles of `nv * lanes` channels (`nv` the kernel's
/// vectors per tile); the last tile holds `nc_last` channels.
///
/// Pointer contract (checked by the driver, relied on here):
/// - `rows.len() == kh`. `rows[ky]` points at channel 0 of the first tile of input pixel 0 of the row tap `ky`
///   reads, or is null for a padded row (its taps are skipped). Channel `c` of tile `t` of pixel `ix` is at
///   `rows[ky] + ix * x_stride + t * nv * lanes + c`, readable for `ix < in_w` and `c < nv * lanes` (`c < nc_last`
///   in the last tile).
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
    pub min: f32,
    pub max: f32,
}

/// Per-tile constants of an NHWC kernel computing `NV` vectors per pixel (`tw` floats between weight taps).
#[derive(Clone, Copy)]
struct NhwcTile<S: Simd, const NV: usize> {
    mask: Lanes<S>,
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
    let hi = if M { nc - (NV - 1) * lanes } else { lanes };
    // SAFETY: the tile's packed weights start with `tw >= NV * lanes` bias floats (contract).
    unsafe {
        let wt = a.w.add(t * a.w_stride);
        let mut bias = [simd.splat_f32s(0.0); NV];
        for (v, b) in bias.iter_mut().enumerate() {
            *b = load::<S>(wt.add(v * lanes));
        }
        NhwcTile {
            mask: Lanes { m: MemMask::new(simd.mask_between_m32s(0, hi as u32).mask()), lo: 0, hi },
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
                let x = ld_tile::<S, NV, M>(simd, c.mask, row.add(ix as usize * a.x_stride + c.c0));
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = simd.mul_add_e_f32s(x[v], load::<S>(wr.add(kx * c.tw + v * lanes)), *acc);
                }
            }
        }
        c.epi.finish_tile::<NV, M>(simd, acc, a.y, a.res, ox * a.y_stride + c.c0, c.mask);
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
                let x = ld_tile::<S, NV, M>(simd, c.mask, row.add(ix as usize * a.x_stride + c.c0));
                let wr = c.w.add((ky * K + kx) * c.tw);
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = simd.mul_add_e_f32s(x[v], load::<S>(wr.add(v * lanes)), *acc);
                }
            }
        }
        c.epi.finish_tile::<NV, M>(simd, acc, a.y, a.res, ox * a.y_stride + c.c0, c.mask);
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
                let x = ld_tile::<S, NV, M>(simd, c.mask, row.add(j * xs));
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
            c.epi.finish_tile::<NV, M>(simd, acc, a.y, a.res, (ox + r) * a.y_stride + c.c0, c.mask);
        }
    }
}

/// How tile `t` runs: 0 = `NV` full vectors, 1 = `NV` vectors with the last masked, 2 = one full vector,
/// 3 = one masked vector; and its channel count.
#[inline(always)]
fn tile_kind<S: Simd, const NV: usize>(a: &NhwcRow<'_>, t: usize) -> (u8, usize) {
    let (l, tw) = (S::F32_LANES, NV * S::F32_LANES);
    let nc = if t + 1 == a.tiles { a.nc_last } else { tw };
    let kind = if nc == tw {
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

/// NHWC `K x K`, stride `ST`, undilated kernel over tiles of `NV` (1 or 2) vectors of channels: for each group
/// of `R` interior outputs, every tile in turn (so the input pixels stay in L1 across tiles).
///
/// # Safety
/// `a` satisfies [`NhwcRow`]'s contract for `nv == NV` with `kh == kw == K`, `stride == ST`, `dilation == 1`.
#[inline(always)]
pub unsafe fn nhwc_fast<S: Simd, const K: usize, const ST: usize, const R: usize, const NV: usize>(
    simd: S,
    a: &NhwcRow<'_>,
) {
    const { assert!(NV == 1 || NV == 2) };
    debug_assert!(a.rows.len() == K && a.kw == K && a.stride == ST && a.dilation == 1);
    debug_assert!(a.tiles >= 1 && a.nc_last >= 1 && a.nc_last <= NV * S::F32_LANES);
    let epi = Epilogue::new(simd, a.min, a.max);
    let mut rows = [core::ptr::null::<f32>(); K];
    rows.copy_from_slice(&a.rows[..K]);
    // SAFETY: forwarded contract; segments stay inside the interior.
    unsafe {
        for ox in (0..a.ox_lo).chain(a.ox_hi.max(a.ox_lo)..a.ow) {
            for t in 0..a.tiles {
                nhwc_border_tile::<S, K, NV>(simd, a, &rows, epi, t, ox);
            }
        }
        let mut ox = a.ox_lo;
        while ox + R <= a.ox_hi {
            for t in 0..a.tiles {
                nhwc_segment_tile::<S, K, ST, R, NV>(simd, a, &rows, epi, t, ox);
            }
            ox += R;
        }
        if R > 4 && ox + 4 <= a.ox_hi {
            for t in 0..a.tiles {
                nhwc_segment_tile::<S, K, ST, 4, NV>(simd, a, &rows, epi, t, ox);
            }
            ox += 4;
        }
        while ox < a.ox_hi {
            for t in 0..a.tiles {
                nhwc_segment_tile::<S, K, ST, 1, NV>(simd, a, &rows, epi, t, ox);
            }
            ox += 1;
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
    debug_assert!(a.tiles >= 1 && a.nc_last >= 1 && a.nc_last <= NV * S::F32_LANES);
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

// ---------------------------------------------------------------------------------------------------------------
// NCHW: pixels of an output row in lanes, a range of output rows of one channel plane per call.
// ---------------------------------------------------------------------------------------------------------------

/// Output rows `oy0..oy1` of one NCHW channel plane, read from rows prepared by [`pad_rows`].
///
/// A prepared row holds `stride_w` phases of `x_phase` floats: element `j` of phase `p` is input column
/// `ix = j * stride_w + p - pad_left`, or zero where `ix` lies outside `0..in_w`. Output `ox` reads tap `kx` at
/// phase `(kx * dil_w) % stride_w`, element `ox + (kx * dil_w) / stride_w`.
///
/// Pointer contract (checked by the driver, relied on here):
/// - `x_phase >= round_up(ow, lanes) + ((kw - 1) * dil_w) / stride_w`, and `>= pad_left + in_w + lanes` with
///   `stride_w == 1` (see [`PadRows`]).
/// - the prepared row of every input row `iy` in `0..in_h` that the output rows read is at
///   `x + (iy - iy0) * x_row` (`x_row >= stride_w * x_phase`); rows outside `0..in_h` are padding: the fast
///   kernels read `zero` (a prepared row of zeros) for them, the general kernel skips them.
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

/// `NV` consecutive vectors of `R` output rows: `rp[i]` is the prepared row of input row
/// `oy * ST + i - pad_top`.
///
/// # Safety
/// Row pointers satisfy [`NchwPlane`]'s contract and `ox0 + NV * lanes <= round_up(ow, lanes)`.
#[inline(always)]
unsafe fn nchw_vectors<S: Simd, const K: usize, const ST: usize, const R: usize, const NV: usize>(
    rp: &[*const f32; 16],
    off: &[usize; K],
    w: &[[S::f32s; K]; K],
    acc: &mut [[S::f32s; NV]; R],
    ox0: usize,
    simd: S,
) {
    let lanes = S::F32_LANES;
    // SAFETY: prepared rows hold `x_phase` floats per phase, beyond every vector read here (contract).
    unsafe {
        for (i, &row) in rp.iter().enumerate().take((R - 1) * ST + K) {
            for kx in 0..K {
                let p = row.add(off[kx] + ox0);
                let mut x = [w[0][0]; NV];
                for (v, x) in x.iter_mut().enumerate() {
                    *x = load::<S>(p.add(v * lanes));
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    if i >= r * ST && i - r * ST < K {
                        for v in 0..NV {
                            acc[v] = simd.mul_add_e_f32s(x[v], w[i - r * ST][kx], acc[v]);
                        }
                    }
                }
            }
        }
    }
}

/// `R` output rows starting at `oy`: `NV` vectors at a time, then single vectors, the last one stored masked
/// when the row is not a whole number of vectors.
///
/// # Safety
/// [`NchwPlane`]'s contract with `oy + R <= oy1`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn nchw_rows<S: Simd, const K: usize, const ST: usize, const R: usize, const NV: usize>(
    simd: S,
    a: &NchwPlane,
    off: &[usize; K],
    w: &[[S::f32s; K]; K],
    bias: S::f32s,
    epi: Epilogue<S>,
    oy: usize,
) {
    let lanes = S::F32_LANES;
    let mut rp = [a.zero; 16];
    for (i, r) in rp.iter_mut().enumerate().take((R - 1) * ST + K) {
        *r = nchw_row(a, (oy * ST + i) as isize - a.pad_top as isize);
    }
    let full = Lanes::new(simd, 0, lanes);
    let mut ox0 = 0;
    // SAFETY: vectors start below `ow` (reads within the prepared rows); full stores only below `ow`, the last
    // partial vector through a lane mask.
    unsafe {
        while ox0 + NV * lanes <= a.ow {
            let mut acc = [[bias; NV]; R];
            nchw_vectors::<S, K, ST, R, NV>(&rp, off, w, &mut acc, ox0, simd);
            for (r, acc) in acc.into_iter().enumerate() {
                epi.finish_tile::<NV, false>(simd, acc, a.y, a.res, (oy + r) * a.ow + ox0, full);
            }
            ox0 += NV * lanes;
        }
        while ox0 < a.ow {
            let mut acc = [[bias; 1]; R];
            nchw_vectors::<S, K, ST, R, 1>(&rp, off, w, &mut acc, ox0, simd);
            let nl = lanes.min(a.ow - ox0);
            for (r, acc) in acc.into_iter().enumerate() {
                let o = (oy + r) * a.ow + ox0;
                if nl == lanes {
                    epi.finish::<false>(simd, acc[0], a.y, a.res, o, full);
                } else {
                    epi.finish::<true>(simd, acc[0], a.y, a.res, o, Lanes::new(simd, 0, nl));
                }
            }
            ox0 += lanes;
        }
    }
}

/// Most outputs per call (and widest row) that the NCHW fast kernels compute through a row-contiguous buffer
/// (see [`nchw_fast`]).
pub const NCHW_NARROW_ELEMS: usize = 512;
/// See [`NCHW_NARROW_ELEMS`].
pub const NCHW_NARROW_W: usize = 64;
// Small enough to keep the stack frame below 4 KiB (a larger one costs a probe call on every entry); the last
// row's last vector may run up to 16 floats past the outputs.
const NARROW_BUF: usize = NCHW_NARROW_ELEMS + 16;

/// `R` output rows starting at `oy` of a narrow plane, written without epilogue into `buf` (row `oy - oy0` at
/// `(oy - oy0) * ow`) with whole-vector stores, `NV` vectors at a time from the right: a row's last vector, which
/// may run past the row's end, is stored before the next row's first vector overwrites the excess.
///
/// # Safety
/// [`NchwPlane`]'s contract with `oy + R <= oy1`, `ow <= NCHW_NARROW_W`, `(oy1 - oy0) * ow <= NCHW_NARROW_ELEMS`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn nchw_rows_buf<S: Simd, const K: usize, const ST: usize, const R: usize, const NV: usize>(
    simd: S,
    a: &NchwPlane,
    off: &[usize; K],
    w: &[[S::f32s; K]; K],
    bias: S::f32s,
    buf: *mut f32,
    oy: usize,
) {
    let lanes = S::F32_LANES;
    let mut rp = [a.zero; 16];
    for (i, r) in rp.iter_mut().enumerate().take((R - 1) * ST + K) {
        *r = nchw_row(a, (oy * ST + i) as isize - a.pad_top as isize);
    }
    let mut v = a.ow.div_ceil(lanes);
    // SAFETY: vectors start below `ow` (reads within the prepared rows); buffer stores end below
    // `(oy1 - oy0 - 1) * ow + ow.div_ceil(lanes) * lanes <= NARROW_BUF`.
    unsafe {
        while v > 0 {
            if v >= NV {
                v -= NV;
                let mut acc = [[bias; NV]; R];
                nchw_vectors::<S, K, ST, R, NV>(&rp, off, w, &mut acc, v * lanes, simd);
                for (r, acc) in acc.into_iter().enumerate() {
                    for (j, x) in acc.into_iter().enumerate() {
                        store::<S>(buf.add((oy + r - a.oy0) * a.ow + (v + j) * lanes), x);
                    }
                }
            } else {
                v -= 1;
                let mut acc = [[bias; 1]; R];
                nchw_vectors::<S, K, ST, R, 1>(&rp, off, w, &mut acc, v * lanes, simd);
                for (r, acc) in acc.into_iter().enumerate() {
                    store::<S>(buf.add((oy + r - a.oy0) * a.ow + v * lanes), acc[0]);
                }
            }
        }
    }
}

/// NCHW `K x K`, stride `ST` (both directions), undilated kernel, `R` output rows by `NV` vectors per
/// iteration. Padding taps read the zeros of the prepared rows, so the weights must be finite for padded taps to
/// contribute nothing.
///
/// # Safety
/// `a` satisfies [`NchwPlane`]'s contract with `kh == kw == K`, `stride_h == stride_w == ST`, no dilation;
/// `(R - 1) * ST + K <= 16`.
#[inline(always)]
pub unsafe fn nchw_fast<S: Simd, const K: usize, const ST: usize, const R: usize, const NV: usize>(
    simd: S,
    a: &NchwPlane,
) {
    debug_assert!(a.kh == K && a.kw == K && a.stride_h == ST && a.stride_w == ST && a.dil_h == 1 && a.dil_w == 1);
    const { assert!(R >= 1 && NV >= 1 && (R - 1) * ST + K <= 16) };
    let epi = Epilogue::new(simd, a.min, a.max);
    let bias = simd.splat_f32s(a.bias);
    let mut w = [[bias; K]; K];
    // SAFETY: `w` holds `K * K` weights (contract).
    unsafe {
        for (ky, wr) in w.iter_mut().enumerate() {
            for (kx, v) in wr.iter_mut().enumerate() {
                *v = simd.splat_f32s(*a.w.add(ky * K + kx));
            }
        }
    }
    let mut off = [0usize; K];
    for (kx, o) in off.iter_mut().enumerate() {
        *o = col_off(a, kx);
    }
    let mut oy = a.oy0;
    if a.ow <= NCHW_NARROW_W && (a.oy1 - a.oy0) * a.ow <= NCHW_NARROW_ELEMS {
        // Narrow rows end in a partial vector each: compute the rows into a row-contiguous buffer, then run the
        // epilogue over the contiguous output range with whole vectors (one partial vector at the end).
        // Every float the epilogue reads is written first (rows oy0..oy1 cover `0..(oy1 - oy0) * ow`).
        let mut buf = core::mem::MaybeUninit::<[f32; NARROW_BUF]>::uninit();
        let bp = buf.as_mut_ptr() as *mut f32;
        // SAFETY: forwarded contract; the buffer holds every row of the call.
        unsafe {
            while oy + R <= a.oy1 {
                nchw_rows_buf::<S, K, ST, R, NV>(simd, a, &off, &w, bias, bp, oy);
                oy += R;
            }
            // The last rows as one block (independent accumulator chains).
            match a.oy1 - oy {
                0 => {}
                1 => nchw_rows_buf::<S, K, ST, 1, NV>(simd, a, &off, &w, bias, bp, oy),
                2 => nchw_rows_buf::<S, K, ST, 2, NV>(simd, a, &off, &w, bias, bp, oy),
                _ => {
                    while oy + 3 <= a.oy1 {
                        nchw_rows_buf::<S, K, ST, 3, NV>(simd, a, &off, &w, bias, bp, oy);
                        oy += 3;
                    }
                    while oy < a.oy1 {
                        nchw_rows_buf::<S, K, ST, 1, NV>(simd, a, &off, &w, bias, bp, oy);
                        oy += 1;
                    }
                }
            }
            epilogue_run(simd, epi, bp, a.y, a.res, a.oy0 * a.ow, (a.oy1 - a.oy0) * a.ow);
        }
        return;
    }
    // SAFETY: forwarded contract; each call covers rows below `oy1`.
    unsafe {
        while oy + R <= a.oy1 {
            nchw_rows::<S, K, ST, R, NV>(simd, a, &off, &w, bias, epi, oy);
            oy += R;
        }
        match a.oy1 - oy {
            0 => {}
            2 => nchw_rows::<S, K, ST, 2, NV>(simd, a, &off, &w, bias, epi, oy),
            _ => {
                while oy < a.oy1 {
                    nchw_rows::<S, K, ST, 1, NV>(simd, a, &off, &w, bias, epi, oy);
                    oy += 1;
                }
            }
        }
    }
}

/// Applies the epilogue to `n` contiguous accumulators at `src`, writing `y[off..off + n]` (residual read at the
/// same offsets just before each write, so it may be `y` itself).
///
/// # Safety
/// `src` holds `n` floats; `y` (and `res` unless null) hold `off + n`.
#[inline(always)]
unsafe fn epilogue_run<S: Simd>(
    simd: S,
    epi: Epilogue<S>,
    src: *const f32,
    y: *mut f32,
    res: *const f32,
    off: usize,
    n: usize,
) {
    let lanes = S::F32_LANES;
    let full = Lanes::new(simd, 0, lanes);
    let mut k = 0;
    // SAFETY: every access is below `n` floats past `src` and `off + n` past `y` / `res`.
    unsafe {
        while k + lanes <= n {
            epi.finish::<false>(simd, load::<S>(src.add(k)), y, res, off + k, full);
            k += lanes;
        }
        if k < n {
            epi.finish::<true>(
                simd,
                mask_load(simd, Lanes::new(simd, 0, n - k), src.add(k)),
                y,
                res,
                off + k,
                Lanes::new(simd, 0, n - k),
            );
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

/// Prepares NCHW input rows for the kernels: the split into stride phases, shifted by the left padding.
///
/// Pointer contract: `src` holds `rows` rows of `in_w` floats, `in_w` apart; prepared row `i` is at
/// `dst + i * stride * x_phase`, phase `p` element `j` (`j < x_phase`) receives input column
/// `j * stride + p - pad_left` where that lies inside `0..in_w`. Elements outside that range are zero and stay
/// zero: the caller zeroes them once (they sit at the same places for every row and plane of a layer); with stride
/// 1 up to `lanes` zeros are rewritten after the valid range, so `x_phase >= pad_left + in_w + lanes`.
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

/// An ISA's stride-2 split: `n` pairs at `src` to `n` evens at `ev` and `n` odds at `od`.
pub type Split2Fn = unsafe fn(src: *const f32, ev: *mut f32, od: *mut f32, n: usize);

/// Row preparation: vector copies for stride 1, the ISA's pair split (`split2`, or a plain loop) for stride 2.
///
/// # Safety
/// `a` satisfies [`PadRows`]'s contract.
#[inline(always)]
pub unsafe fn pad_rows<S: Simd>(simd: S, a: &PadRows, split2: Option<Split2Fn>) {
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
                let src = core::slice::from_raw_parts(src, w);
                let ev = core::slice::from_raw_parts_mut(dst, xp);
                let od = core::slice::from_raw_parts_mut(dst.add(xp), xp);
                let ((e0, e1), (o0, o1)) = (range(0), range(1));
                // Pairs (even, odd) at `j` read source columns `2j - pl` and `2j + 1 - pl`: one contiguous run.
                let (m0, m1) = (e0.max(o0), e1.min(o1).max(e0.max(o0)));
                for j in (e0..m0).chain(m1..e1) {
                    ev[j] = src[2 * j - pl];
                }
                for j in (o0..m0).chain(m1..o1) {
                    od[j] = src[2 * j + 1 - pl];
                }
                if m1 > m0
                    && let Some(f) = split2
                {
                    f(src[2 * m0 - pl..].as_ptr(), ev[m0..].as_mut_ptr(), od[m0..].as_mut_ptr(), m1 - m0);
                } else if m1 > m0 {
                    let pairs = src[2 * m0 - pl..2 * m1 - pl].chunks_exact(2);
                    for ((e, o), pr) in ev[m0..m1].iter_mut().zip(od[m0..m1].iter_mut()).zip(pairs) {
                        *e = pr[0];
                        *o = pr[1];
                    }
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
macro_rules! dw_entry_points {
    ($simd:ty, $token:expr, $isa:expr, $lanes:literal, $tile:literal, $suffix:literal, $split2:expr) => {
        use $crate::ukernel::dwconv::generic as g;
        use $crate::ukernel::dwconv::{DwEntry, DwKernel, DwShape};

        /// Vectors of channels per NHWC tile.
        const NV: usize = 2;

        struct NhwcFast<'a, 'b, const K: usize, const ST: usize, const R: usize, const V: usize>(
            &'a g::NhwcRow<'b>,
            $simd,
        );
        impl<const K: usize, const ST: usize, const R: usize, const V: usize> pulp::WithSimd
            for NhwcFast<'_, '_, K, ST, R, V>
        {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NhwcRow contract for this shape.
                unsafe { g::nhwc_fast::<$simd, K, ST, R, V>(self.1, self.0) }
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
        struct NchwFast<'a, const K: usize, const ST: usize, const R: usize, const V: usize>(&'a g::NchwPlane, $simd);
        impl<const K: usize, const ST: usize, const R: usize, const V: usize> pulp::WithSimd
            for NchwFast<'_, K, ST, R, V>
        {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NchwPlane contract for this shape.
                unsafe { g::nchw_fast::<$simd, K, ST, R, V>(self.1, self.0) }
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
        struct Pad<'a>(&'a g::PadRows, $simd);
        impl pulp::WithSimd for Pad<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the PadRows contract.
                unsafe { g::pad_rows::<$simd>(self.1, self.0, $split2) }
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
        unsafe fn nhwc_fast<const K: usize, const ST: usize, const R: usize, const V: usize>(a: &g::NhwcRow<'_>) {
            let simd = token();
            pulp::Simd::vectorize(simd, NhwcFast::<K, ST, R, V>(a, simd))
        }
        /// # Safety
        /// [`g::NhwcRow`]'s contract.
        unsafe fn nhwc_generic(a: &g::NhwcRow<'_>) {
            let simd = token();
            pulp::Simd::vectorize(simd, NhwcGeneric(a, simd))
        }
        /// # Safety
        /// [`g::NchwPlane`]'s contract for a `K x K` stride-`ST` undilated kernel.
        unsafe fn nchw_fast<const K: usize, const ST: usize, const R: usize, const V: usize>(a: &g::NchwPlane) {
            let simd = token();
            pulp::Simd::vectorize(simd, NchwFast::<K, ST, R, V>(a, simd))
        }
        /// # Safety
        /// [`g::NchwPlane`]'s contract.
        unsafe fn nchw_generic(a: &g::NchwPlane) {
            let simd = token();
            pulp::Simd::vectorize(simd, NchwGeneric(a, simd))
        }
        /// # Safety
        /// [`g::PadRows`]'s contract.
        unsafe fn pad(a: &g::PadRows) {
            let simd = token();
            pulp::Simd::vectorize(simd, Pad(a, simd))
        }

        const fn k(name: &'static str, nv: usize, shape: DwShape, entry: DwEntry) -> DwKernel {
            DwKernel { name, isa: $isa, lanes: $lanes, nv, shape, entry, pad }
        }

        /// This ISA's depthwise kernels: NHWC then NCHW, specialised shapes then the general one.
        pub static KERNELS: [DwKernel; 10] = [
            k(
                concat!("f32_dwconv_3x3s1_", $tile, "c__", $suffix),
                2,
                DwShape::K3S1,
                DwEntry::Nhwc(nhwc_fast::<3, 1, 4, 2>),
            ),
            k(
                concat!("f32_dwconv_3x3s2_", $tile, "c__", $suffix),
                2,
                DwShape::K3S2,
                DwEntry::Nhwc(nhwc_fast::<3, 2, 4, 2>),
            ),
            k(
                concat!("f32_dwconv_5x5s1_", $tile, "c__", $suffix),
                2,
                DwShape::K5S1,
                DwEntry::Nhwc(nhwc_fast::<5, 1, 4, 2>),
            ),
            k(
                concat!("f32_dwconv_5x5s2_", $tile, "c__", $suffix),
                2,
                DwShape::K5S2,
                DwEntry::Nhwc(nhwc_fast::<5, 2, 2, 2>),
            ),
            k(concat!("f32_dwconv_generic_", $tile, "c__", $suffix), NV, DwShape::Generic, DwEntry::Nhwc(nhwc_generic)),
            k(concat!("f32_dwconv2d_chw_3x3s1__", $suffix), NV, DwShape::K3S1, DwEntry::Nchw(nchw_fast::<3, 1, 4, 2>)),
            k(concat!("f32_dwconv2d_chw_3x3s2__", $suffix), NV, DwShape::K3S2, DwEntry::Nchw(nchw_fast::<3, 2, 4, 2>)),
            k(concat!("f32_dwconv2d_chw_5x5s1__", $suffix), NV, DwShape::K5S1, DwEntry::Nchw(nchw_fast::<5, 1, 4, 2>)),
            k(concat!("f32_dwconv2d_chw_5x5s2__", $suffix), NV, DwShape::K5S2, DwEntry::Nchw(nchw_fast::<5, 2, 2, 2>)),
            k(concat!("f32_dwconv2d_chw_generic__", $suffix), NV, DwShape::Generic, DwEntry::Nchw(nchw_generic)),
        ];
    };
}
pub(crate) use dw_entry_points;
