//! Depthwise driver (groups == c_in, c_out = multiplier x c_in), and grouped convolutions of a few channels per
//! group in both layouts ([`Depthwise::applies_grouped`]): packs weights once per layout, walks output rows x
//! channel tiles (NHWC) or channel planes (groups of planes) x row blocks (NCHW), and threads over them. No reduction is ever
//! split, and which code path computes an output depends on its position only, so results are bitwise identical
//! for any thread count.

use super::{AlignedBuf, Blocks, SendPtr, run_task_runs, run_tasks};
use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::params::{Conv2dParams, Layout, Shape};
use crate::ukernel::dwconv::{self, DwEntry, DwKernel, DwShape, NchwFn, NchwPlane, NhwcFn, NhwcRow, PadRows};

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

    /// Whether a grouped kernel ([`DwShape::Grouped`]) serves these parameters for `isa`: groups of as many input
    /// as output channels, more than one and at most [`GROUPED_MAX_CHANNELS`]; in NHWC dividing the kernel's lanes
    /// (so that every vector holds whole groups), in NCHW 2, 4, 8 or 16. Such groups leave a GEMM per group with
    /// rows of a few floats and tiles mostly padding: ResNeXt-50's 3x3 layers (32 groups of 4 channels at 56x56, 8
    /// at 28x28) ran at 5.4 and 36 GFLOP/s NHWC, 19.5 and 30 NCHW, through it on an Intel Xeon (AVX-512, one
    /// thread).
    pub fn applies_grouped(p: &Conv2dParams, s: &Shape, isa: Isa) -> bool {
        let cg = s.cin_g;
        let Some(k) = dwconv::find(isa, p.layout, DwShape::Grouped) else { return false };
        let fits = match p.layout {
            Layout::Nhwc => cg <= k.lanes && k.lanes.is_multiple_of(cg),
            // Pixels in the lanes: any of the kernel's group sizes.
            Layout::Nchw => cg.is_power_of_two(),
        };
        p.groups > 1 && s.cout_g == cg && cg > 1 && cg <= GROUPED_MAX_CHANNELS && fits
    }

    /// The depthwise plan (or the grouped one where [`Depthwise::applies_grouped`]), or `None` where its NCHW row
    /// buffer would not fit [`NCHW_SCRATCH_MAX`] even for one output row (input rows a huge stride or dilation
    /// apart): the plan then takes the GEMM path.
    pub fn new(p: &Conv2dParams, s: &Shape, isa: Isa, weights: &[f32], bias: Option<&[f32]>) -> Result<Option<Self>> {
        let shape = if p.groups != p.c_in {
            DwShape::Grouped
        } else {
            DwShape::of(
                p.kernel_height,
                p.kernel_width,
                p.stride_height,
                p.stride_width,
                p.dilation_height,
                p.dilation_width,
            )
        };
        // The plan sends non-finite weights to the GEMM path (padding is an explicit zero input and `0 * NaN` is
        // NaN); the NCHW fast kernels multiply the zeros of their padded rows, the NHWC kernels skip padded taps, which
        // is the same for finite weights. Keep the general NCHW kernel for anything else that reaches here.
        let shape =
            if p.layout == Layout::Nchw && !weights.iter().all(|w| w.is_finite()) { DwShape::Generic } else { shape };
        let kernel = dwconv::select(isa, p.layout, shape, p.c_in)
            .ok_or_else(|| Error::Unsupported(format!("no depthwise kernel for ISA {isa}")))?;
        Ok(match kernel.entry {
            DwEntry::Nhwc(f) => Some(Depthwise::Nhwc(DwNhwc::new(p, s, kernel, f, weights, bias)?)),
            DwEntry::Nchw(f) => DwNchw::new(p, s, kernel, f, weights, bias)?.map(Depthwise::Nchw),
        })
    }

    /// The algorithm name for reports.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Depthwise::Nhwc(d) if d.kernel.shape == DwShape::Grouped => "grouped-nhwc",
            Depthwise::Nchw(d) if d.kernel.shape == DwShape::Grouped => "grouped-nchw",
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
/// every thread `per_thread` tasks.
fn task_blocks(outer: usize, inner: usize, threads: usize, per_thread: usize) -> (Blocks, Blocks) {
    let want = if threads > 1 { per_thread * threads } else { 1 };
    let ob = outer.min(want).max(1);
    let ib = if outer >= want { 1 } else { want.div_ceil(outer.max(1)).min(inner).max(1) };
    (Blocks::new(outer, outer.div_ceil(ob)), Blocks::new(inner, inner.div_ceil(ib)))
}

/// The output range `[lo, hi)` whose taps all fall inside `0..n_in` (a border output lies outside it).
fn interior(n_out: usize, n_in: usize, k: usize, stride: usize, dil: usize, pad: usize) -> (usize, usize) {
    let lo = pad.div_ceil(stride).min(n_out);
    let span = (k - 1) * dil;
    let hi = if n_in + pad > span { ((n_in - 1 + pad - span) / stride + 1).min(n_out) } else { 0 };
    (lo, hi.max(lo))
}

/// NHWC plan state: weights packed per channel tile as `[bias tw][kh * kw taps][tw]`, zero-padded
/// (`tw = nv * lanes`).
///
/// Input that is not vector-aligned (a caller's buffer 16 bytes past a cache line, as numpy and most `malloc`s give)
/// makes every vector load straddle two cache lines, which costs stride-2 layers a third of their speed. When every
/// pixel starts at the same offset within a vector (`c_in` a multiple of the lanes), such input runs with *shifted*
/// tiles: the tiles start `shift` channels into each pixel, at its first vector boundary, so that all their loads and
/// stores are aligned, and the pixel's last `lanes - shift` channels and first `shift` share its last vector (a
/// *wrap* vector, [`NhwcRow`]'s `wrap`: two masked loads and stores, each inside one line). Its weights are packed
/// in that rotated channel order on first use per shift.
#[derive(Debug)]
pub(crate) struct DwNhwc {
    kernel: &'static DwKernel,
    f: NhwcFn,
    packed: AlignedBuf,
    /// Weights packed for shifted tiles, by shift (`1..lanes`; empty when shifting does not apply).
    shifted: Vec<std::sync::OnceLock<AlignedBuf>>,
    tile_stride: usize,
    ox_lo: usize,
    ox_hi: usize,
}

/// Channels per pixel from which shifted tiles pay, by lanes: they cost a masked head vector more per pixel
/// against aligned loads for the others, and only every other 8-lane load of a misaligned row straddles a line.
/// Measured (input 16 bytes past a line): 16 lanes 0.88x at 64 channels, 0.98-1.09x at 96-128, 1.06-1.24x at
/// 144-960; 8 lanes 0.72x at 32, 0.95x at 96-128, 1.06-1.11x at 192-960. Not measured for 4 lanes: never.
fn shift_min_channels(lanes: usize) -> usize {
    match lanes {
        16 => 96,
        8 => 192,
        _ => usize::MAX,
    }
}

/// How the channels of an NHWC depthwise layer are cut into tiles of `l` channels: in order from channel `shift`,
/// channels `0..shift` last (rotated, see [`DwNhwc`]); the last tile may hold fewer.
#[derive(Clone, Copy, Debug)]
struct Tiling {
    l: usize,
    shift: usize,
    channels: usize,
}

impl Tiling {
    fn tiles(&self) -> usize {
        self.channels.div_ceil(self.l)
    }

    /// Where tile `t` starts in a pixel (`t <= tiles()`; `tiles()` gives `shift + channels`): a channel, or past
    /// the last one for the rotated channels `0..shift`.
    fn start(&self, t: usize) -> usize {
        self.shift + (t * self.l).min(self.channels)
    }

    /// Tile and lane of channel `o`.
    fn place(&self, o: usize) -> (usize, usize) {
        let k = (o + self.channels - self.shift) % self.channels;
        (k / self.l, k % self.l)
    }
}

/// Packs per tile `[bias l][taps][l]`, zero-padded, for `tiling`: `value(o, 0)` is channel `o`'s bias,
/// `value(o, 1 + tap)` its weights in `(ky, kx)` order.
fn pack_nhwc(tiling: Tiling, taps: usize, value: impl Fn(usize, usize) -> f32) -> Result<AlignedBuf> {
    let l = tiling.l;
    let tile_stride = (1 + taps) * l;
    let mut packed = AlignedBuf::zeroed(tiling.tiles().checked_mul(tile_stride).ok_or(Error::OutOfMemory)?)?;
    let buf = packed.as_mut_slice();
    for o in 0..tiling.channels {
        let (t, lane) = tiling.place(o);
        let dst = &mut buf[t * tile_stride..(t + 1) * tile_stride];
        for i in 0..=taps {
            dst[i * l + lane] = value(o, i);
        }
    }
    Ok(packed)
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
        let l = kernel.nv * kernel.lanes;
        // Depthwise: one input channel a group. Grouped: `cg` weights per tap, one per input channel of the group.
        let cg = if kernel.shape == DwShape::Grouped { s.cin_g } else { 1 };
        let (kw, taps) = (p.kernel_width, p.kernel_height * p.kernel_width);
        let tile_stride = (1 + taps * cg) * l;
        let packed = pack_nhwc(Tiling { l, shift: 0, channels: p.c_out }, taps * cg, |o, i| match i {
            0 => bias.map_or(0.0, |b| b[o]),
            _ => {
                let (tap, ci) = ((i - 1) / cg, (i - 1) % cg);
                weights[p.weight_index(o, ci, tap / kw, tap % kw)]
            }
        })?;
        let shifts = s.cout_g == 1
            && s.cin_g == 1
            && p.c_in.is_multiple_of(kernel.lanes)
            && p.c_in >= shift_min_channels(kernel.lanes);
        let shifted = if shifts { (0..kernel.lanes).map(|_| std::sync::OnceLock::new()).collect() } else { Vec::new() };
        let (ox_lo, ox_hi) =
            interior(s.out_width, p.in_width, p.kernel_width, p.stride_width, p.dilation_width, p.pad_left);
        Ok(DwNhwc { kernel, f, packed, shifted, tile_stride, ox_lo, ox_hi })
    }

    /// The weights packed for tiles shifted by `shift` channels (`0 < shift < lanes`), packed on first use.
    fn shifted_weights(&self, p: &Conv2dParams, shift: usize) -> Result<&AlignedBuf> {
        let cell = &self.shifted[shift];
        if let Some(b) = cell.get() {
            return Ok(b);
        }
        let l = self.kernel.nv * self.kernel.lanes;
        let from = Tiling { l, shift: 0, channels: p.c_out };
        let src = self.packed.as_slice();
        let ts = self.tile_stride;
        let buf = pack_nhwc(Tiling { l, shift, channels: p.c_out }, ts / l - 1, |o, i| {
            let (t, lane) = from.place(o);
            src[t * ts + i * l + lane]
        })?;
        // Another thread may have packed the same weights meanwhile; either copy serves.
        Ok(cell.get_or_init(|| buf))
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
        let (lanes, l) = (self.kernel.lanes, self.kernel.nv * self.kernel.lanes);
        let kh = p.kernel_height;
        // The channel multiplier (1 for grouped layers, whose output channels read input channels of their tile).
        let mult = s.cout_g / s.cin_g;
        // Any offset within a vector is shifted, half a vector included: every 64-byte load from input 32 bytes past
        // a line straddles two lines like any other misaligned one (shifted, Intel Xeon: 14x14x384 1.07-1.09x,
        // 7x7x960 1.09-1.19x, 28x28x240 5x5 1.06-1.15x; 112x112x96 stride 2, memory-bound, 0.99-1.02x).
        let shift = match (x as usize / 4) % lanes {
            0 => 0,
            _ if self.shifted.is_empty() => 0,
            off => lanes - off,
        };
        let tiling = Tiling { l, shift, channels: p.c_out };
        let packed = if shift == 0 { &self.packed } else { self.shifted_weights(p, shift)? };
        let tiles = tiling.tiles();
        let (oh, ow) = (s.out_height, s.out_width);
        let (rb, tb) = task_blocks(p.batch * oh, tiles, threads, 6);
        let tcount = tb.count();
        let (xp, yp, rp) = (SendPtr(x as *mut f32), SendPtr(y), SendPtr(res as *mut f32));
        // Each thread takes a run of neighbouring row blocks: a block's first input rows are the last ones its
        // predecessor read, still in that core's cache.
        run_task_runs(rb.count() * tcount, threads, |t| {
            let trange = tb.range(t % tcount);
            let (t0, t1) = (trange.start, trange.end);
            let o0 = tiling.start(t0);
            let nc = tiling.start(t1) - o0;
            // Two output rows a call where the kernel takes them (read in place only): `kh + stride` input rows.
            let pair = self.kernel.pair && mult == 1;
            let max_rows = kh + if pair { p.stride_height } else { 0 };
            let mut rows = vec![core::ptr::null::<f32>(); max_rows];
            let mut grows = rows.clone();
            let group = (NHWC_GROUP_CHANNELS / l).max(1);
            // Channel multiplier > 1: lane `c` reads input channel (o0 + c) / mult, gathered once per input row into
            // our own rows of `xw` floats per pixel, kept while output rows still read them.
            let xw = (t1 - t0) * l;
            let row_len = p.in_width * xw;
            let copies = if mult == 1 { 0 } else { kh };
            super::with_scratch(copies * row_len + 16, |scratch| {
                let skip = scratch.as_ptr().align_offset(64).min(16);
                let ring = &mut scratch[skip..skip + copies * row_len];
                // The input row (image * in_height + row) each copy slot holds.
                let mut held = vec![usize::MAX; copies];
                let mut need = vec![usize::MAX; max_rows];
                let range = rb.range(t / tcount);
                let mut row = range.start;
                while row < range.end {
                    let (n, oy) = (row / oh, row % oh);
                    let out_rows = if pair && row + 1 < range.end && oy + 1 < oh { 2 } else { 1 };
                    let nr = kh + (out_rows - 1) * p.stride_height;
                    // Input row `ky` of the call: kernel row `ky` of the first output row (pair kernels are
                    // undilated, so also kernel row `ky - stride` of the second).
                    for (ky, key) in need.iter_mut().enumerate().take(nr) {
                        let iy = (oy * p.stride_height + ky * p.dilation_height) as isize - p.pad_top as isize;
                        *key = if iy < 0 || iy >= p.in_height as isize {
                            usize::MAX
                        } else {
                            n * p.in_height + iy as usize
                        };
                        if mult == 1 {
                            rows[ky] = if *key == usize::MAX {
                                core::ptr::null()
                            } else {
                                // SAFETY: channel o0 of pixel 0 of input row `key` is inside the input.
                                unsafe { xp.get().add(*key * p.in_width * p.c_in + o0) }
                            };
                        }
                    }
                    for (ky, r) in rows.iter_mut().enumerate().take(copies) {
                        let key = need[ky];
                        if key == usize::MAX {
                            *r = core::ptr::null();
                            continue;
                        }
                        let base = key * p.in_width * p.c_in;
                        let slot = match held.iter().position(|&h| h == key) {
                            Some(slot) => slot,
                            None => {
                                // A slot whose row this output row does not read.
                                let slot = held
                                    .iter()
                                    .position(|&h| h == usize::MAX || !need.contains(&h))
                                    .expect("kh slots hold the kh rows of one output row");
                                held[slot] = key;
                                let dst = &mut ring[slot * row_len..(slot + 1) * row_len];
                                // SAFETY: input row `key` holds `in_width * c_in` floats.
                                let src =
                                    unsafe { core::slice::from_raw_parts(xp.get().add(base), p.in_width * p.c_in) };
                                for (d, s) in dst.chunks_exact_mut(xw).zip(src.chunks_exact(p.c_in)) {
                                    for (c, v) in d.iter_mut().enumerate().take(nc) {
                                        *v = s[(o0 + c) / mult];
                                    }
                                }
                                slot
                            }
                        };
                        *r = ring[slot * row_len..].as_ptr();
                    }
                    // Calls over groups of a few tiles: a group's input pixels, weights and outputs stay in L1 while
                    // it walks the row.
                    let mut g0 = t0;
                    while g0 < t1 {
                        // The last tiles ride along with the group before them when they would make a group of half
                        // the size or less (a whole pass over the row for a few channels).
                        let gn = if t1 - g0 <= group + group / 2 { t1 - g0 } else { group };
                        let c0 = tiling.start(g0) - o0;
                        for (gr, r) in grows.iter_mut().zip(&rows) {
                            // SAFETY: channel c0 of the task's channels lies inside a present row's pixel.
                            *gr = if r.is_null() { *r } else { unsafe { r.add(c0) } };
                        }
                        let off = (n * oh + oy) * ow * p.c_out + o0 + c0;
                        let a = NhwcRow {
                            rows: &grows[..nr],
                            w: packed.as_slice()[g0 * self.tile_stride..].as_ptr(),
                            w_stride: self.tile_stride,
                            tiles: gn,
                            nc_last: tiling.start(g0 + gn) - tiling.start(g0 + gn - 1),
                            // The layer's last tile ends with the wrap vector of shifted tiles.
                            wrap: if shift > 0 && g0 + gn == tiles { lanes - shift } else { 0 },
                            x_stride: if mult == 1 { p.c_in } else { xw },
                            in_w: p.in_width,
                            kw: p.kernel_width,
                            stride: p.stride_width,
                            dilation: p.dilation_width,
                            pad_left: p.pad_left,
                            ow,
                            ox_lo: self.ox_lo,
                            ox_hi: self.ox_hi,
                            // SAFETY: pixel 0 of output row (n, oy), channel o0 + c0, is inside the output.
                            y: unsafe { yp.get().add(off) },
                            // SAFETY: as above, for the residual.
                            res: if rp.get().is_null() { core::ptr::null() } else { unsafe { rp.get().add(off) } },
                            y_stride: p.c_out,
                            out_rows,
                            y_row: ow * p.c_out,
                            min: p.output_min,
                            max: p.output_max,
                            group: s.cin_g,
                        };
                        // SAFETY: present rows hold `in_w` pixels of `x_stride` floats with this group's channels
                        // readable (input rows or our copies); the packed tiles exist; this task alone writes
                        // outputs (n, oy .. oy + out_rows, 0..ow) of these channels (both rows in its block).
                        unsafe { (self.f)(&a) };
                        g0 += gn;
                    }
                    row += out_rows;
                }
                Ok(())
            })
        })
    }
}

/// The most channels per group that [`Depthwise::applies_grouped`] takes.
pub(crate) const GROUPED_MAX_CHANNELS: usize = 16;

/// Channels per NHWC kernel call (whole tiles): the group's input, weights and outputs stay in L1.
const NHWC_GROUP_CHANNELS: usize = 128;

/// Output rows per block of the general NCHW kernel: the block's prepared input rows stay in L1.
const NCHW_BLOCK_ROWS: usize = 8;

/// The most floats of prepared input rows one NCHW task holds (16 MiB). Layers whose rows a block reads lie further
/// apart take smaller blocks, down to one output row; beyond that (a stride or dilation of thousands of rows) the
/// GEMM path serves them.
const NCHW_SCRATCH_MAX: usize = 1 << 22;

/// The image rows `iy0..iy1` (inside `0..in_height`) that output rows `oy0..oy1` read.
fn block_input_rows(p: &Conv2dParams, oy0: usize, oy1: usize) -> (usize, usize) {
    let ih = p.in_height;
    let first = (oy0 * p.stride_height) as isize - p.pad_top as isize;
    let iy0 = (first.max(0) as usize).min(ih);
    let iy1 = ((first + nchw_rows_in(p, oy1 - oy0) as isize).max(0) as usize).clamp(iy0, ih);
    (iy0, iy1)
}

/// Input rows that `rows` consecutive output rows read, from the first to the last (`rows >= 1`), saturating.
fn nchw_rows_in(p: &Conv2dParams, rows: usize) -> usize {
    ((rows - 1).saturating_mul(p.stride_height))
        .saturating_add((p.kernel_height - 1).saturating_mul(p.dilation_height))
        .saturating_add(1)
}

/// NCHW plan state: `kh * kw` weights per output channel and the bias.
#[derive(Debug)]
pub(crate) struct DwNchw {
    kernel: &'static DwKernel,
    f: NchwFn,
    w: Vec<f32>,
    bias: Vec<f32>,
    /// A row of zeros for padded input rows (`max(x_row, in_width)` floats).
    zero: AlignedBuf,
    /// Floats per phase of a prepared row.
    x_phase: usize,
    /// Floats per prepared row (`stride_w * x_phase`).
    x_row: usize,
    /// Tap masks of the flat small-plane path of the direct kernels (empty when it does not apply).
    flat: Vec<u32>,
    /// Output rows per prepared block of the row-preparing kernels (at most [`NCHW_BLOCK_ROWS`]).
    block_rows: usize,
    /// Channels per group of the grouped kernel (1 for depthwise).
    group: usize,
}

impl DwNchw {
    fn new(
        p: &Conv2dParams,
        s: &Shape,
        kernel: &'static DwKernel,
        f: NchwFn,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Option<Self>> {
        let taps = p.kernel_height * p.kernel_width;
        // Grouped: `cg` input channels a group, the weights of a group as `[i][ky][kx][j]` (`NchwPlane::group`).
        let cg = if kernel.shape == DwShape::Grouped { s.cin_g } else { 1 };
        let mut w = Vec::new();
        w.try_reserve_exact(p.c_out.checked_mul(taps * cg).ok_or(Error::OutOfMemory)?)?;
        if cg == 1 {
            for o in 0..p.c_out {
                for ky in 0..p.kernel_height {
                    for kx in 0..p.kernel_width {
                        w.push(weights[p.weight_index(o, 0, ky, kx)]);
                    }
                }
            }
        } else {
            for g in 0..p.groups {
                for i in 0..cg {
                    for ky in 0..p.kernel_height {
                        for kx in 0..p.kernel_width {
                            w.extend((0..cg).map(|j| weights[p.weight_index(g * cg + j, i, ky, kx)]));
                        }
                    }
                }
            }
        }
        let mut b = Vec::new();
        b.try_reserve_exact(p.c_out)?;
        b.extend((0..p.c_out).map(|o| bias.map_or(0.0, |b| b[o])));
        // Every vector read stays inside a phase: outputs rounded up to whole vectors plus the largest tap shift,
        // and room for the row preparation's whole-vector stores (see `PadRows`).
        let l = kernel.lanes;
        let prep = match p.stride_width {
            1 => p.pad_left + p.in_width + l,
            2 => (p.pad_left + p.in_width).div_ceil(2).div_ceil(l) * l,
            _ => 0,
        };
        let x_phase =
            (s.out_width.div_ceil(l) * l + (p.kernel_width - 1) * p.dilation_width / p.stride_width).max(prep);
        let x_row = p.stride_width.checked_mul(x_phase).ok_or(Error::OutOfMemory)?;
        // The largest block of output rows whose prepared input rows fit the scratch bound.
        let fits = |b: usize| {
            nchw_rows_in(p, b).min(p.in_height).checked_mul(x_row * cg).is_some_and(|n| n <= NCHW_SCRATCH_MAX)
        };
        let block_rows = if kernel.reads_in_place() {
            NCHW_BLOCK_ROWS
        } else {
            match (1..=NCHW_BLOCK_ROWS.min(s.out_height.max(1))).rev().find(|&b| fits(b)) {
                Some(b) => b,
                None => return Ok(None),
            }
        };
        let zero = AlignedBuf::zeroed(x_row.max(p.in_width))?;
        // Small stride-1 "same" planes (output the input's size) of one input channel per output, on 16 lanes:
        // outputs fill the lanes across rows where that needs at most two thirds of the vectors of one vector per
        // output row (7x7: 4 against 7).
        let flat = if kernel.reads_in_place()
            && l == 16
            && s.cout_g == 1
            && p.stride_height == 1
            && p.stride_width == 1
            && s.out_width == p.in_width
            && s.out_height == p.in_height
            && (p.in_height * p.in_width).div_ceil(l) * 3 <= p.in_height * 2
        {
            dwconv::generic::flat_masks(
                l,
                p.in_height,
                p.in_width,
                p.kernel_height,
                p.kernel_width,
                p.pad_top,
                p.pad_left,
            )
        } else {
            Vec::new()
        };
        Ok(Some(DwNchw { kernel, f, w, bias: b, zero, x_phase, x_row, flat, block_rows, group: cg }))
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
        let planes = p.batch * p.c_out;
        // Many small tasks (a plane or a few each, little set-up per task): the last ones even out the threads.
        let (pb, rb) = task_blocks(planes, oh, threads, 16);
        let rcount = rb.count();
        let (xp, yp, rp) = (SendPtr(x as *mut f32), SendPtr(y), SendPtr(res as *mut f32));
        let plane = |x: *const f32, iy0: usize, x_row: usize, o: usize, yc: usize, oy0: usize, oy1: usize| NchwPlane {
            x,
            iy0,
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
            // SAFETY: `yc` starts an output plane (callers), inside the output and the residual.
            y: unsafe { yp.get().add(yc) },
            // SAFETY: as above.
            res: if rp.get().is_null() { core::ptr::null() } else { unsafe { rp.get().add(yc) } },
            min: p.output_min,
            max: p.output_max,
            flat: core::ptr::null(),
            planes: 1,
            biases: core::ptr::null(),
            group: 1,
            x_plane: 0,
            y_plane: 0,
        };
        if self.group > 1 {
            // SAFETY: forwarded contract.
            return unsafe { self.run_grouped(p, s, x, threads, &plane) };
        }
        let direct = self.kernel.reads_in_place();
        run_tasks(pb.count() * rcount, threads, |t| {
            let rows = rb.range(t % rcount);
            if !self.flat.is_empty() && rows.start == 0 && rows.end == oh {
                // Whole small planes, a run of planes of one image per call.
                let planes = pb.range(t / rcount);
                let mut i = planes.start;
                while i < planes.end {
                    let o = i % p.c_out;
                    let count = (p.c_out - o).min(planes.end - i);
                    // SAFETY: input plane i (image i / c_out, channel o; one input channel per output) starts
                    // inside the input.
                    let xc = unsafe { xp.get().add(i * ih * iw) };
                    let mut a = plane(xc, 0, iw, o, i * oh * ow, 0, oh);
                    a.flat = self.flat.as_ptr();
                    a.planes = count;
                    a.biases = self.bias[o..].as_ptr();
                    // SAFETY: planes i..i + count of one image: their input planes, weights, biases and output
                    // planes exist; this task alone writes them.
                    unsafe { (self.f)(&a) };
                    i += count;
                }
                return Ok(());
            }
            if direct {
                for plane_i in pb.range(t / rcount) {
                    let (n, o) = (plane_i / p.c_out, plane_i % p.c_out);
                    let ci = if s.cout_g == 1 { o } else { o / s.cout_g };
                    // SAFETY: input plane (n, ci) is inside the input.
                    let xc = unsafe { xp.get().add((n * p.c_in + ci) * ih * iw) };
                    let a = plane(xc, 0, iw, o, plane_i * oh * ow, rows.start, rows.end);
                    // SAFETY: the kernel reads the `ih` rows of `iw` floats of the input plane and the zero row
                    // (`iw` floats); this task alone writes rows `rows` of output plane `plane_i`.
                    unsafe { (self.f)(&a) };
                }
                return Ok(());
            }
            let block = self.block_rows.min(rows.len());
            // Zeroed once: row preparation writes the image columns only, the padding stays zero. At most
            // `NCHW_SCRATCH_MAX` floats (the plan's choice of `block_rows`).
            let mut scratch = AlignedBuf::zeroed(nchw_rows_in(p, block).min(ih) * self.x_row)?;
            let planes = pb.range(t / rcount);
            let (mut n, mut o) = (planes.start / p.c_out, planes.start % p.c_out);
            for plane_i in planes {
                if o == p.c_out {
                    (n, o) = (n + 1, 0);
                }
                let ci = if s.cout_g == 1 { o } else { o / s.cout_g };
                let xc = (n * p.c_in + ci) * ih * iw;
                let yc = plane_i * oh * ow;
                let mut oy0 = rows.start;
                while oy0 < rows.end {
                    let oy1 = (oy0 + block).min(rows.end);
                    let (iy0, iy1) = block_input_rows(p, oy0, oy1);
                    if iy1 > iy0 {
                        let prep = PadRows {
                            // SAFETY: row iy0 < ih of input plane `xc` is inside the input.
                            src: unsafe { xp.get().add(xc + iy0 * iw) },
                            rows: iy1 - iy0,
                            in_w: iw,
                            stride: p.stride_width,
                            pad_left: p.pad_left,
                            dst: scratch.as_mut_slice().as_mut_ptr(),
                            x_phase: self.x_phase,
                        };
                        // SAFETY: rows iy0..iy1 of the plane exist; the scratch holds that many prepared rows.
                        unsafe { (self.kernel.pad)(&prep) };
                    }
                    let a = plane(scratch.as_slice().as_ptr(), iy0, self.x_row, o, yc, oy0, oy1);
                    // SAFETY: every image row that rows oy0..oy1 read is prepared in the scratch (rows iy0..iy1);
                    // x_phase covers the rounded-up row plus the tap shift; this task alone writes rows oy0..oy1
                    // of this plane.
                    unsafe { (self.f)(&a) };
                    oy0 = oy1;
                }
                o += 1;
            }
            Ok(())
        })
    }

    /// [`DwNchw::run`] for the grouped kernel: tasks over (image, group) units and row blocks; each block prepares
    /// the rows of the group's `group` input planes side by side in its scratch, then one call computes the
    /// group's output planes.
    ///
    /// # Safety
    /// As [`Depthwise::run`]; `plane` is `run`'s per-call constructor (it holds the output and residual).
    unsafe fn run_grouped(
        &self,
        p: &Conv2dParams,
        s: &Shape,
        x: *const f32,
        threads: usize,
        plane: &(dyn Fn(*const f32, usize, usize, usize, usize, usize, usize) -> NchwPlane + Sync),
    ) -> Result<()> {
        let (oh, ow) = (s.out_height, s.out_width);
        let (ih, iw) = (p.in_height, p.in_width);
        let (cg, taps) = (self.group, p.kernel_height * p.kernel_width);
        let (pb, rb) = task_blocks(p.batch * p.groups, oh, threads, 16);
        let rcount = rb.count();
        let xp = SendPtr(x as *mut f32);
        run_tasks(pb.count() * rcount, threads, |t| {
            let rows = rb.range(t % rcount);
            let block = self.block_rows.min(rows.len());
            // One plane's prepared rows; the group's planes one after the other. Zeroed once (see `run`).
            let slot = nchw_rows_in(p, block).min(ih) * self.x_row;
            let mut scratch = AlignedBuf::zeroed(cg * slot)?;
            for u in pb.range(t / rcount) {
                let (n, g) = (u / p.groups, u % p.groups);
                let o = g * cg;
                let xc = (n * p.c_in + g * cg) * ih * iw;
                let yc = (n * p.c_out + o) * oh * ow;
                let mut oy0 = rows.start;
                while oy0 < rows.end {
                    let oy1 = (oy0 + block).min(rows.end);
                    let (iy0, iy1) = block_input_rows(p, oy0, oy1);
                    if iy1 > iy0 {
                        for i in 0..cg {
                            let prep = PadRows {
                                // SAFETY: row iy0 < ih of input plane (n, g * cg + i) is inside the input.
                                src: unsafe { xp.get().add(xc + i * ih * iw + iy0 * iw) },
                                rows: iy1 - iy0,
                                in_w: iw,
                                stride: p.stride_width,
                                pad_left: p.pad_left,
                                // SAFETY: slot i of the scratch (`cg` slots).
                                dst: unsafe { scratch.as_mut_slice().as_mut_ptr().add(i * slot) },
                                x_phase: self.x_phase,
                            };
                            // SAFETY: rows iy0..iy1 of the plane exist; the slot holds that many prepared rows.
                            unsafe { (self.kernel.pad)(&prep) };
                        }
                    }
                    let mut a = plane(scratch.as_slice().as_ptr(), iy0, self.x_row, o, yc, oy0, oy1);
                    a.group = cg;
                    a.x_plane = slot;
                    a.y_plane = oh * ow;
                    a.w = self.w[o * taps * cg..].as_ptr();
                    a.biases = self.bias[o..].as_ptr();
                    // SAFETY: every image row that rows oy0..oy1 read is prepared in each plane's slot; the group's
                    // weights and biases exist; this task alone writes rows oy0..oy1 of the group's output planes.
                    unsafe { (self.f)(&a) };
                    oy0 = oy1;
                }
            }
            Ok(())
        })
    }
}
