//! Depthwise convolution micro-kernel bodies, generic over the SIMD backend, the kernel size, the stride and
//! the number of outputs computed per iteration.
//!
//! NHWC kernels put channels in the lanes and compute one output row of one channel tile per call, `R` output
//! pixels per iteration so that neighbouring outputs share input loads. NCHW kernels put the pixels of an output
//! row in the lanes and compute a range of output rows of one channel plane per call, `R` output rows per
//! iteration so that they share input-row loads. Whatever path computes an output, its arithmetic is the same:
//! `acc = bias`, then one multiply-add per tap in `(ky, kx)` order, then the residual, then the clamp.
//!
//! One body serves every ISA (AVX2, AVX-512, NEON, portable and the 16-lane stand-ins that run the AVX-512
//! logic on AVX2 or in portable code).

use pulp::{MemMask, Simd};

#[inline(always)]
unsafe fn load<S: Simd>(p: *const f32) -> S::f32s {
    // SAFETY: the caller guarantees `S::F32_LANES` readable floats at `p`; f32s is plain data.
    unsafe { (p as *const S::f32s).read_unaligned() }
}

#[inline(always)]
unsafe fn store<S: Simd>(p: *mut f32, v: S::f32s) {
    // SAFETY: the caller guarantees `S::F32_LANES` writable floats at `p`.
    unsafe { (p as *mut S::f32s).write_unaligned(v) }
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
        Lanes { m: simd.mask_between_m32s(lo as u32, hi as u32), lo, hi }
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
        if native_masks::<S>() {
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
}

// ---------------------------------------------------------------------------------------------------------------
// NHWC: channels in lanes, one output row of one channel tile per call.
// ---------------------------------------------------------------------------------------------------------------

/// One NHWC output row of one channel tile (`nc <= lanes` channels).
///
/// Pointer contract (checked by the driver, relied on here):
/// - `rows.len() == wrows.len() == kh`. `rows[ky]` points at input pixel 0 of the row tap `ky` reads (or at a
///   zero row of the caller's own); channel `c` of pixel `ix` is at `rows[ky] + ix * x_stride + c`, readable for
///   `ix < in_w`, `c < nc`.
/// - `wrows[ky]` points at `kw * lanes` readable floats, tap `kx` at `+ kx * lanes` (zeros for a padded row).
/// - `bias` points at `lanes` readable floats.
/// - `[ox_lo, ox_hi)` is the interior: every tap `ix = ox * stride + kx * dilation - pad_left` of these outputs
///   lies inside `0..in_w`. Other outputs skip their padded taps.
/// - Output `(ox, c)` is written at `y + ox * y_stride + c` for `ox < ow`, `c < nc` only; `res` (null for none)
///   is read at the same offsets, before the write (it may be `y` itself).
#[derive(Clone, Copy, Debug)]
pub struct NhwcRow<'a> {
    pub rows: &'a [*const f32],
    pub wrows: &'a [*const f32],
    pub bias: *const f32,
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
    pub nc: usize,
    pub min: f32,
    pub max: f32,
}

/// One output pixel through the general tap loop; `CHECK` skips taps outside the input row.
///
/// # Safety
/// [`NhwcRow`]'s contract; without `CHECK`, `ox` lies in the interior.
#[inline(always)]
unsafe fn nhwc_pixel<S: Simd, const M: bool, const CHECK: bool>(
    simd: S,
    a: &NhwcRow<'_>,
    mask: Lanes<S>,
    bias: S::f32s,
    epi: Epilogue<S>,
    ox: usize,
) {
    let lanes = S::F32_LANES;
    let mut acc = bias;
    let ix0 = (ox * a.stride) as isize - a.pad_left as isize;
    // SAFETY: only taps inside `0..in_w` are read (checked, or guaranteed by the interior); weights hold kw taps.
    unsafe {
        for (&row, &wr) in a.rows.iter().zip(a.wrows) {
            for kx in 0..a.kw {
                let ix = ix0 + (kx * a.dilation) as isize;
                if CHECK && (ix < 0 || ix >= a.in_w as isize) {
                    continue;
                }
                let x = ld::<S, M>(simd, mask, row.add(ix as usize * a.x_stride));
                acc = simd.mul_add_e_f32s(x, load::<S>(wr.add(kx * lanes)), acc);
            }
        }
        epi.finish::<M>(simd, acc, a.y, a.res, ox * a.y_stride, mask);
    }
}

/// `R` neighbouring interior outputs of a `K x K`, stride-`ST` kernel: each input vector is loaded once and
/// used by every output it feeds.
///
/// # Safety
/// [`NhwcRow`]'s contract, with `ox .. ox + R` inside the interior.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn nhwc_segment<S: Simd, const K: usize, const ST: usize, const R: usize, const M: bool>(
    simd: S,
    a: &NhwcRow<'_>,
    rows: &[*const f32; K],
    w: &[[S::f32s; K]; K],
    mask: Lanes<S>,
    bias: S::f32s,
    epi: Epilogue<S>,
    ox: usize,
) {
    let xs = a.x_stride;
    let mut acc = [bias; R];
    // SAFETY: interior outputs read pixels `ox * ST - pad_left ..= (ox + R - 1) * ST - pad_left + K - 1`, all
    // inside the row; outputs `ox .. ox + R` are inside the output row.
    unsafe {
        let ix0 = ox * ST - a.pad_left;
        for ky in 0..K {
            let row = rows[ky].add(ix0 * xs);
            for j in 0..(R - 1) * ST + K {
                let x = ld::<S, M>(simd, mask, row.add(j * xs));
                for (r, acc) in acc.iter_mut().enumerate() {
                    if j >= r * ST && j - r * ST < K {
                        *acc = simd.mul_add_e_f32s(x, w[ky][j - r * ST], *acc);
                    }
                }
            }
        }
        for (r, acc) in acc.into_iter().enumerate() {
            epi.finish::<M>(simd, acc, a.y, a.res, (ox + r) * a.y_stride, mask);
        }
    }
}

#[inline(always)]
unsafe fn nhwc_fast_body<S: Simd, const K: usize, const ST: usize, const R: usize, const M: bool>(
    simd: S,
    a: &NhwcRow<'_>,
) {
    let lanes = S::F32_LANES;
    let mask = Lanes::new(simd, 0, a.nc);
    let epi = Epilogue::new(simd, a.min, a.max);
    // SAFETY: `bias` holds `lanes` floats, `wrows[ky]` `K * lanes` (contract).
    unsafe {
        let bias = load::<S>(a.bias);
        let mut rows = [core::ptr::null::<f32>(); K];
        let mut w = [[simd.splat_f32s(0.0); K]; K];
        for (ky, (row, wr)) in rows.iter_mut().zip(w.iter_mut()).enumerate() {
            *row = a.rows[ky];
            for (kx, v) in wr.iter_mut().enumerate() {
                *v = load::<S>(a.wrows[ky].add(kx * lanes));
            }
        }
        for ox in 0..a.ox_lo {
            nhwc_pixel::<S, M, true>(simd, a, mask, bias, epi, ox);
        }
        let mut ox = a.ox_lo;
        while ox + R <= a.ox_hi {
            nhwc_segment::<S, K, ST, R, M>(simd, a, &rows, &w, mask, bias, epi, ox);
            ox += R;
        }
        while ox < a.ox_hi {
            nhwc_segment::<S, K, ST, 1, M>(simd, a, &rows, &w, mask, bias, epi, ox);
            ox += 1;
        }
        for ox in a.ox_hi.max(a.ox_lo)..a.ow {
            nhwc_pixel::<S, M, true>(simd, a, mask, bias, epi, ox);
        }
    }
}

/// NHWC `K x K`, stride `ST`, undilated kernel, `R` outputs per interior iteration.
///
/// # Safety
/// `a` satisfies [`NhwcRow`]'s contract with `kh == kw == K`, `stride == ST`, `dilation == 1`.
#[inline(always)]
pub unsafe fn nhwc_fast<S: Simd, const K: usize, const ST: usize, const R: usize>(simd: S, a: &NhwcRow<'_>) {
    debug_assert!(a.rows.len() == K && a.wrows.len() == K && a.kw == K && a.stride == ST && a.dilation == 1);
    debug_assert!(a.nc >= 1 && a.nc <= S::F32_LANES);
    // SAFETY: forwarded contract.
    unsafe {
        if a.nc == S::F32_LANES {
            nhwc_fast_body::<S, K, ST, R, false>(simd, a)
        } else {
            nhwc_fast_body::<S, K, ST, R, true>(simd, a)
        }
    }
}

#[inline(always)]
unsafe fn nhwc_generic_body<S: Simd, const M: bool>(simd: S, a: &NhwcRow<'_>) {
    let mask = Lanes::new(simd, 0, a.nc);
    let epi = Epilogue::new(simd, a.min, a.max);
    // SAFETY: forwarded contract; interior outputs skip the bounds checks.
    unsafe {
        let bias = load::<S>(a.bias);
        let lo = a.ox_lo.min(a.ow);
        let hi = a.ox_hi.clamp(lo, a.ow);
        for ox in 0..lo {
            nhwc_pixel::<S, M, true>(simd, a, mask, bias, epi, ox);
        }
        for ox in lo..hi {
            nhwc_pixel::<S, M, false>(simd, a, mask, bias, epi, ox);
        }
        for ox in hi..a.ow {
            nhwc_pixel::<S, M, true>(simd, a, mask, bias, epi, ox);
        }
    }
}

/// NHWC kernel for any kernel size, stride and dilation: one output pixel at a time, channels in lanes.
///
/// # Safety
/// `a` satisfies [`NhwcRow`]'s contract.
#[inline(always)]
pub unsafe fn nhwc_generic<S: Simd>(simd: S, a: &NhwcRow<'_>) {
    debug_assert!(a.nc >= 1 && a.nc <= S::F32_LANES);
    // SAFETY: forwarded contract.
    unsafe {
        if a.nc == S::F32_LANES {
            nhwc_generic_body::<S, false>(simd, a)
        } else {
            nhwc_generic_body::<S, true>(simd, a)
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// NCHW: pixels of an output row in lanes, a range of output rows of one channel plane per call.
// ---------------------------------------------------------------------------------------------------------------

/// Output rows `oy0..oy1` of one NCHW channel plane.
///
/// Input rows are stored in `stride_w` phases: element `ix = j * stride_w + p` of input row `iy` is at
/// `x + (iy - iy0) * x_row + p * x_phase + j` (with `stride_w == 1` this is the plain row, `x_phase` unused).
///
/// Pointer contract (checked by the driver, relied on here):
/// - every input row `iy` in `0..in_h` that the output rows read is present, readable at the indices of its
///   `in_w` elements; rows outside `0..in_h` are padding and read from `zero` (which the fast kernels may do;
///   it holds `stride_w * x_phase` zeros, or `in_w` with `stride_w == 1`).
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

/// Where tap column `kx` reads in the phase layout: `ox + q` of phase `p`, that phase holding `n` elements.
#[derive(Clone, Copy, Default)]
struct Column {
    /// `p * x_phase + q`: offset from the row pointer for output `ox = 0`.
    off: isize,
    /// `q`: index shift within the phase.
    q: isize,
    /// Elements in the phase.
    n: isize,
}

#[inline(always)]
fn column(a: &NchwPlane, kx: usize) -> Column {
    let s = a.stride_w as isize;
    let t = (kx * a.dil_w) as isize - a.pad_left as isize;
    let (q, p) = (t.div_euclid(s), t.rem_euclid(s));
    let n = (a.in_w as isize - p + s - 1).div_euclid(s).max(0);
    Column { off: if s == 1 { q } else { p * a.x_phase as isize + q }, q, n }
}

/// Lanes of the vector at `ox0` that column `c` may read: lane `l` reads phase index `ox0 + l + q`, valid when
/// inside `0..n`, and only the first `nl` lanes are outputs.
#[inline(always)]
fn lane_mask<S: Simd>(simd: S, c: Column, ox0: usize, nl: usize) -> Lanes<S> {
    let base = ox0 as isize + c.q;
    let lo = (-base).clamp(0, nl as isize);
    let hi = (c.n - base).clamp(lo, nl as isize);
    Lanes::new(simd, lo as usize, hi as usize)
}

/// Pointer to input row `iy` (signed, may be padding) of the plane, or the zero row.
#[inline(always)]
fn nchw_row(a: &NchwPlane, iy: isize) -> *const f32 {
    if iy < 0 || iy >= a.in_h as isize { a.zero } else { a.x.wrapping_add((iy as usize - a.iy0) * a.x_row) }
}

/// One vector of `R` output rows: `rp[i]` is input row `oy * ST + i - pad_top`.
///
/// # Safety
/// Unless `EDGE`, every column's reads of this vector lie inside their phase; with `EDGE`, `m[kx]` enables only
/// lanes that do. Row pointers satisfy [`NchwPlane`]'s contract.
#[inline(always)]
unsafe fn nchw_vector<S: Simd, const K: usize, const ST: usize, const R: usize, const EDGE: bool>(
    simd: S,
    rp: &[*const f32; 16],
    cols: &[Column; K],
    m: &[Lanes<S>; K],
    w: &[[S::f32s; K]; K],
    acc: &mut [S::f32s; R],
    ox0: usize,
) {
    // SAFETY: reads stay inside valid lanes of present rows (contract); pointers are formed with wrapping
    // arithmetic since an edge vector's base may precede the row.
    unsafe {
        for (i, &row) in rp.iter().enumerate().take((R - 1) * ST + K) {
            for kx in 0..K {
                let p = row.wrapping_offset(cols[kx].off + ox0 as isize);
                let x = if EDGE { mask_load(simd, m[kx], p) } else { load::<S>(p) };
                for (r, acc) in acc.iter_mut().enumerate() {
                    if i >= r * ST && i - r * ST < K {
                        *acc = simd.mul_add_e_f32s(x, w[i - r * ST][kx], *acc);
                    }
                }
            }
        }
    }
}

/// `R` output rows starting at `oy`, every vector of the row.
///
/// # Safety
/// [`NchwPlane`]'s contract with `oy + R <= oy1`; `[ox_lo, ox_hi)` bounds the interior vectors.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn nchw_rows<S: Simd, const K: usize, const ST: usize, const R: usize>(
    simd: S,
    a: &NchwPlane,
    cols: &[Column; K],
    w: &[[S::f32s; K]; K],
    bias: S::f32s,
    epi: Epilogue<S>,
    ox_lo: isize,
    ox_hi: isize,
    oy: usize,
) {
    let lanes = S::F32_LANES;
    let mut rp = [a.zero; 16];
    for (i, r) in rp.iter_mut().enumerate().take((R - 1) * ST + K) {
        *r = nchw_row(a, (oy * ST + i) as isize - a.pad_top as isize);
    }
    let full = Lanes::new(simd, 0, lanes);
    let mut ox0 = 0;
    // SAFETY: interior vectors read inside every phase; edge vectors through lane masks; outputs of rows
    // `oy .. oy + R`, lanes below `ow`.
    unsafe {
        while ox0 < a.ow {
            let mut acc = [bias; R];
            if ox0 as isize >= ox_lo && (ox0 + lanes) as isize <= ox_hi {
                nchw_vector::<S, K, ST, R, false>(simd, &rp, cols, &[full; K], w, &mut acc, ox0);
                for (r, acc) in acc.into_iter().enumerate() {
                    epi.finish::<false>(simd, acc, a.y, a.res, (oy + r) * a.ow + ox0, full);
                }
            } else {
                let nl = lanes.min(a.ow - ox0);
                let mut m = [full; K];
                for kx in 0..K {
                    m[kx] = lane_mask(simd, cols[kx], ox0, nl);
                }
                nchw_vector::<S, K, ST, R, true>(simd, &rp, cols, &m, w, &mut acc, ox0);
                let store = Lanes::new(simd, 0, nl);
                for (r, acc) in acc.into_iter().enumerate() {
                    epi.finish::<true>(simd, acc, a.y, a.res, (oy + r) * a.ow + ox0, store);
                }
            }
            ox0 += lanes;
        }
    }
}

/// NCHW `K x K`, stride `ST` (both directions), undilated kernel, `R` output rows per iteration. Padding taps
/// read zeros (the zero row, masked lanes), so the weights must be finite for padded taps to contribute nothing.
///
/// # Safety
/// `a` satisfies [`NchwPlane`]'s contract with `kh == kw == K`, `stride_h == stride_w == ST`, no dilation;
/// `(R - 1) * ST + K <= 16`.
#[inline(always)]
pub unsafe fn nchw_fast<S: Simd, const K: usize, const ST: usize, const R: usize>(simd: S, a: &NchwPlane) {
    debug_assert!(a.kh == K && a.kw == K && a.stride_h == ST && a.stride_w == ST && a.dil_h == 1 && a.dil_w == 1);
    const { assert!(R >= 1 && (R - 1) * ST + K <= 16) };
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
    let mut cols = [Column::default(); K];
    // Vectors whose first output is in [ox_lo, ox_hi - lanes] read inside every phase.
    let (mut ox_lo, mut ox_hi) = (0isize, a.ow as isize);
    for (kx, c) in cols.iter_mut().enumerate() {
        *c = column(a, kx);
        ox_lo = ox_lo.max(-c.q);
        ox_hi = ox_hi.min(c.n - c.q);
    }
    let mut oy = a.oy0;
    // SAFETY: forwarded contract; each call covers rows below `oy1`.
    unsafe {
        while oy + R <= a.oy1 {
            nchw_rows::<S, K, ST, R>(simd, a, &cols, &w, bias, epi, ox_lo, ox_hi, oy);
            oy += R;
        }
        while oy < a.oy1 {
            nchw_rows::<S, K, ST, 1>(simd, a, &cols, &w, bias, epi, ox_lo, ox_hi, oy);
            oy += 1;
        }
    }
}

/// NCHW kernel for any kernel size, stride and dilation, one output row at a time. Padded taps are skipped
/// exactly (masked lanes keep their accumulator), so non-finite weights on padding taps change nothing.
///
/// # Safety
/// `a` satisfies [`NchwPlane`]'s contract.
#[inline(always)]
pub unsafe fn nchw_generic<S: Simd>(simd: S, a: &NchwPlane) {
    let lanes = S::F32_LANES;
    let epi = Epilogue::new(simd, a.min, a.max);
    let bias = simd.splat_f32s(a.bias);
    let full = Lanes::new(simd, 0, lanes);
    let (mut ox_lo, mut ox_hi) = (0isize, a.ow as isize);
    for kx in 0..a.kw {
        let c = column(a, kx);
        ox_lo = ox_lo.max(-c.q);
        ox_hi = ox_hi.min(c.n - c.q);
    }
    // SAFETY: rows outside `0..in_h` are skipped, present rows are read at valid phase indices only (interior
    // vectors by construction, edge vectors through lane masks); outputs below `ow` of rows `oy0..oy1`.
    unsafe {
        for oy in a.oy0..a.oy1 {
            let mut ox0 = 0;
            while ox0 < a.ow {
                let mut acc = bias;
                let interior = ox0 as isize >= ox_lo && (ox0 + lanes) as isize <= ox_hi;
                let nl = lanes.min(a.ow - ox0);
                for ky in 0..a.kh {
                    let iy = (oy * a.stride_h + ky * a.dil_h) as isize - a.pad_top as isize;
                    if iy < 0 || iy >= a.in_h as isize {
                        continue;
                    }
                    let row = nchw_row(a, iy);
                    for kx in 0..a.kw {
                        let c = column(a, kx);
                        let wv = simd.splat_f32s(*a.w.add(ky * a.kw + kx));
                        let p = row.wrapping_offset(c.off + ox0 as isize);
                        if interior {
                            acc = simd.mul_add_e_f32s(load::<S>(p), wv, acc);
                        } else {
                            let m = lane_mask(simd, c, ox0, nl);
                            let f = simd.mul_add_e_f32s(mask_load(simd, m, p), wv, acc);
                            acc = simd.select_f32s(m.m.mask(), f, acc);
                        }
                    }
                }
                let off = oy * a.ow + ox0;
                if interior {
                    epi.finish::<false>(simd, acc, a.y, a.res, off, full);
                } else {
                    epi.finish::<true>(simd, acc, a.y, a.res, off, Lanes::new(simd, 0, nl));
                }
                ox0 += lanes;
            }
        }
    }
}

/// Splits input rows into `stride` phases for the NCHW kernels.
///
/// Pointer contract: `src` holds `rows` rows of `in_w` floats, `in_w` apart; phase `p` of row `i` is written at
/// `dst + (i * stride + p) * x_phase`, `ceil((in_w - p) / stride)` floats, with `x_phase >= ceil(in_w / stride)`.
#[derive(Clone, Copy, Debug)]
pub struct SplitRows {
    pub src: *const f32,
    pub rows: usize,
    pub in_w: usize,
    pub stride: usize,
    pub dst: *mut f32,
    pub x_phase: usize,
}

/// Phase split (plain loops the compiler vectorises with this backend's instruction set).
///
/// # Safety
/// `a` satisfies [`SplitRows`]'s contract.
#[inline(always)]
pub unsafe fn split_rows<S: Simd>(_simd: S, a: &SplitRows) {
    let s = a.stride;
    // SAFETY: every read is below `in_w` in a source row, every write inside its phase (contract).
    unsafe {
        for i in 0..a.rows {
            let src = core::slice::from_raw_parts(a.src.add(i * a.in_w), a.in_w);
            if s == 2 {
                let (ev, od) = (a.dst.add(2 * i * a.x_phase), a.dst.add((2 * i + 1) * a.x_phase));
                let pairs = a.in_w / 2;
                let ev_s = core::slice::from_raw_parts_mut(ev, pairs);
                let od_s = core::slice::from_raw_parts_mut(od, pairs);
                for ((e, o), pr) in ev_s.iter_mut().zip(od_s.iter_mut()).zip(src.chunks_exact(2)) {
                    *e = pr[0];
                    *o = pr[1];
                }
                if a.in_w % 2 == 1 {
                    *ev.add(pairs) = src[a.in_w - 1];
                }
            } else {
                for p in 0..s {
                    let d = a.dst.add((i * s + p) * a.x_phase);
                    for (j, &v) in src.iter().skip(p).step_by(s).enumerate() {
                        *d.add(j) = v;
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
    ($simd:ty, $token:expr, $isa:expr, $lanes:literal, $suffix:literal) => {
        use $crate::ukernel::dwconv::generic as g;
        use $crate::ukernel::dwconv::{DwEntry, DwKernel, DwShape};

        struct NhwcFast<'a, 'b, const K: usize, const ST: usize, const R: usize>(&'a g::NhwcRow<'b>, $simd);
        impl<const K: usize, const ST: usize, const R: usize> pulp::WithSimd for NhwcFast<'_, '_, K, ST, R> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NhwcRow contract for this shape.
                unsafe { g::nhwc_fast::<$simd, K, ST, R>(self.1, self.0) }
            }
        }
        struct NhwcGeneric<'a, 'b>(&'a g::NhwcRow<'b>, $simd);
        impl pulp::WithSimd for NhwcGeneric<'_, '_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NhwcRow contract.
                unsafe { g::nhwc_generic::<$simd>(self.1, self.0) }
            }
        }
        struct NchwFast<'a, const K: usize, const ST: usize, const R: usize>(&'a g::NchwPlane, $simd);
        impl<const K: usize, const ST: usize, const R: usize> pulp::WithSimd for NchwFast<'_, K, ST, R> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the NchwPlane contract for this shape.
                unsafe { g::nchw_fast::<$simd, K, ST, R>(self.1, self.0) }
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
        struct Split<'a>(&'a g::SplitRows, $simd);
        impl pulp::WithSimd for Split<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the SplitRows contract.
                unsafe { g::split_rows::<$simd>(self.1, self.0) }
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
        unsafe fn nhwc_fast<const K: usize, const ST: usize, const R: usize>(a: &g::NhwcRow<'_>) {
            let simd = token();
            pulp::Simd::vectorize(simd, NhwcFast::<K, ST, R>(a, simd))
        }
        /// # Safety
        /// [`g::NhwcRow`]'s contract.
        unsafe fn nhwc_generic(a: &g::NhwcRow<'_>) {
            let simd = token();
            pulp::Simd::vectorize(simd, NhwcGeneric(a, simd))
        }
        /// # Safety
        /// [`g::NchwPlane`]'s contract for a `K x K` stride-`ST` undilated kernel.
        unsafe fn nchw_fast<const K: usize, const ST: usize, const R: usize>(a: &g::NchwPlane) {
            let simd = token();
            pulp::Simd::vectorize(simd, NchwFast::<K, ST, R>(a, simd))
        }
        /// # Safety
        /// [`g::NchwPlane`]'s contract.
        unsafe fn nchw_generic(a: &g::NchwPlane) {
            let simd = token();
            pulp::Simd::vectorize(simd, NchwGeneric(a, simd))
        }
        /// # Safety
        /// [`g::SplitRows`]'s contract.
        unsafe fn split(a: &g::SplitRows) {
            let simd = token();
            pulp::Simd::vectorize(simd, Split(a, simd))
        }

        const fn k(name: &'static str, shape: DwShape, entry: DwEntry) -> DwKernel {
            DwKernel { name, isa: $isa, lanes: $lanes, shape, entry, split }
        }

        /// This ISA's depthwise kernels: NHWC then NCHW, specialised shapes then the general one.
        pub static KERNELS: [DwKernel; 10] = [
            k(concat!("f32_dwconv_3x3s1_", $lanes, "c__", $suffix), DwShape::K3S1, DwEntry::Nhwc(nhwc_fast::<3, 1, 4>)),
            k(concat!("f32_dwconv_3x3s2_", $lanes, "c__", $suffix), DwShape::K3S2, DwEntry::Nhwc(nhwc_fast::<3, 2, 4>)),
            k(concat!("f32_dwconv_5x5s1_", $lanes, "c__", $suffix), DwShape::K5S1, DwEntry::Nhwc(nhwc_fast::<5, 1, 4>)),
            k(concat!("f32_dwconv_5x5s2_", $lanes, "c__", $suffix), DwShape::K5S2, DwEntry::Nhwc(nhwc_fast::<5, 2, 2>)),
            k(concat!("f32_dwconv_generic_", $lanes, "c__", $suffix), DwShape::Generic, DwEntry::Nhwc(nhwc_generic)),
            k(concat!("f32_dwconv2d_chw_3x3s1__", $suffix), DwShape::K3S1, DwEntry::Nchw(nchw_fast::<3, 1, 4>)),
            k(concat!("f32_dwconv2d_chw_3x3s2__", $suffix), DwShape::K3S2, DwEntry::Nchw(nchw_fast::<3, 2, 4>)),
            k(concat!("f32_dwconv2d_chw_5x5s1__", $suffix), DwShape::K5S1, DwEntry::Nchw(nchw_fast::<5, 1, 4>)),
            k(concat!("f32_dwconv2d_chw_5x5s2__", $suffix), DwShape::K5S2, DwEntry::Nchw(nchw_fast::<5, 2, 2>)),
            k(concat!("f32_dwconv2d_chw_generic__", $suffix), DwShape::Generic, DwEntry::Nchw(nchw_generic)),
        ];
    };
}
pub(crate) use dw_entry_points;
