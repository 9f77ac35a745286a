//! Depthwise driver (groups == c_in, c_out = multiplier x c_in): packs weights once per layout, walks output rows
//! x channel tiles (NHWC) or channel planes x row blocks (NCHW), and threads over them. No reduction is ever
//! split, and which code path computes an output depends on its position only, so results are bitwise identical
//! for any thread count.

use super::{AlignedBuf, Blocks, SendPtr, for_each_tile};
use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::params::{Conv2dParams, Layout, Shape};
use crate::ukernel::dwconv::{self, DwEntry, DwKernel, DwShape, NchwFn, NchwPlane, NhwcFn, NhwcRow, SplitRows};

/// Plan state of a depthwise convolution.
#[derive(Debug)]
pub(crate) enum Depthwise {
    Nhwc(DwNhwc),
    Nchw(DwNchw),
}

impl Depthwise {
    /// Whether the depthwise path serves these parameters (every group has one input channel).
    pub fn applies(p: &Conv2dParams) -> bool {
        p.groups == p.c_in
    }

    pub fn new(p: &Conv2dParams, s: &Shape, isa: Isa, weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        let shape = DwShape::of(
            p.kernel_height,
            p.kernel_width,
            p.stride_height,
            p.stride_width,
            p.dilation_height,
            p.dilation_width,
        );
        // The NCHW fast kernels let padding taps read zeros (0 * w == 0 needs a finite w); the general kernel skips
        // them exactly.
        let shape =
            if p.layout == Layout::Nchw && !weights.iter().all(|w| w.is_finite()) { DwShape::Generic } else { shape };
        let kernel = dwconv::find(isa, p.layout, shape)
            .ok_or_else(|| Error::Unsupported(format!("no depthwise kernel for ISA {isa}")))?;
        Ok(match kernel.entry {
            DwEntry::Nhwc(f) => Depthwise::Nhwc(DwNhwc::new(p, s, kernel, f, weights, bias)?),
            DwEntry::Nchw(f) => Depthwise::Nchw(DwNchw::new(p, s, kernel, f, weights, bias)?),
        })
    }

    /// The algorithm name for reports.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Depthwise::Nhwc(_) => "depthwise-nhwc",
            Depthwise::Nchw(_) => "depthwise-nchw",
        }
    }

    /// The micro-kernel's display name.
    pub fn kernel_name(&self) -> &'static str {
        match self {
            Depthwise::Nhwc(d) => d.kernel.name,
            Depthwise::Nchw(d) => d.kernel.name,
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
        // SAFETY: forwarded contract.
        unsafe {
            match self {
                Depthwise::Nhwc(d) => d.run(p, s, x, res, y, threads),
                Depthwise::Nchw(d) => d.run(p, s, x, res, y, threads),
            }
        }
    }
}

/// Splits `outer x inner` work items into task blocks: whole `inner` ranges unless `outer` alone cannot give
/// every thread several tasks.
fn task_blocks(outer: usize, inner: usize, threads: usize) -> (Blocks, Blocks) {
    let want = if threads > 1 { 6 * threads } else { 1 };
    let ob = outer.min(want).max(1);
    let ib = if outer >= want { 1 } else { want.div_ceil(outer.max(1)).min(inner).max(1) };
    (
        Blocks { total: outer, block: outer.div_ceil(ob).max(1) },
        Blocks { total: inner, block: inner.div_ceil(ib).max(1) },
    )
}

/// The output range `[lo, hi)` whose taps all fall inside `0..n_in` (a border output lies outside it).
fn interior(n_out: usize, n_in: usize, k: usize, stride: usize, dil: usize, pad: usize) -> (usize, usize) {
    let lo = pad.div_ceil(stride).min(n_out);
    let span = (k - 1) * dil;
    let hi = if n_in + pad > span { ((n_in - 1 + pad - span) / stride + 1).min(n_out) } else { 0 };
    (lo, hi.max(lo))
}

/// NHWC plan state: weights packed per channel tile as `[bias lanes][kh * kw taps][lanes]`, zero-padded.
#[derive(Debug)]
pub(crate) struct DwNhwc {
    kernel: &'static DwKernel,
    f: NhwcFn,
    packed: AlignedBuf,
    tile_stride: usize,
    /// `kw * lanes` zero weights for padded kernel rows.
    zero_w: AlignedBuf,
    /// A zero input row for padded kernel rows.
    zero_x: AlignedBuf,
    ox_lo: usize,
    ox_hi: usize,
}

impl DwNhwc {
    fn new(
        p: &Conv2dParams,
        s: &Shape,
        kernel: &'static DwKernel,
        f: NhwcFn,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Self> {
        let l = kernel.lanes;
        let taps = p.kernel_height * p.kernel_width;
        let tiles = p.c_out.div_ceil(l);
        let tile_stride = (1 + taps) * l;
        let mut packed = AlignedBuf::zeroed(tiles.checked_mul(tile_stride).ok_or(Error::OutOfMemory)?)?;
        let buf = packed.as_mut_slice();
        for o in 0..p.c_out {
            let (t, lane) = (o / l, o % l);
            let dst = &mut buf[t * tile_stride..(t + 1) * tile_stride];
            dst[lane] = bias.map_or(0.0, |b| b[o]);
            for ky in 0..p.kernel_height {
                for kx in 0..p.kernel_width {
                    dst[(1 + ky * p.kernel_width + kx) * l + lane] = weights[p.weight_index(o, 0, ky, kx)];
                }
            }
        }
        let x_stride = if s.cout_g == 1 { p.c_in } else { l };
        let zero_len =
            (p.in_width - 1).checked_mul(x_stride).and_then(|v| v.checked_add(l)).ok_or(Error::OutOfMemory)?;
        let (ox_lo, ox_hi) =
            interior(s.out_width, p.in_width, p.kernel_width, p.stride_width, p.dilation_width, p.pad_left);
        Ok(DwNhwc {
            kernel,
            f,
            packed,
            tile_stride,
            zero_w: AlignedBuf::zeroed(p.kernel_width * l)?,
            zero_x: AlignedBuf::zeroed(zero_len)?,
            ox_lo,
            ox_hi,
        })
    }

    /// # Safety
    /// As [`Depthwise::run`].
    unsafe fn run(
        &self,
        p: &Conv2dParams,
        s: &Shape,
        x: *const f32,
        res: *const f32,
        y: *mut f32,
        threads: usize,
    ) -> Result<()> {
        let l = self.kernel.lanes;
        let (kh, kw) = (p.kernel_height, p.kernel_width);
        let mult = s.cout_g;
        let tiles = p.c_out.div_ceil(l);
        let (oh, ow) = (s.out_height, s.out_width);
        let (rb, tb) = task_blocks(p.batch * oh, tiles, threads);
        let tcount = tb.count();
        let (xp, yp, rp) = (SendPtr(x as *mut f32), SendPtr(y), SendPtr(res as *mut f32));
        for_each_tile(rb.count() * tcount, threads, |t| {
            let mut rows = vec![core::ptr::null::<f32>(); kh];
            let mut wrows = vec![core::ptr::null::<f32>(); kh];
            // Channel multiplier > 1: lanes read input channel (o0 + lane) / mult, gathered into our own rows.
            let mut expanded = if mult > 1 { Some(AlignedBuf::zeroed(kh * p.in_width * l)?) } else { None };
            for row in rb.range(t / tcount) {
                let (n, oy) = (row / oh, row % oh);
                for tile in tb.range(t % tcount) {
                    let o0 = tile * l;
                    let nc = l.min(p.c_out - o0);
                    let wt = self.packed.as_slice()[tile * self.tile_stride..].as_ptr();
                    for ky in 0..kh {
                        let iy = (oy * p.stride_height + ky * p.dilation_height) as isize - p.pad_top as isize;
                        if iy < 0 || iy >= p.in_height as isize {
                            rows[ky] = self.zero_x.as_slice().as_ptr();
                            wrows[ky] = self.zero_w.as_slice().as_ptr();
                            continue;
                        }
                        let base = (n * p.in_height + iy as usize) * p.in_width * p.c_in;
                        // SAFETY: the weight tile holds bias + kh * kw taps of `l` floats.
                        wrows[ky] = unsafe { wt.add((1 + ky * kw) * l) };
                        rows[ky] = match expanded.as_mut() {
                            // SAFETY: channel o0 of pixel 0 of row iy of image n is inside the input.
                            None => unsafe { xp.get().add(base + o0) },
                            Some(buf) => {
                                let dst = &mut buf.as_mut_slice()[ky * p.in_width * l..(ky + 1) * p.in_width * l];
                                for ix in 0..p.in_width {
                                    for lane in 0..nc {
                                        // SAFETY: input channel (o0 + lane) / mult < c_in of a pixel inside the input.
                                        dst[ix * l + lane] =
                                            unsafe { *xp.get().add(base + ix * p.c_in + (o0 + lane) / mult) };
                                    }
                                }
                                dst.as_ptr()
                            }
                        };
                    }
                    let off = (n * oh + oy) * ow * p.c_out + o0;
                    let a = NhwcRow {
                        rows: &rows,
                        wrows: &wrows,
                        bias: wt,
                        x_stride: if mult == 1 { p.c_in } else { l },
                        in_w: p.in_width,
                        kw,
                        stride: p.stride_width,
                        dilation: p.dilation_width,
                        pad_left: p.pad_left,
                        ow,
                        ox_lo: self.ox_lo,
                        ox_hi: self.ox_hi,
                        // SAFETY: pixel 0 of output row (n, oy), channel o0, is inside the output.
                        y: unsafe { yp.get().add(off) },
                        res: if rp.get().is_null() { core::ptr::null() } else { unsafe { rp.get().add(off) } },
                        y_stride: p.c_out,
                        nc,
                        min: p.output_min,
                        max: p.output_max,
                    };
                    // SAFETY: rows hold `in_w` pixels of `x_stride` floats with `nc` channels readable (input rows,
                    // our expanded rows or the zero row), weight rows `kw * l` floats, the bias `l`; this task alone
                    // writes outputs (n, oy, 0..ow, o0..o0 + nc).
                    unsafe { (self.f)(&a) };
                }
            }
            Ok(())
        })
    }
}

/// Output rows per NCHW block when input rows are phase-split (the split rows stay in L1).
const NCHW_SPLIT_ROWS: usize = 8;

/// NCHW plan state: `kh * kw` weights per output channel and the bias.
#[derive(Debug)]
pub(crate) struct DwNchw {
    kernel: &'static DwKernel,
    f: NchwFn,
    w: Vec<f32>,
    bias: Vec<f32>,
    /// Zeros for padded input rows: `stride_w * x_phase` floats.
    zero: AlignedBuf,
    /// Elements per phase of a split row.
    x_phase: usize,
}

impl DwNchw {
    fn new(
        p: &Conv2dParams,
        _s: &Shape,
        kernel: &'static DwKernel,
        f: NchwFn,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Self> {
        let taps = p.kernel_height * p.kernel_width;
        let mut w = Vec::new();
        w.try_reserve_exact(p.c_out * taps)?;
        for o in 0..p.c_out {
            for ky in 0..p.kernel_height {
                for kx in 0..p.kernel_width {
                    w.push(weights[p.weight_index(o, 0, ky, kx)]);
                }
            }
        }
        let mut b = Vec::new();
        b.try_reserve_exact(p.c_out)?;
        b.extend((0..p.c_out).map(|o| bias.map_or(0.0, |b| b[o])));
        let x_phase = p.in_width.div_ceil(p.stride_width);
        Ok(DwNchw { kernel, f, w, bias: b, zero: AlignedBuf::zeroed(p.stride_width * x_phase)?, x_phase })
    }

    /// # Safety
    /// As [`Depthwise::run`].
    unsafe fn run(
        &self,
        p: &Conv2dParams,
        s: &Shape,
        x: *const f32,
        res: *const f32,
        y: *mut f32,
        threads: usize,
    ) -> Result<()> {
        let (oh, ow) = (s.out_height, s.out_width);
        let (ih, iw) = (p.in_height, p.in_width);
        let taps = p.kernel_height * p.kernel_width;
        let split = p.stride_width > 1;
        let planes = p.batch * p.c_out;
        let (pb, rb) = task_blocks(planes, oh, threads);
        let rcount = rb.count();
        let (xp, yp, rp) = (SendPtr(x as *mut f32), SendPtr(y), SendPtr(res as *mut f32));
        // Input rows a block of `rows` output rows reads at most.
        let rows_in = |rows: usize| (rows - 1) * p.stride_height + (p.kernel_height - 1) * p.dilation_height + 1;
        for_each_tile(pb.count() * rcount, threads, |t| {
            let rows = rb.range(t % rcount);
            let chunk = if split { NCHW_SPLIT_ROWS } else { rows.len() };
            let row_len = p.stride_width * self.x_phase;
            let mut scratch =
                if split { Some(AlignedBuf::zeroed(rows_in(chunk.min(rows.len())).min(ih) * row_len)?) } else { None };
            for plane in pb.range(t / rcount) {
                let (n, o) = (plane / p.c_out, plane % p.c_out);
                let xc = (n * p.c_in + o / s.cout_g) * ih * iw;
                let yc = plane * oh * ow;
                let mut oy0 = rows.start;
                while oy0 < rows.end {
                    let oy1 = (oy0 + chunk).min(rows.end);
                    // Input rows present for this block, clipped to the image.
                    let first = (oy0 * p.stride_height) as isize - p.pad_top as isize;
                    let iy0 = first.max(0) as usize;
                    let iy1 = ((first + rows_in(oy1 - oy0) as isize).max(0) as usize).min(ih).max(iy0);
                    let (xb, x_row) = match scratch.as_mut() {
                        None => (xp.get() as *const f32, iw),
                        Some(buf) => {
                            let a = SplitRows {
                                // SAFETY: row iy0 of input plane `xc` is inside the input (or iy0 == ih with
                                // no rows to split, then nothing is read).
                                src: unsafe { xp.get().add(xc + iy0.min(ih.saturating_sub(1)) * iw) },
                                rows: iy1 - iy0,
                                in_w: iw,
                                stride: p.stride_width,
                                dst: buf.as_mut_slice().as_mut_ptr(),
                                x_phase: self.x_phase,
                            };
                            // SAFETY: `iy1 - iy0` source rows exist; the scratch holds that many split rows.
                            unsafe { (self.kernel.split)(&a) };
                            (buf.as_slice().as_ptr(), row_len)
                        }
                    };
                    let a = NchwPlane {
                        // SAFETY: plane `xc` starts inside the input (direct rows), or the scratch holds row iy0.
                        x: if split { xb } else { unsafe { xb.add(xc) } },
                        iy0: if split { iy0 } else { 0 },
                        x_row,
                        x_phase: self.x_phase,
                        in_h: ih,
                        in_w: iw,
                        zero: self.zero.as_slice().as_ptr(),
                        w: self.w[o * taps..].as_ptr(),
                        bias: self.bias[o],
                        kh: p.kernel_height,
                        kw: p.kernel_width,
                        stride_h: p.stride_height,
                        stride_w: p.stride_width,
                        dil_h: p.dilation_height,
                        dil_w: p.dilation_width,
                        pad_top: p.pad_top,
                        pad_left: p.pad_left,
                        ow,
                        oy0,
                        oy1,
                        // SAFETY: output plane `plane` is inside the output.
                        y: unsafe { yp.get().add(yc) },
                        res: if rp.get().is_null() { core::ptr::null() } else { unsafe { rp.get().add(yc) } },
                        min: p.output_min,
                        max: p.output_max,
                    };
                    // SAFETY: every input row rows oy0..oy1 read is present (the whole plane, or rows iy0..iy1
                    // split into the scratch); this task alone writes rows oy0..oy1 of this plane.
                    unsafe { (self.f)(&a) };
                    oy0 = oy1;
                }
            }
            Ok(())
        })
    }
}
