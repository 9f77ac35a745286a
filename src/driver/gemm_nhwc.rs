//! NHWC driver: `Y[pixels, c_out] = X[pixels, K] * W[K, c_out]` per group, weights from packed NR-wide panels,
//! X rows read in place through indirection pointers: one per output pixel (1x1), one per kernel row (the `kw`
//! input pixels a kernel row covers are `kw * c_in` contiguous floats) or one per tap; padding through a zero row,
//! kernel rows cut by the left/right border gathered into per-thread scratch.

use super::{
    AlignedBuf, SendPtr, call_gemm, choose_blocks, even_tiles, panel_strips, prefetch_input, run_task_runs, run_tasks,
    tile_runs, with_grown, with_scratch,
};
use crate::error::Result;
use crate::pack::pack_panels;
use crate::params::{Conv2dParams, Shape};
use crate::ukernel::gemm::{GemmFn, GemmKernel, GemmRunFn, GemmTile, Prefetch};

/// Plan state of the NHWC GEMM path.
#[derive(Debug)]
pub(crate) struct NhwcGemm {
    kernel: GemmKernel,
    packed: AlignedBuf,
    panel_stride: usize,
    group_stride: usize,
    rows: RowMode,
    /// 1x1, stride 1, no padding: output pixel `m` reads input pixel `m`.
    contiguous: bool,
    zero_row: Vec<f32>,
    /// Segments per A row and floats per segment (the reduction is `segs * seg_len`).
    segs: usize,
    seg_len: usize,
    /// Offset of each segment from the first input float of an output pixel's receptive field (its top-left
    /// tap, group 0), for pixels whose receptive field lies inside the input.
    seg_offsets: Vec<usize>,
    /// Output rows `oy` and columns `ox` whose receptive field lies inside the input (no padding taps).
    inner_y: core::ops::Range<usize>,
    inner_x: core::ops::Range<usize>,
    /// A rows at a fixed spacing (`stride_w * c_in` floats: a 3-channel stem's kernel rows, or a contiguous 1x1
    /// layer's pixels): the kernel's full-tile entry that takes one pointer per segment, used for micro-tiles of
    /// `mr` pixels inside the input on one output row (any `mr` consecutive pixels when contiguous).
    strided: Option<GemmFn>,
    /// The run entry of `strided` (contiguous 1x1 layers through the any-spacing entry), if this layer uses it.
    run: Option<GemmRunFn>,
}

/// How the A row of an output pixel is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowMode {
    /// 1x1 kernel: one segment, the input pixel's `cin_g` channels (or the zero row for padding).
    Pixel,
    /// Groups 1, dilation width 1: one segment per kernel row, `kw * c_in` contiguous floats.
    KernelRow,
    /// One segment per tap, `cin_g` floats (dilated or grouped kernels).
    Tap,
    /// Tiny segments: the whole receptive field gathered into one contiguous im2col row.
    Gather,
}

/// From this many channels per group on, a tap alone is a long segment: one pointer per tap, so border pixels
/// point at the zero row instead of gathering their cut kernel rows.
const LONG_TAP: usize = 64;

/// Segments shorter than this are gathered into one im2col row: a short k loop per pointer load costs more
/// than the copy.
const MIN_SEGMENT: usize = 8;

impl NhwcGemm {
    pub fn new(p: &Conv2dParams, s: &Shape, kernel: GemmKernel, weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        let (packed, panel_stride, group_stride) = pack_panels(p, weights, bias, kernel.nr(), true)?;
        let (kh, kw) = (p.kernel_height, p.kernel_width);
        let rows = if kh == 1 && kw == 1 {
            RowMode::Pixel
        } else if p.groups == 1 && p.dilation_width == 1 && kw * s.cin_g >= MIN_SEGMENT && s.cin_g < LONG_TAP {
            RowMode::KernelRow
        } else if s.cin_g >= MIN_SEGMENT {
            RowMode::Tap
        } else {
            RowMode::Gather
        };
        let (segs, seg_len) = match rows {
            RowMode::Pixel => (1, s.cin_g),
            RowMode::KernelRow => (kh, kw * s.cin_g),
            RowMode::Tap => (kh * kw, s.cin_g),
            RowMode::Gather => (1, kh * kw * s.cin_g),
        };
        let contiguous = rows == RowMode::Pixel
            && s.out_height == p.in_height
            && s.out_width == p.in_width
            && p.stride_height == 1
            && p.stride_width == 1;
        let mut zero_row = Vec::new();
        let zero_len = if rows == RowMode::Gather { 0 } else { seg_len };
        zero_row.try_reserve_exact(zero_len)?;
        zero_row.resize(zero_len, 0.0);
        let mut seg_offsets = Vec::new();
        seg_offsets.try_reserve_exact(segs)?;
        let (tap_y, tap_x) = (p.dilation_height * p.in_width * p.c_in, p.dilation_width * p.c_in);
        match rows {
            RowMode::Pixel | RowMode::Gather => seg_offsets.push(0),
            RowMode::KernelRow => seg_offsets.extend((0..kh).map(|ky| ky * tap_y)),
            RowMode::Tap => seg_offsets.extend((0..kh * kw).map(|t| (t / kw) * tap_y + (t % kw) * tap_x)),
        }
        let inner = |out: usize, input: usize, k: usize, stride: usize, dil: usize, pad: usize| {
            // Smallest `o` with `o * stride >= pad`, and one past the largest with
            // `o * stride - pad + (k - 1) * dil < input`.
            let lo = pad.div_ceil(stride);
            let span = (k - 1) * dil;
            let hi = if input + pad > span { ((input + pad - span - 1) / stride + 1).min(out) } else { 0 };
            lo.min(hi)..hi
        };
        let inner_y = inner(s.out_height, p.in_height, kh, p.stride_height, p.dilation_height, p.pad_top);
        let inner_x = inner(s.out_width, p.in_width, kw, p.stride_width, p.dilation_width, p.pad_left);
        // Rows a fixed distance apart: the stems' kernel rows (fixed-spacing entries) and 1x1 layers read in place
        // (any spacing).
        // Contiguous 1x1 layers through the any-spacing entry also run a task's full tiles in one call (`run`).
        let (strided, run) = match rows {
            RowMode::KernelRow => (kernel.strided(p.stride_width * p.c_in), None),
            RowMode::Pixel if contiguous => match kernel.strided(p.c_in) {
                Some(entry) => (Some(entry), None),
                None => (Some(kernel.strided_any), Some(kernel.strided_any_run)),
            },
            _ => (None, None),
        };
        Ok(NhwcGemm {
            strided,
            run,
            kernel,
            packed,
            panel_stride,
            group_stride,
            rows,
            contiguous,
            zero_row,
            segs,
            seg_len,
            seg_offsets,
            inner_y,
            inner_x,
        })
    }

    /// The algorithm name reported by the plan.
    pub fn algorithm(&self) -> &'static str {
        match self.rows {
            RowMode::Pixel => "pointwise-nhwc",
            RowMode::Gather => "im2col-gemm-nhwc",
            RowMode::KernelRow | RowMode::Tap => "indirect-gemm-nhwc",
        }
    }

    /// # Safety
    /// `x` holds `s.input_len` floats, `y` (and `res` unless null) `s.output_len`; `x` does not overlap `y`;
    /// `res` is either `y` itself or disjoint from it.
    pub unsafe fn run(
        &self,
        p: &Conv2dParams,
        s: &Shape,
        x: *const f32,
        res: *const f32,
        y: *mut f32,
        threads: usize,
    ) -> Result<()> {
        let kern = &self.kernel;
        let (mr_full, nr_full) = (kern.mr, kern.nr());
        let m_total = p.batch * s.out_height * s.out_width;
        let k = self.segs * self.seg_len;
        let blocks = choose_blocks(m_total, s.cout_g, k, mr_full, nr_full, p.groups, threads);
        let (mb, nb) = (blocks.m, blocks.n);
        let (xp, yp, rp) = (SendPtr(x as *mut f32), SendPtr(y), SendPtr(res as *mut f32));
        // The run entries' tiles of an ungrouped layer (rows `c_in` floats apart, contiguous) may prefetch the next
        // tile's rows.
        let prefetch = if p.groups == 1 && prefetch_input(s, threads) { Prefetch::NextTile } else { Prefetch::None };
        let scratch_len = match self.rows {
            RowMode::Pixel | RowMode::Tap => 0,
            RowMode::KernelRow | RowMode::Gather => mr_full * k,
        };
        let task = |t: usize| {
            let (g, mi, ni) = blocks.task(t);
            with_scratch(scratch_len, |scratch| {
                with_pointers(mr_full * self.segs, |rows| {
                    let (mrange, nrange) = (mb.range(mi), nb.range(ni));
                    let xg = xp.get() as *const f32;
                    let (n0, ncols) = (nrange.start, nrange.len());
                    let panel =
                        self.packed.as_slice()[g * self.group_stride + (n0 / nr_full) * self.panel_stride..].as_ptr();
                    // The leading full tiles of a contiguous layer, then the tiles one row short of full: one
                    // call each through the run entries.
                    let run = self.run.filter(|_| kern.whole_panels(ncols));
                    let (full, short) = run.map_or((0, 0), |_| tile_runs(mrange.len(), mr_full));
                    let short_start = mrange.start + full * mr_full;
                    // Column strips of one panel each (every tile of the run on a panel, then the next panel) where
                    // the panels of the task outgrow L1 (see `panel_strips`); else every panel per tile.
                    let strip = if panel_strips(kern, k, ncols) { nr_full } else { ncols.max(1) };
                    let runs = [
                        (run, mr_full, mrange.start, full),
                        (run.map(|_| kern.strided_any_short_run), mr_full - 1, short_start, short),
                    ];
                    for (entry, mr, m0, count) in runs {
                        let Some(entry) = entry.filter(|_| count > 0) else { continue };
                        for q0 in (0..ncols).step_by(strip) {
                            // SAFETY: rows m0.. of `count` tiles of `mr` rows (the entry's) are this task's,
                            // contiguous; columns n0 + q0 .. n0 + q0 + width are whole panels of the task's, from
                            // panel q0 / nr_full.
                            unsafe {
                                let width = strip.min(ncols - q0);
                                let pan = panel.add((q0 / nr_full) * self.panel_stride);
                                let n = n0 + q0;
                                self.run_tiles(entry, mr, p, s, xg, g, m0, count, width, pan, yp, rp, n, prefetch, rows)
                            };
                        }
                    }
                    let mut pix = Pixel::of(short_start + short * (mr_full - 1), s);
                    for (m0, mr) in even_tiles(mrange, mr_full).skip(full + short) {
                        // SAFETY: `x` holds the whole input, `y` (and `res`) the whole output (caller
                        // contract); this micro-tile's outputs are written by this call only.
                        if unsafe { self.strided_tile(p, s, xg, g, pix, mr, ncols, panel, yp, rp, n0, m0, rows) } {
                            // A contiguous tile may span output rows: its successor's position is found when a
                            // pointer path needs it (below), not after every tile.
                            if !self.contiguous {
                                pix.ox += mr;
                                if pix.ox == s.out_width {
                                    pix.advance_row(s);
                                }
                            }
                            continue;
                        }
                        if self.contiguous {
                            pix = Pixel::of(m0, s);
                        }
                        // SAFETY (the pointer fills below): `x` holds the whole input (caller contract).
                        if unsafe { self.inner_tile_pointers(p, s, xg, g, pix, mr, rows) } {
                            pix.ox += mr;
                            if pix.ox == s.out_width {
                                pix.advance_row(s);
                            }
                        } else {
                            for i in 0..mr {
                                if !unsafe { self.inner_pixel_pointers(p, s, xg, g, pix, i, mr, rows) } {
                                    unsafe { self.row_pointers(p, s, xg, g, m0 + i, pix, i, mr, rows, scratch) };
                                }
                                pix.advance(s);
                            }
                        }
                        let off = m0 * p.c_out + g * s.cout_g + n0;
                        // SAFETY: the panels of columns n0..n0+ncols hold bias + k rows of nr_full floats each, a
                        // panel_stride apart; each of the segs x mr pointers addresses seg_len readable floats;
                        // output/residual offsets address rows m0..m0+mr, columns n0..n0+ncols of this group,
                        // inside the output, written by this tile only.
                        unsafe {
                            call_gemm(kern, self.tile(p, &rows[..mr * self.segs], mr, ncols, panel, yp, rp, off));
                        }
                    }
                    Ok(())
                })
            })
        };
        // 1x1 layers hand each thread a contiguous run of tasks: pixel blocks (its outputs one region written front
        // to back), or column blocks where the weights outweigh the activations (`choose_blocks`). Two threads
        // against one shared counter on an Intel Xeon: 112x112 16->96 1.09-1.12x, 112x112 32->16 1.03-1.11x, 7x7
        // 960->160 1.11-1.13x, 1.00-1.02x on 56x56 64->64, 28x28 128->512, 14x14 1024->256; on Zen 4 at an earlier
        // stop 14x14 1024->256 0.97x, 112x112 32->16 0.92-1.01x. Other layers (3x3: 0.95-1.04x) keep the counter.
        let n = p.groups * blocks.per_outer();
        if self.rows == RowMode::Pixel { run_task_runs(n, threads, task) } else { run_tasks(n, threads, task) }
    }

    /// Runs a full micro-tile of `mr` pixels from `pix` (output rows `m0..m0 + mr`, columns `n0..n0 + ncols` of
    /// group `g`) through the strided entry point when there is one and the layer is contiguous, or every pixel is
    /// on one output row with its receptive field inside the input; returns false (having done nothing) otherwise.
    ///
    /// # Safety
    /// `x` holds the whole NHWC input described by `p`, `y` (and `res` unless null) the whole output; `panel`
    /// is the packed panel of columns `n0..`; this tile's outputs are written by this call only.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    unsafe fn strided_tile(
        &self,
        p: &Conv2dParams,
        s: &Shape,
        x: *const f32,
        g: usize,
        pix: Pixel,
        mr: usize,
        ncols: usize,
        panel: *const f32,
        y: SendPtr<f32>,
        res: SendPtr<f32>,
        n0: usize,
        m0: usize,
        segs: &mut [*const f32],
    ) -> bool {
        let kern = &self.kernel;
        let Some(entry) = self.strided else { return false };
        if mr != kern.mr || !kern.whole_panels(ncols) {
            return false;
        }
        // Contiguous: output pixel m reads input pixel m, on whatever output row.
        let base = if self.contiguous { Some(m0 * p.c_in + g * s.cin_g) } else { self.inner_base(p, s, g, pix, mr) };
        let Some(base) = base else { return false };
        for (sp, &off) in segs.iter_mut().zip(&self.seg_offsets) {
            // SAFETY: pixels ox..ox + mr have receptive fields inside the input (inner ranges), or are input
            // pixels m0..m0 + mr themselves (contiguous): segment `seg` of pixel ox + i starts
            // `i * stride_w * c_in` floats after this one, with `seg_len` floats in its row.
            *sp = unsafe { x.add(base + off) };
        }
        let off = m0 * p.c_out + g * s.cout_g + n0;
        // SAFETY: as for the pointer-table call in `run`: the panels hold bias + k rows of nr_full floats, the
        // segment pointers follow the strided contract (rows `stride_w * c_in` floats apart, the entry's spacing),
        // the last panel is wider than `(nv - 1) * lanes` (checked above), output/residual rows m0..m0 + mr and
        // columns n0..n0 + ncols are inside the output and this tile's own.
        unsafe { entry(&self.tile(p, &segs[..self.segs], mr, ncols, panel, y, res, off)) };
        true
    }

    /// Runs `count` consecutive micro-tiles of `mr` rows of a contiguous 1x1 layer from output row `m0` (columns
    /// `n0..n0 + ncols` of group `g`, a whole number of panels) through the run entry `run` for that `mr`, in one
    /// call, each tile with the given `prefetch`.
    ///
    /// # Safety
    /// `x` holds the whole NHWC input described by `p`, `y` (and `res` unless null) the whole output; `panel` is the
    /// packed panel of columns `n0..`; rows `m0..m0 + count * mr` are this call's own; `run` is the kernel's run
    /// entry for tiles of `mr` rows.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run_tiles(
        &self,
        run: GemmRunFn,
        mr: usize,
        p: &Conv2dParams,
        s: &Shape,
        x: *const f32,
        g: usize,
        m0: usize,
        count: usize,
        ncols: usize,
        panel: *const f32,
        y: SendPtr<f32>,
        res: SendPtr<f32>,
        n0: usize,
        prefetch: Prefetch,
        segs: &mut [*const f32],
    ) {
        // SAFETY: contiguous: output pixel m reads input pixel m, so the tiles' rows are `c_in` floats apart from
        // input row m0 on, inside the input; their outputs (and residuals) are rows m0.. of the output, this
        // call's own; the last panel is wider than `(nv - 1) * lanes` (checked by the caller).
        unsafe {
            segs[0] = x.add(m0 * p.c_in + g * s.cin_g);
            let off = m0 * p.c_out + g * s.cout_g + n0;
            let tile = GemmTile { prefetch, ..self.tile(p, &segs[..1], mr, ncols, panel, y, res, off) };
            run(&tile, count);
        }
    }

    /// The micro-kernel call for output rows `m..m + mr`, columns `n0..n0 + ncols` (`off` = `m * c_out` + the
    /// group's and `n0`'s column), A rows (or segments) `a`, weights from the packed `panel` of column `n0`.
    ///
    /// # Safety
    /// `y` (and `res` unless null) hold the whole output; `off` addresses the tile's first output inside it.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn tile<'a>(
        &self,
        p: &Conv2dParams,
        a: &'a [*const f32],
        mr: usize,
        ncols: usize,
        panel: *const f32,
        y: SendPtr<f32>,
        res: SendPtr<f32>,
        off: usize,
    ) -> GemmTile<'a> {
        // SAFETY: `panel` holds the bias row then the k weight rows; `off` is inside the output (caller contract).
        unsafe {
            GemmTile {
                mr,
                nr: ncols,
                k: self.seg_len,
                segs: self.segs,
                a,
                csa: 1,
                rsa: p.stride_width * p.c_in,
                b: panel.add(self.kernel.nr()),
                ldb: self.kernel.nr(),
                b_stride: self.panel_stride,
                bias_col: panel,
                bias_row: core::ptr::null(),
                c: y.get().add(off),
                rsc: p.c_out,
                res: if res.get().is_null() { core::ptr::null() } else { res.get().add(off) },
                rsr: p.c_out,
                min: p.output_min,
                max: p.output_max,
                prefetch: Prefetch::None,
            }
        }
    }

    /// For `len` pixels from `pix` on one output row whose receptive fields all lie inside the input (and rows
    /// addressed by pointers, not gathered): the input offset of the first pixel's top-left tap in group `g`.
    #[inline]
    fn inner_base(&self, p: &Conv2dParams, s: &Shape, g: usize, pix: Pixel, len: usize) -> Option<usize> {
        let Pixel { n, oy, ox } = pix;
        if self.rows == RowMode::Gather
            || !self.inner_y.contains(&oy)
            || ox < self.inner_x.start
            || ox + len > self.inner_x.end
        {
            return None;
        }
        let (iy, ix) = (oy * p.stride_height - p.pad_top, ox * p.stride_width - p.pad_left);
        Some(((n * p.in_height + iy) * p.in_width + ix) * p.c_in + g * s.cin_g)
    }

    /// Fast path for a micro-tile of `mr` pixels from `pix` on one output row, all with receptive fields inside
    /// the input: fills every pointer by strides and returns true; otherwise leaves `rows` alone, returns false.
    ///
    /// # Safety
    /// `x` holds the whole NHWC input described by `p`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    unsafe fn inner_tile_pointers(
        &self,
        p: &Conv2dParams,
        s: &Shape,
        x: *const f32,
        g: usize,
        pix: Pixel,
        mr: usize,
        rows: &mut [*const f32],
    ) -> bool {
        let Some(base) = self.inner_base(p, s, g, pix, mr) else { return false };
        let step = p.stride_width * p.c_in;
        for (seg, &off) in self.seg_offsets.iter().enumerate() {
            for (i, r) in rows[seg * mr..(seg + 1) * mr].iter_mut().enumerate() {
                // SAFETY: pixel ox + i's receptive field lies inside the input (inner ranges), so segment `seg`
                // of it starts at an input pixel and its `seg_len` floats stay inside that pixel's input row.
                *r = unsafe { x.add(base + off + i * step) };
            }
        }
        true
    }

    /// Fast path for row `i` (of `mr`) of a micro-tile that straddles output rows or borders: when pixel `pix`'s
    /// receptive field lies inside the input, fills its `segs` pointers by strides and returns true; otherwise
    /// leaves `rows` alone and returns false.
    ///
    /// # Safety
    /// `x` holds the whole NHWC input described by `p`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    unsafe fn inner_pixel_pointers(
        &self,
        p: &Conv2dParams,
        s: &Shape,
        x: *const f32,
        g: usize,
        pix: Pixel,
        i: usize,
        mr: usize,
        rows: &mut [*const f32],
    ) -> bool {
        let Some(base) = self.inner_base(p, s, g, pix, 1) else { return false };
        for (seg, &off) in self.seg_offsets.iter().enumerate() {
            // SAFETY: the pixel's receptive field lies inside the input (inner ranges), so segment `seg` of it
            // starts at an input pixel and its `seg_len` floats stay inside that pixel's input row.
            rows[seg * mr + i] = unsafe { x.add(base + off) };
        }
        true
    }

    /// Fills the `segs` pointers of row `i` (of `mr`) of a micro-tile: `rows[seg * mr + i]`, for output pixel
    /// `m` at `pix`, group `g`; kernel rows cut by the left/right border are gathered into row `i` of `scratch`.
    ///
    /// # Safety
    /// `x` holds the whole NHWC input described by `p`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    unsafe fn row_pointers(
        &self,
        p: &Conv2dParams,
        s: &Shape,
        x: *const f32,
        g: usize,
        m: usize,
        pix: Pixel,
        i: usize,
        mr: usize,
        rows: &mut [*const f32],
        scratch: &mut [f32],
    ) {
        let k = self.segs * self.seg_len;
        match self.rows {
            RowMode::Pixel if self.contiguous => {
                // SAFETY: contiguous layout: output pixel m reads input pixel m, inside the input.
                rows[i] = unsafe { x.add(m * p.c_in + g * s.cin_g) };
            }
            RowMode::Gather => {
                let dst = &mut scratch[i * k..(i + 1) * k];
                // SAFETY: forwarded contract.
                unsafe { im2col_row(p, s, x, g, pix, dst) };
                rows[i] = dst.as_ptr();
            }
            RowMode::KernelRow => {
                let Pixel { n, oy, ox } = pix;
                let ix0 = (ox * p.stride_width) as isize - p.pad_left as isize;
                let inside_x = ix0 >= 0 && ix0 as usize + p.kernel_width <= p.in_width;
                for ky in 0..p.kernel_height {
                    let iy = (oy * p.stride_height + ky * p.dilation_height) as isize - p.pad_top as isize;
                    rows[ky * mr + i] = if iy < 0 || iy >= p.in_height as isize {
                        self.zero_row.as_ptr()
                    } else {
                        let line = (n * p.in_height + iy as usize) * p.in_width;
                        if inside_x {
                            // SAFETY: pixels ix0..ix0+kw of input row iy exist: kw * c_in floats from here.
                            unsafe { x.add((line + ix0 as usize) * p.c_in) }
                        } else {
                            let dst = &mut scratch[i * k + ky * self.seg_len..][..self.seg_len];
                            for (kx, d) in dst.chunks_exact_mut(p.c_in).enumerate() {
                                let ix = ix0 + kx as isize;
                                if ix < 0 || ix >= p.in_width as isize {
                                    d.fill(0.0);
                                } else {
                                    // SAFETY: pixel (n, iy, ix) is inside the input.
                                    let src = unsafe { x.add((line + ix as usize) * p.c_in) };
                                    // SAFETY: c_in floats from a pixel inside the input.
                                    d.copy_from_slice(unsafe { core::slice::from_raw_parts(src, p.c_in) });
                                }
                            }
                            dst.as_ptr()
                        }
                    };
                }
            }
            // A 1x1 kernel is one tap.
            RowMode::Pixel | RowMode::Tap => {
                let Pixel { n, oy, ox } = pix;
                for ky in 0..p.kernel_height {
                    let iy = (oy * p.stride_height + ky * p.dilation_height) as isize - p.pad_top as isize;
                    for kx in 0..p.kernel_width {
                        let ix = (ox * p.stride_width + kx * p.dilation_width) as isize - p.pad_left as isize;
                        let tap = ky * p.kernel_width + kx;
                        rows[tap * mr + i] =
                            if iy < 0 || ix < 0 || iy >= p.in_height as isize || ix >= p.in_width as isize {
                                self.zero_row.as_ptr()
                            } else {
                                let off =
                                    ((n * p.in_height + iy as usize) * p.in_width + ix as usize) * p.c_in + g * s.cin_g;
                                // SAFETY: the pixel is inside the input: cin_g floats from `off`.
                                unsafe { x.add(off) }
                            };
                    }
                }
            }
        }
    }
}

/// Runs `f` with this thread's pointer scratch of `len` entries (kept between calls, like
/// [`with_scratch`]'s floats).
fn with_pointers<R>(len: usize, f: impl FnOnce(&mut [*const f32]) -> Result<R>) -> Result<R> {
    use std::cell::RefCell;
    thread_local! {
        static PTRS: RefCell<Vec<*const f32>> = const { RefCell::new(Vec::new()) };
    }
    PTRS.with(|cell| with_grown(cell, len, core::ptr::null(), f))
}

/// Gathers output pixel `m`'s receptive field for group `g` into `dst` in `(ky, kx, ci)` order, zeros for padding.
///
/// # Safety
/// `x` holds the whole NHWC input described by `p`.
unsafe fn im2col_row(p: &Conv2dParams, s: &Shape, x: *const f32, g: usize, pix: Pixel, dst: &mut [f32]) {
    let Pixel { n, oy, ox } = pix;
    let cin_g = s.cin_g;
    for ky in 0..p.kernel_height {
        let iy = (oy * p.stride_height + ky * p.dilation_height) as isize - p.pad_top as isize;
        for kx in 0..p.kernel_width {
            let ix = (ox * p.stride_width + kx * p.dilation_width) as isize - p.pad_left as isize;
            let d = &mut dst[(ky * p.kernel_width + kx) * cin_g..][..cin_g];
            if iy < 0 || ix < 0 || iy >= p.in_height as isize || ix >= p.in_width as isize {
                d.fill(0.0);
            } else {
                let off = ((n * p.in_height + iy as usize) * p.in_width + ix as usize) * p.c_in + g * cin_g;
                // SAFETY: the pixel is inside the input, so `off + cin_g <= input_len`.
                d.copy_from_slice(unsafe { core::slice::from_raw_parts(x.add(off), cin_g) });
            }
        }
    }
}

/// Output pixel coordinates, stepped incrementally so the row loops need no divisions.
#[derive(Clone, Copy, Debug)]
struct Pixel {
    n: usize,
    oy: usize,
    ox: usize,
}

impl Pixel {
    fn of(m: usize, s: &Shape) -> Pixel {
        let hw = s.out_height * s.out_width;
        Pixel { n: m / hw, oy: (m % hw) / s.out_width, ox: m % s.out_width }
    }
    #[inline]
    fn advance(&mut self, s: &Shape) {
        self.ox += 1;
        if self.ox == s.out_width {
            self.advance_row(s);
        }
    }
    /// Moves to the first pixel of the next output row.
    #[inline]
    fn advance_row(&mut self, s: &Shape) {
        self.ox = 0;
        self.oy += 1;
        if self.oy == s.out_height {
            self.oy = 0;
            self.n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::ukernel::gemm::REGISTRY;

    /// Column strips (`panel_strips`) through every wide-panel kernel this CPU runs (the 16-lane stand-ins' 8 x 32
    /// tile on every host, which the plans of short reductions give the tall tile instead): full tiles and tiles
    /// one row short, a last panel of 24 columns, bias and clamp, one and two threads, against the reference.
    #[test]
    fn panel_strips_match_the_reference() {
        let mut ran = 0;
        for kern in REGISTRY.iter().filter(|k| k.nr() >= 32 && k.isa.available()) {
            for (h, w, c_in, c_out) in [(7, 9, 64, 184), (5, 13, 200, 256)] {
                let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).clamp(-0.5, 0.75);
                let s = p.validate().unwrap();
                assert!(panel_strips(kern, c_in, c_out), "{}", kern.name);
                let wts: Vec<f32> = (0..s.weight_len).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.02).collect();
                let bias: Vec<f32> = (0..c_out).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect();
                let x: Vec<f32> = (0..s.input_len).map(|i| ((i * 3 % 17) as f32 - 8.0) * 0.1).collect();
                let g = NhwcGemm::new(&p, &s, *kern, &wts, Some(&bias)).unwrap();
                let want = reference::conv2d_f64(&p, &x, &wts, Some(&bias), None).unwrap();
                for threads in [1, 2] {
                    let mut y = vec![f32::NAN; s.output_len];
                    // SAFETY: `x` and `y` hold the layer's input and output; no residual.
                    unsafe { g.run(&p, &s, x.as_ptr(), core::ptr::null(), y.as_mut_ptr(), threads) }.unwrap();
                    reference::compare(&p, &y, &want)
                        .unwrap_or_else(|e| panic!("{} threads {threads}: {e}", kern.name));
                }
                ran += 1;
            }
        }
        assert!(ran > 0, "no wide-panel kernel ran");
    }
}
