//! NCHW driver, native: `Y[c_out, pixels] = W[c_out, K] * X[K, pixels]` per image and group. Weights are the
//! broadcast operand (packed MR-row panels), pixels sit in the SIMD lanes; a K x NR input panel is packed per
//! pixel block (a plain row copy for 1x1, an im2col gather otherwise) so the kernel streams one contiguous panel
//! instead of K rows a whole plane apart, and edges are zero-padded in our own buffer. 1x1 layers whose planes
//! would leave lanes idle run the other way round: output pixels as broadcast rows (each A row reads one pixel
//! across the channel planes), output channels in the lanes, written back as runs of pixels per channel.

use super::{
    AlignedBuf, Blocks, SendPtr, call_gemm, call_gemm_as, choose_blocks, even_tiles, prefetch_input, run_task_runs,
    run_tasks, tile_runs, with_scratch, with_shared_scratch,
};
use crate::error::Result;
use crate::isa::Isa;
use crate::pack::pack_panels;
use crate::params::{Conv2dParams, Shape};
use crate::ukernel::gemm::{self, GemmKernel, GemmTile, Prefetch};

/// Plan state of the NCHW GEMM path.
#[derive(Debug)]
pub(crate) struct NchwGemm {
    kernel: GemmKernel,
    packed: AlignedBuf,
    panel_stride: usize,
    group_stride: usize,
    k: usize,
    /// Pixel-row mode (see [`NchwGemm::pixel_rows_kernel`]): weights in NR-wide column panels, C transposed.
    pixel_rows: bool,
}

/// How well the pixel-lane kernel may fill its lanes, at most, for a 1x1 layer to run as pixel rows: `share / 64` of
/// the share of its lanes that the pixel-row kernel fills, by reduction length `k`. Each pixel-row tile pays a
/// 16 x 16 transpose before its stores, which short reductions amortise poorly, so the shorter the reduction, the
/// more idle pixel lanes it takes. Measured on Zen 4 (AVX-512, one thread), pixel rows against pixel lanes (lane
/// fill of the pixel-lane kernel relative to the pixel-row kernel's in brackets):
/// - K >= 192: 56x56 256->64 +8-10% (1.0), 35x35 192->64 +7-9% (0.98), 28x28 192->96 +2-4% (0.98), 56x56
///   256->128 +0-3% (1.0), 28x28 256->256 and 512->128 +-1% (0.98), 17x17 192->192 +5% (0.90), 14x14 256->1024
///   +-1% (0.875), 7x7 +25-30% (0.77);
/// - K = 128..191: 17x17 128->128 +5-7% (0.90), 14x14 +1-6% (0.875), 7x7 +23-28% (0.77); but -4-5% on 28x28
///   128->512 (0.98), -2-5% on 56x56 128->128 (1.0);
/// - K < 128: 7x7 64->256 +23-28% (0.77); but -2-5% on 14x14 64->256 (0.875), -10-12% on 56x56 64->256 (1.0),
///   -2-5% on 28x28 96->128 (0.98).
fn pixel_rows_share(k: usize) -> usize {
    match k {
        192.. => 64,
        128.. => 58,
        _ => 51,
    }
}

impl NchwGemm {
    /// Plan state for pixels in the lanes (im2col panels, or 1x1 rows read in place).
    pub fn new(p: &Conv2dParams, s: &Shape, kernel: GemmKernel, weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        let (packed, panel_stride, group_stride) = pack_panels(p, weights, bias, kernel.mr, false)?;
        let k = s.cin_g * p.kernel_height * p.kernel_width;
        Ok(NchwGemm { kernel, packed, panel_stride, group_stride, k, pixel_rows: false })
    }

    /// The kernel for a 1x1, stride-1, unpadded NCHW layer to run in pixel-row mode, if it should: output pixels as
    /// A rows (pixel `m`'s channel `c` at `x + c * plane + m`, read in place), output channels in the lanes, C
    /// stored transposed; chosen when the output channels fill the pixel-row kernel's lanes well enough against how
    /// the plane fills the pixel-lane kernel's (a 7x7 plane fills 49 of 64 lanes), by [`pixel_rows_share`]; the
    /// tile is [`gemm::for_pixel_rows`]'s.
    pub fn pixel_rows_kernel(p: &Conv2dParams, s: &Shape, isa: Isa) -> Option<GemmKernel> {
        let plane = s.out_height * s.out_width;
        if !same_pixels(p, s) || plane == 0 || s.cout_g == 0 || aliasing_planes(plane, s.cin_g) {
            return None;
        }
        let lanes_kernel = gemm::for_isa(isa)?;
        let rows_kernel = gemm::for_gemm(isa, s.cout_g, s.cin_g)?;
        // 16-lane kernels only (AVX-512 and the stand-ins running its logic): AVX2's 8-lane kernels store pixel
        // rows one float at a time; measured with its 6x16 tile the same rows go from -14% (7x7 2048->512) to +17%
        // (14x14 384->64), -10% on 28x28 512->128.
        if rows_kernel.lanes < 16 {
            return None;
        }
        let (nr_rows, nr_lanes) = (rows_kernel.nr(), lanes_kernel.nr());
        let rows_width = s.cout_g.div_ceil(nr_rows) * nr_rows;
        let lanes_width = plane.div_ceil(nr_lanes) * nr_lanes;
        let share = pixel_rows_share(s.cin_g);
        // Lanes used over lanes computed, plane / lanes_width <= share / 64 * cout / rows_width, cross-multiplied.
        let lhs = 64 * rows_width as u128 * plane as u128;
        if lhs > share as u128 * lanes_width as u128 * s.cout_g as u128 {
            return None;
        }
        // The choice above stands on the general tile's widths (as measured); the tile may be a wider one.
        gemm::for_pixel_rows(isa, s.cout_g, s.cin_g)
    }

    /// Plan state for pixel-row mode with `kernel` (from [`NchwGemm::pixel_rows_kernel`]).
    pub fn new_pixel_rows(
        p: &Conv2dParams,
        s: &Shape,
        kernel: GemmKernel,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Self> {
        let (packed, panel_stride, group_stride) = pack_panels(p, weights, bias, kernel.nr(), true)?;
        Ok(NchwGemm { kernel, packed, panel_stride, group_stride, k: s.cin_g, pixel_rows: true })
    }

    /// # Safety
    /// Same contract as [`super::gemm_nhwc::NhwcGemm::run`], for a plan built by [`NchwGemm::new_pixel_rows`].
    unsafe fn run_pixel_rows(
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
        let plane = s.out_height * s.out_width;
        let blocks = choose_blocks(plane, s.cout_g, self.k, mr_full, nr_full, p.batch * p.groups, threads);
        let prefetch = if prefetch_planes(plane) { Prefetch::Columns } else { Prefetch::None };
        let (xp, yp, rp) = (SendPtr(x as *mut f32), SendPtr(y), SendPtr(res as *mut f32));
        // A contiguous run of tasks per thread (pixel blocks, or column blocks where the weights outweigh the
        // activations: `choose_blocks`), as for the pixel-lane path below (two threads against one
        // shared counter: 35x35 192->64 1.24-1.29x, 14x14 384->64 1.30x, 28x28 512->128 1.10-1.16x, 56x56 256->64
        // 1.09x; 14x14 1024->256 0.95-0.97x, 7x7 2048->512 0.97-0.99x).
        run_task_runs(p.batch * p.groups * blocks.per_outer(), threads, |t| {
            let (ng, mi, ni) = blocks.task(t);
            let (n, g) = (ng / p.groups, ng % p.groups);
            let (mrange, nrange) = (blocks.m.range(mi), blocks.n.range(ni));
            // Channel 0 of this image and group.
            let x0 = (n * p.c_in + g * s.cin_g) * plane;
            let mut rows = [core::ptr::null::<f32>(); 16];
            debug_assert!(mr_full <= rows.len());
            // Full tiles without a narrow last panel go through the pixel-row entry (one pointer, the rows'
            // offsets folded into the loads), all of a task's in one call. Over reductions of at most
            // `SPLIT_MAX_K`, a narrow last panel (`whole_panels`) runs on its own after the others, so that they
            // still do; longer ones keep every panel per tile (each tile's A rows read once).
            let (first, last) = (nrange.start, nrange.end);
            let split = if kern.whole_panels(last - first) || self.k > SPLIT_MAX_K {
                last
            } else {
                (last - first) / nr_full * nr_full + first
            };
            for (n0, ncols) in [(first, split - first), (split, last - split)] {
                if ncols == 0 {
                    continue;
                }
                let panel =
                    self.packed.as_slice()[g * self.group_stride + (n0 / nr_full) * self.panel_stride..].as_ptr();
                // Output channel n0 of this image and group.
                let y0 = (n * p.c_out + g * s.cout_g + n0) * plane;
                let whole = kern.whole_panels(ncols);
                // The tile for `mr` pixels from `m0` through the pointers in `rows`.
                let tile = tile_fn(|m0: usize, mr: usize, rows: &[*const f32]| GemmTile {
                    mr,
                    nr: ncols,
                    k: self.k,
                    segs: 1,
                    a: rows,
                    csa: plane,
                    rsa: 1,
                    // SAFETY (the offsets): the packed panel holds the bias row then k rows; output channel n0's
                    // pixels m0.. (and the residual's) are inside the output.
                    b: unsafe { panel.add(nr_full) },
                    ldb: nr_full,
                    b_stride: self.panel_stride,
                    bias_col: panel,
                    bias_row: core::ptr::null(),
                    c: unsafe { yp.get().add(y0 + m0) },
                    rsc: plane,
                    res: if rp.get().is_null() { core::ptr::null() } else { unsafe { rp.get().add(y0 + m0) } },
                    rsr: plane,
                    min: p.output_min,
                    max: p.output_max,
                    prefetch,
                });
                // The leading full tiles (`even_tiles` puts them first), then the tiles one row short of full: one
                // call each through the run entries.
                let (full, short) = if whole { tile_runs(mrange.len(), mr_full) } else { (0, 0) };
                let runs = [
                    (mrange.start, mr_full, full, kern.pixel_rows_run),
                    (mrange.start + full * mr_full, mr_full - 1, short, kern.pixel_rows_short_run),
                ];
                for (m0, mr, count, run) in runs.into_iter().filter(|r| r.2 > 0) {
                    // SAFETY: pixel m0 of channel 0 of this image and group is inside the input, its tile rows i
                    // floats further (i < mr) and channels `plane` apart; the run's `count` tiles of `mr` rows (the
                    // run entry's) are of whole panels, this task's pixels, their outputs as for the single tiles
                    // below.
                    unsafe {
                        let a = [xp.get().add(x0 + m0) as *const f32];
                        run(&tile(m0, mr, &a), count);
                    }
                }
                // The others (shorter tiles, or a narrow last panel): a pointer per row.
                for (m0, mr) in even_tiles(mrange.clone(), mr_full).skip(full + short) {
                    for (i, r) in rows.iter_mut().enumerate().take(mr) {
                        // SAFETY: pixel m0 + i of channel 0 of this image and group is inside the input; its other
                        // channels are `plane` floats apart, cin_g of them.
                        *r = unsafe { xp.get().add(x0 + m0 + i) };
                    }
                    // SAFETY: A rows hold k = cin_g elements `plane` apart (above); the panels of columns
                    // n0..n0 + ncols hold bias + k rows of nr_full floats, panel_stride apart; transposed C: output
                    // channel n0 + j's pixels m0..m0 + mr at y + y0 + j * plane + m0.., inside the output and written
                    // by this tile only; the residual likewise.
                    unsafe { call_gemm_as(kern, tile(m0, mr, &rows[..mr]), true) };
                }
            }
            Ok(())
        })
    }

    /// # Safety
    /// Same contract as [`super::gemm_nhwc::NhwcGemm::run`].
    pub unsafe fn run(
        &self,
        p: &Conv2dParams,
        s: &Shape,
        x: *const f32,
        res: *const f32,
        y: *mut f32,
        threads: usize,
    ) -> Result<()> {
        if self.pixel_rows {
            // SAFETY: forwarded contract.
            return unsafe { self.run_pixel_rows(p, s, x, res, y, threads) };
        }
        let kern = &self.kernel;
        let (mr_full, nr_full) = (kern.mr, kern.nr());
        let plane = s.out_height * s.out_width;
        let k = self.k;
        // 1x1, stride 1, no padding, short K: a full panel's k-th row is input row k itself, read in place. Longer
        // K is packed: k rows a whole plane apart would each touch another page.
        let pointwise_s1 = same_pixels(p, s);
        let one_by_one = p.kernel_height * p.kernel_width == 1;
        // The entry for weight rows one float apart (every kernel has one), used on 1x1 layers, where it was measured.
        let interleaved = if one_by_one { kern.strided(1) } else { None };
        // 1x1 layers read their input rows in place (no packing) where the output channels are few (at most 32: packing
        // would cost as much as the arithmetic) or the reduction short (K <= 64: a panel's K rows are few pages); the
        // others pack K x NC blocks (rows a plane apart would each touch another page). Either way the channel tiles
        // are the outer loop: each tile sweeps the block's panels in one call.
        let direct = pointwise_s1 && (s.cout_g <= 32 || k <= 64);
        // Packed 1x1 blocks run the reduction in blocks of `kc` rows where a panel outgrows L1 (see `k_block`).
        let kc = if direct { k } else { k_block(k, s.cout_g, kern, one_by_one) };
        let kblocks = k.div_ceil(kc.max(1));
        // Measured on Zen 4 (1 MiB L2): 1x1 blocks gain from a larger packed block, im2col blocks (nine rows per
        // input row for 3x3) from a smaller one.
        let l2_bytes = if one_by_one { 512 * 1024 } else { 192 * 1024 };
        // Planes of whole vectors (so every plane starts at the same offset within a vector as the first) that start
        // past a vector boundary (numpy and `malloc` give 16 bytes past a cache line): a head block of the pixels up
        // to the next boundary, then blocks from there, so that the panels' loads are aligned: the input's where it
        // is read in place, else the output's stores. Measured on an Intel Xeon (AVX-512, one thread), 56x56 64->64
        // (read in place), input and output at different offsets: input 16 bytes past a line, output aligned
        // 0.92-0.94x of both aligned without the head block; input 32 and output 16 bytes past 0.86-0.89x, then
        // with a head block for the input 0.99-1.17x and 1.10-1.24x of the same placements without; output 16 or
        // 48 bytes past a line with aligned input cost nothing (0.97-1.10x of both aligned).
        let head = head_pixels(if direct { x } else { y }, plane, kern.lanes).min(plane);
        // Pixel blocks of up to 8 panels; layers read in place over the shortest reductions (K <= 16) write many
        // output planes per few multiply-adds and take up to 32 (1024 pixels with 16 lanes), so that each plane gets
        // longer runs. Measured on an Intel Xeon (AVX-512, one thread, seven alternating rounds): 112x112 16->96
        // 1.13-1.20x; at K = 32 (512 pixels) 28x28 32->192 0.97-0.99x, 112x112 32->16 1.01-1.04x, hence K <= 16.
        let max_nc = if direct && k <= 16 { 32 * nr_full } else { 8 * nr_full };
        let (pb, cb) =
            nchw_blocks(p.batch * p.groups, plane - head, s.cout_g, k, (mr_full, nr_full), (l2_bytes, max_nc), threads);
        let (pcount, ccount) = (pb.count() + usize::from(head > 0), cb.count());
        // Few output channels read in place: the first channel tile prefetches, during each panel, the next one where
        // the input streams from beyond L2 (see `prefetch_input`).
        let next_panel = direct && prefetch_input(s, threads);
        let (xp, yp, rp) = (SendPtr(x as *mut f32), SendPtr(y), SendPtr(res as *mut f32));
        // Pixel block `b`'s pixels: the head block first, if any.
        let pixels = |b: usize| match b {
            0 if head > 0 => 0..head,
            b => {
                let r = pb.range(b - usize::from(head > 0));
                r.start + head..r.end + head
            }
        };
        // The group's first channel plane of image n (`ng = n * groups + g`).
        let group_input = |ng: usize| {
            let (n, g) = (ng / p.groups, ng % p.groups);
            // SAFETY: the group's channel planes of image n lie inside the input (caller contract).
            unsafe { xp.get().add((n * p.c_in + g * s.cin_g) * p.in_height * p.in_width) as *const f32 }
        };
        // Floats of one pixel block's packed panels, and where the channel blocks share them, the floats of every
        // block's, packed once up front into one buffer (`shared_pack`); else each task packs its own.
        let slot = pb.range(0).len().max(head).div_ceil(nr_full) * k * nr_full;
        let blocks = p.batch * p.groups * pcount;
        let shared_len = if direct { None } else { shared_pack(blocks, slot, ccount) };
        with_shared_scratch(shared_len.unwrap_or(0), |shared| {
            let sp = SendPtr(shared.as_mut_ptr());
            let task = |t: usize| {
                let (ng, rest) = (t / (pcount * ccount), t % (pcount * ccount));
                let (n, g) = (ng / p.groups, ng % p.groups);
                let prange = pixels(rest / ccount);
                let crange = cb.range(rest % ccount);
                let panels = prange.len().div_ceil(nr_full);
                // Packed panels: all of them in general, only the ragged last one in direct mode, none when shared.
                let packed_panels = if direct {
                    usize::from(prange.len() % nr_full != 0)
                } else if shared_len.is_some() {
                    0
                } else {
                    panels
                };
                with_scratch(packed_panels * k * nr_full, |bufs| {
                    let mut offsets = Vec::new();
                    let xg = group_input(ng);
                    let full_cols = (prange.len() / nr_full) * nr_full;
                    // Packed B panels (k x nr_full floats each, one after another): the whole block's, in the shared
                    // buffer or packed here; in direct mode only the ragged last panel is packed, the full ones are
                    // the input rows themselves (`plane` floats apart, one panel `nr_full` floats after the other).
                    let packed: *const f32 = if direct {
                        if full_cols < prange.len() {
                            let (pst, len) = (prange.start + full_cols, prange.len() - full_cols);
                            // SAFETY: as above.
                            unsafe { pack_block(p, s, xg, pst, len, nr_full, &mut offsets, bufs) };
                        }
                        bufs.as_ptr()
                    } else if shared_len.is_some() {
                        // SAFETY: this pixel block's slot of the shared buffer, packed before the tasks began; its
                        // panels lie within the slot.
                        unsafe { sp.get().add((ng * pcount + rest / ccount) * slot) }
                    } else {
                        // SAFETY: as above.
                        unsafe { pack_block(p, s, xg, prange.start, prange.len(), nr_full, &mut offsets, bufs) };
                        bufs.as_ptr()
                    };
                    // One kernel call: output channels c0.. (one MR tile) over `ncols` pixels from `pstart`, whose B
                    // panels start at `b`, `b_stride` apart, rows `ldb` apart, over reduction block `kb` (rows `kb * kc
                    // ..`). The first block starts from the bias and adds the residual, each later one adds the sum so
                    // far (C itself, read before it is written) as its residual; the last one clamps.
                    let call = |c0: usize,
                                kb: usize,
                                pstart: usize,
                                ncols: usize,
                                b: *const f32,
                                ldb: usize,
                                b_stride: usize| {
                        let mr = mr_full.min(crange.end - c0);
                        let (k0, last) = (kb * kc, kb + 1 == kblocks);
                        // SAFETY: B panels hold k rows `ldb` apart; block `kb` starts at row k0 < k.
                        let b = unsafe { b.add(k0 * ldb) };
                        let wpanel = self.packed.as_slice()
                            [g * self.group_stride + (c0 / mr_full) * self.panel_stride..]
                            .as_ptr();
                        // Full tiles of a 1x1 layer without a narrow last panel: the interleaved rows, one pointer.
                        let one = interleaved.filter(|_| mr == mr_full && kern.whole_panels(ncols));
                        let pointers = if one.is_some() { 1 } else { mr };
                        let mut rows = [core::ptr::null::<f32>(); 16];
                        for (i, r) in rows.iter_mut().enumerate().take(pointers) {
                            // SAFETY: the panel holds mr_full bias values then k rows of mr_full weights; k0 < k.
                            *r = unsafe { wpanel.add(mr_full * (1 + k0) + i) };
                        }
                        let off = (n * p.c_out + g * s.cout_g + c0) * plane + pstart;
                        // SAFETY: A rows step by mr_full through the block's packed rows, k0 .. k0 + its length <= k
                        // (through the strided entry: row i is i floats after the one pointer, i < mr_full); B rows
                        // hold nr_full readable floats (ours, or full in-bounds input rows); output and residual
                        // offsets (the residual of a later block is the output itself) address channels c0..c0+mr,
                        // pixels pstart..pstart+ncols of image n, inside the output and written by this tile only.
                        unsafe {
                            let c = yp.get().add(off);
                            let tile = GemmTile {
                                mr,
                                nr: ncols,
                                k: kc.min(k - k0),
                                segs: 1,
                                a: &rows[..pointers],
                                csa: mr_full,
                                rsa: 1,
                                b,
                                ldb,
                                b_stride,
                                bias_col: core::ptr::null(),
                                bias_row: if kb == 0 { wpanel } else { core::ptr::null() },
                                c,
                                rsc: plane,
                                res: if kb > 0 {
                                    c.cast_const()
                                } else if rp.get().is_null() {
                                    core::ptr::null()
                                } else {
                                    rp.get().add(off)
                                },
                                rsr: plane,
                                min: if last { p.output_min } else { f32::NEG_INFINITY },
                                max: if last { p.output_max } else { f32::INFINITY },
                                prefetch: if next_panel && c0 == crange.start {
                                    Prefetch::NextPanel
                                } else {
                                    Prefetch::None
                                },
                            };
                            match one {
                                Some(f) => f(&tile),
                                None => call_gemm(kern, tile),
                            }
                        }
                    };
                    if kblocks > 1 {
                        // Reduction blocks: a panel's block stays in L1 while every channel tile passes over it, then
                        // the panel's next block.
                        for q in 0..panels {
                            let p0 = prange.start + q * nr_full;
                            let b = packed.wrapping_add(q * k * nr_full);
                            for kb in 0..kblocks {
                                for c0 in crange.clone().step_by(mr_full) {
                                    call(c0, kb, p0, nr_full.min(prange.end - p0), b, nr_full, 0);
                                }
                            }
                        }
                    } else {
                        // A weight tile stays in L1 while it sweeps the (L2-resident) panels; output rows are written
                        // in long contiguous runs. Layers of at most 32 output channels read in place once ran panel by
                        // panel, every channel tile over a panel before the next (its rows hot in L1); measured on Zen 4
                        // (one thread, three alternating rounds, per-round ratios of this order against that one),
                        // AVX-512: 112x112 32->16 1.11-1.12x, 16->16 1.24-1.31x, 32->32 1.12-1.13x, 56x56 24->24
                        // 1.17-1.19x, 64->32 1.07x, 144->24 1.02-1.03x, 28x28 96->32 1.04-1.06x, 192->32 and 56x56
                        // 256->16 1.00x; AVX2 (6 x 16) 1.00-1.59x (112x112 32->16 1.30x). One call per tile over the
                        // block's panels amortises the call, and each input row streams 8 panels' length at a time.
                        for c0 in crange.clone().step_by(mr_full) {
                            if !direct {
                                call(c0, 0, prange.start, prange.len(), packed, nr_full, k * nr_full);
                                continue;
                            }
                            if full_cols > 0 {
                                // SAFETY: pixels of the full panels, in every channel row of the group, are inside
                                // the input.
                                let b = unsafe { xg.add(prange.start) };
                                call(c0, 0, prange.start, full_cols, b, plane, nr_full);
                            }
                            if full_cols < prange.len() {
                                call(c0, 0, prange.start + full_cols, prange.len() - full_cols, packed, nr_full, 0);
                            }
                        }
                    }
                    Ok(())
                })
            };
            if shared_len.is_some() {
                run_tasks(blocks, threads, |t| {
                    let prange = pixels(t % pcount);
                    let mut offsets = Vec::new();
                    // SAFETY: slot t of the shared buffer (`slot` floats: the block's panels) is this task's alone; the
                    // group's input as above.
                    unsafe {
                        let dst = core::slice::from_raw_parts_mut(sp.get().add(t * slot), slot);
                        pack_block(
                            p,
                            s,
                            group_input(t / pcount),
                            prange.start,
                            prange.len(),
                            nr_full,
                            &mut offsets,
                            dst,
                        );
                    }
                    Ok(())
                })?;
            }
            // 1x1 layers read in place hand each thread a contiguous run of pixel blocks, so that every output plane
            // is written front to back by one core (with one shared counter the two cores' blocks alternate in all
            // c_out planes at once: two threads 1.2x one on 112x112 16->96, 1.65-1.7x with runs; 112x112 32->16
            // 1.28-1.39x, 56x56 64->256 1.04-1.06x faster than the counter). im2col layers keep the counter (14x14
            // 256->256 3x3 0.93x with runs).
            let n = blocks * ccount;
            if pointwise_s1 { run_task_runs(n, threads, task) } else { run_tasks(n, threads, task) }
        })
    }
}

/// Bytes of a packed pixel-lane panel's reduction block (`kc x NR` floats) that stay in L1 while every channel tile
/// of a task passes over it.
const K_BLOCK_BYTES: usize = 32 * 1024;

/// Bytes of a group's weights up to which 1x1 layers run their reduction in blocks: each panel then reads every
/// channel tile's weights once per block, so they should stay in L2.
const K_BLOCK_WEIGHT_BYTES: usize = 1 << 20;

/// Reduction block length of the packed pixel-lane path (`cout` output channels a group): the whole reduction `k`,
/// or, for 1x1 layers on 16-lane kernels whose `k x NR` panel outgrows [`K_BLOCK_BYTES`] and whose weights fit
/// [`K_BLOCK_WEIGHT_BYTES`], the even split into the fewest blocks within it (6 x 64 panels: at most 128 rows). A
/// packed panel serves every channel tile: whole, each tile streams it from L2; in blocks, a block stays in L1 while
/// the tiles pass over it and their partial sums go through the output (read and written once more per block), and
/// the weights are read once per panel rather than once per task. The blocks depend on the layer and kernel only,
/// never on the thread count.
///
/// Measured on an Intel Xeon (AVX-512, 6 x 64 tile, 2 MiB L2; two runs of three or four alternating rounds,
/// per-round ratios against the whole reduction, one thread / two): 56x56 256->512 stride 2 0.99-1.20x / 1.10-1.18x,
/// 32x32 512->128 1.04-1.08x / 1.09-1.14x, 64x64 256->64 1.05-1.12x / 0.98-1.08x; with more weights, 28x28
/// 512->1024 stride 2 (2 MiB) 0.97-1.11x / 1.02-1.21x but 14x14 1024->2048 stride 2 (8 MiB) 0.84-0.98x on one
/// thread, hence the bound on the weights (kept under L2 for cores with less of it). Blocks of 64 rows lost on 28x28
/// 512->1024 stride 2 (0.87-0.93x). im2col blocks of 128 rows were mixed (3x3 and 7x7 layers 0.79-1.22x), and so
/// was AVX2's 6 x 16 tile at 512 rows (0.83-1.19x): they keep the whole reduction.
fn k_block(k: usize, cout: usize, kern: &GemmKernel, one_by_one: bool) -> usize {
    let max = (K_BLOCK_BYTES / (4 * kern.nr())).max(1);
    let weights = k.saturating_mul(cout).saturating_mul(4);
    if !one_by_one || kern.lanes < 16 || k <= max || weights > K_BLOCK_WEIGHT_BYTES {
        k
    } else {
        k.div_ceil(k.div_ceil(max))
    }
}

/// Reductions up to which NCHW pixel rows run a narrow last panel apart from the full ones (see `run_pixel_rows`).
/// Measured on an Intel Xeon (the 8 x 48 tile, one thread, four alternating rounds, per-round ratios against every
/// tile through a pointer per row over all panels): 56x56 256->128 0.97-1.13x, 192->128 1.05-1.18x, 28x28 256->128
/// 1.04-1.09x, 192->160 1.04-1.16x, 14x14 256->256 0.96-1.02x; longer reductions, whose A rows the split reads
/// twice, 28x28 384->256 0.87-1.05x, 512->128 0.92-1.00x, 14x14 1024->256 0.94-1.03x, 8x8 1280->320 0.94-0.99x.
const SPLIT_MAX_K: usize = 256;

/// Whether NCHW pixel rows on planes of `plane` pixels prefetch their A elements (each k step a plane further)
/// a few steps ahead. Measured against none, one thread: on Zen 4 (AVX-512) 56x56 256->64 +6-14%, 56x56 256->128
/// +5-11%, 28x28 +1-5%, 35x35 192->64 +3%, but a loss on 7x7 to 17x17 planes (already in L2); on an Intel Xeon
/// (AVX-512, two 512-bit FMA units), 3-4 alternating rounds each, per-round ratios on 14x14 and 17x17 planes
/// 0.95-1.16x, median 1.07x (14x14 1024->256, 256->1024, 384->64; 17x17 768->192), on 7x7 and 8x8 0.95-1.15x,
/// median 1.05x (960->160, 1280->320, 2048->512, 512->2048). Planes under two cache lines step within the lines
/// already loaded.
fn prefetch_planes(plane: usize) -> bool {
    plane >= if crate::isa::split_512_fma() { 512 } else { 32 }
}

/// Whether channel planes of `plane` floats lie so that pixel rows over reductions of length `k` thrash L1: a multiple
/// of 4 KiB apart (32x32, 64x64, 16x64 planes), or of 2 KiB over reductions from 1024 on (16x32, 8x64). The same
/// pixel of every channel then falls in one L1 set (two), so pixel rows, whose tiles read a line of each of K planes
/// (then the next tile the same lines), keep evicting their own A lines; the pixel-lane path packs those planes.
/// Measured on an Intel Xeon (AVX-512, one thread, per-round ratios of pixel lanes against pixel rows, four
/// alternating rounds): 64x64 192->64 1.07-1.14x, 256->64 1.02-1.08x, 512->128 1.22-1.31x, 32x32 512->128
/// 1.13-1.29x, 1024->256 1.32-1.48x, but 256->64 0.92-1.02x; 2 KiB apart (two or three rounds): 16x32 1024->256
/// 1.19-1.28x, 2048->256 1.41-1.45x, 8x64 1024->256 1.10-1.29x, but 256->64 and 512->128 0.86-0.90x, 768->192
/// 0.96-0.98x; 16x16 planes (1 KiB apart, four sets) keep pixel rows (lanes 0.74-1.0x up to 1024->256).
fn aliasing_planes(plane: usize, k: usize) -> bool {
    let bytes = plane * 4;
    bytes.is_multiple_of(4096) || (bytes.is_multiple_of(2048) && k >= 1024)
}

/// `f` itself, typed so that the tile it returns borrows the row pointers it is given.
fn tile_fn<F: for<'a> Fn(usize, usize, &'a [*const f32]) -> GemmTile<'a>>(f: F) -> F {
    f
}

/// Pixels before the first vector boundary of planes that start at `base`, when `base` is past one and every
/// plane keeps its offset (`plane` a multiple of `lanes`); else 0.
fn head_pixels(base: *const f32, plane: usize, lanes: usize) -> usize {
    let a = base as usize;
    let off = (a / 4) % lanes;
    if a.is_multiple_of(4) && off != 0 && plane.is_multiple_of(lanes) { lanes - off } else { 0 }
}

/// 1x1, stride 1, unpadded: output pixel `m` of a plane reads input pixel `m`.
fn same_pixels(p: &Conv2dParams, s: &Shape) -> bool {
    p.kernel_height == 1
        && p.kernel_width == 1
        && p.stride_height == 1
        && p.stride_width == 1
        && s.out_height == p.in_height
        && s.out_width == p.in_width
}

/// Floats of the buffer into which the NCHW pixel-lane path packs all `blocks` pixel blocks (`slot` floats each)
/// up front, where each is read by `ccount` channel blocks, so that none is packed twice; `None` for packing per
/// task (fewer than [`SHARED_PACK_MIN_CBLOCKS`] channel blocks, or a buffer over [`SHARED_PACK_MAX_BYTES`]). Channel
/// blocks are split off where the pixel blocks alone cannot keep the threads busy (small planes), and each of them
/// used to pack the same block again. Measured on an Intel Xeon (AVX-512, two threads, five alternating rounds,
/// per-round ratios against packing per task): 7x7 3x3 512->512 (eight channel blocks) 1.35-1.52x, 7x7 3x3
/// 256->256 1.66x, 1x1 stride 2 14x14 1024->2048 1.16x; but 14x14 3x3 256->256 (two channel blocks, seven pixel
/// blocks, a 2 MB buffer that leaves L2) 0.84-0.89x, hence the minimum.
fn shared_pack(blocks: usize, slot: usize, ccount: usize) -> Option<usize> {
    let len = blocks.checked_mul(slot)?;
    (ccount >= SHARED_PACK_MIN_CBLOCKS && len <= SHARED_PACK_MAX_BYTES / 4).then_some(len)
}

/// Channel blocks per pixel block from which [`shared_pack`] packs every pixel block up front.
const SHARED_PACK_MIN_CBLOCKS: usize = 4;

/// Bytes up to which [`shared_pack`] packs every pixel block up front.
const SHARED_PACK_MAX_BYTES: usize = 64 << 20;

/// Pixel blocks of a few panels, at most `max_nc` pixels (the packed K x NC block stays within `l2_bytes`), output
/// channels whole unless the threads need more tiles.
fn nchw_blocks(
    images: usize,
    plane: usize,
    cout: usize,
    k: usize,
    (mr, nr): (usize, usize),
    (l2_bytes, max_nc): (usize, usize),
    threads: usize,
) -> (Blocks, Blocks) {
    let mut nc = ((l2_bytes / (4 * k.max(1))) / nr * nr).clamp(nr, max_nc).min(plane.div_ceil(nr) * nr);
    let mut mc = cout.div_ceil(mr) * mr;
    let want = if threads > 1 { 6 * threads } else { 1 };
    let count = |nc: usize, mc: usize| images * plane.div_ceil(nc) * cout.div_ceil(mc);
    while count(nc, mc) < want && nc > nr {
        nc = (nc / 2).div_ceil(nr) * nr;
    }
    while count(nc, mc) < want && mc > mr {
        mc = (mc / 2).div_ceil(mr) * mr;
    }
    (Blocks::new(plane, nc), Blocks::new(cout, mc))
}

/// Packs pixels `pstart .. pstart + plen` of one image and group into panels `dst[q][k][nr_full]`
/// (k = (ci, ky, kx)), zero-padded past `plen`. Reads each input row once, front to back, for all panels.
/// `x` points at the group's first channel plane; `offsets` is scratch for the pixel runs.
///
/// # Safety
/// `x` holds `cin_g` channel planes of the NCHW input described by `p`.
#[allow(clippy::too_many_arguments)]
unsafe fn pack_block(
    p: &Conv2dParams,
    s: &Shape,
    x: *const f32,
    pstart: usize,
    plen: usize,
    nr_full: usize,
    offsets: &mut Vec<Run>,
    dst: &mut [f32],
) {
    let (h, w) = (p.in_height, p.in_width);
    let taps = p.kernel_height * p.kernel_width;
    let k = taps * s.cin_g;
    let panels = plen.div_ceil(nr_full);
    // SAFETY: the group's cin_g channel planes lie inside the input.
    let src = unsafe { core::slice::from_raw_parts(x, s.cin_g * h * w) };
    if same_pixels(p, s) {
        // 1x1, stride 1, unpadded: panel rows are slices of input rows.
        for ci in 0..s.cin_g {
            let row = &src[ci * h * w + pstart..][..plen];
            for (q, seg) in row.chunks(nr_full).enumerate() {
                let d = &mut dst[(q * k + ci) * nr_full..][..nr_full];
                copy_short(&mut d[..seg.len()], seg);
                d[seg.len()..].fill(0.0);
            }
        }
        return;
    }
    // Runs of pixels on one output row, per panel: `(panel, first column, length, iy0, ix0)` with the window
    // origin of the run's first pixel; the run's pixel `t` reads input column `ix0 + t * stride_width`.
    offsets.clear();
    let (mut oy, mut ox) = (pstart / s.out_width, pstart % s.out_width);
    let mut j = 0;
    while j < plen {
        let (q, col) = (j / nr_full, j % nr_full);
        let len = (s.out_width - ox).min(nr_full - col).min(plen - j);
        offsets.push(Run {
            panel: q,
            col,
            len,
            iy0: (oy * p.stride_height) as isize - p.pad_top as isize,
            ix0: (ox * p.stride_width) as isize - p.pad_left as isize,
        });
        j += len;
        ox += len;
        if ox == s.out_width {
            ox = 0;
            oy += 1;
        }
    }
    let sw = p.stride_width;
    let hw = h * w;
    let ci_step = taps * nr_full;
    for r in offsets.iter() {
        for tap in 0..taps {
            let dy = ((tap / p.kernel_width) * p.dilation_height) as isize;
            let dx = ((tap % p.kernel_width) * p.dilation_width) as isize;
            let (iy, ix) = (r.iy0 + dy, r.ix0 + dx);
            let last = ix + ((r.len - 1) * sw) as isize;
            let d0 = (r.panel * k + tap) * nr_full + r.col;
            // Row `ci * taps + tap` of the panel, columns r.col .. r.col + r.len, for every channel of the group.
            let rows = dst[d0..].chunks_mut(ci_step).take(s.cin_g);
            if iy < 0 || iy >= h as isize {
                rows.for_each(|d| d[..r.len].fill(0.0));
            } else if ix >= 0 && last < w as isize {
                let from = iy as usize * w + ix as usize;
                let span = (last - ix) as usize + 1;
                for (ci, d) in rows.enumerate() {
                    // The same run of the plane PACK_PREFETCH_PLANES ahead: each run reads another page, which the
                    // hardware prefetcher does not follow.
                    if ci + PACK_PREFETCH_PLANES < s.cin_g {
                        let ahead = &src[(ci + PACK_PREFETCH_PLANES) * hw + from..][..span];
                        for j in (0..span).step_by(16) {
                            crate::simd::prefetch(ahead[j..].as_ptr());
                        }
                        crate::simd::prefetch(ahead[span - 1..].as_ptr());
                    }
                    copy_strided(&mut d[..r.len], &src[ci * hw + from..][..span], sw);
                }
            } else {
                // Cut by the left/right border: zeros outside columns `t_lo..t_hi` of the run, a copy inside.
                let t_lo = if ix < 0 { ((-ix) as usize).div_ceil(sw).min(r.len) } else { 0 };
                let t_hi = if ix < w as isize { ((w as isize - ix) as usize).div_ceil(sw).min(r.len) } else { 0 };
                for (ci, d) in rows.enumerate() {
                    let d = &mut d[..r.len];
                    if t_lo >= t_hi {
                        d.fill(0.0);
                        continue;
                    }
                    d[..t_lo].fill(0.0);
                    d[t_hi..].fill(0.0);
                    let first = (ix + (t_lo * sw) as isize) as usize;
                    let src = &src[ci * hw + iy as usize * w + first..][..(t_hi - t_lo - 1) * sw + 1];
                    copy_strided(&mut d[t_lo..t_hi], src, sw);
                }
            }
        }
    }
    // Zero the columns past `plen` of the last panel.
    if !plen.is_multiple_of(nr_full) {
        for kk in 0..k {
            dst[((panels - 1) * k + kk) * nr_full + plen % nr_full..][..nr_full - plen % nr_full].fill(0.0);
        }
    }
}

/// How many channel planes ahead [`pack_block`] prefetches a run's input (measured on Zen 4: stride-2 1x1 layers
/// 1.01-1.03x at 2-8 planes, 3x3 layers unchanged).
const PACK_PREFETCH_PLANES: usize = 4;

/// A run of output pixels on one output row inside one packed panel.
#[derive(Clone, Copy, Debug)]
struct Run {
    panel: usize,
    col: usize,
    len: usize,
    iy0: isize,
    ix0: isize,
}

/// Copies `src[t * sw]` into `dst[t]` for every `t < dst.len()` (`src` holds `(dst.len() - 1) * sw + 1` floats).
#[inline(always)]
fn copy_strided(dst: &mut [f32], src: &[f32], sw: usize) {
    match sw {
        1 => copy_short(dst, src),
        2 => copy_even(dst, src),
        _ => {
            for (v, x) in dst.iter_mut().zip(src.iter().step_by(sw)) {
                *v = *x;
            }
        }
    }
}

/// Copies every other float of `src` (`src[2 * t]`) into `dst[t]` (a stride-2 row run, e.g. a stem's): a loop over
/// pairs, which the compiler turns into vector shuffles (fixed chunks of four compiled to one scalar move per float),
/// then the last float alone; `src` holds `2 * dst.len() - 1` floats.
#[inline(always)]
fn copy_even(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    for (d, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
        *d = s[0];
    }
    if let Some(last) = dst.last_mut() {
        *last = src[2 * (n - 1)];
    }
}

/// Copies a short row (a panel row of 4..32 floats) with fixed-size moves instead of a `memcpy` call per row.
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d8, s8) in (&mut d).zip(&mut s) {
        let v: [f32; 8] = s8.try_into().unwrap_or([0.0; 8]);
        d8.copy_from_slice(&v);
    }
    for (a, b) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *a = *b;
    }
}

#[cfg(test)]
mod tests {
    use super::copy_strided;

    #[test]
    fn strided_copies_take_every_stride_th_float() {
        for sw in 1..=4 {
            for n in 1..=41 {
                let src: Vec<f32> = (0..(n - 1) * sw + 1).map(|i| i as f32).collect();
                let mut dst = vec![-1.0; n + 1];
                copy_strided(&mut dst[..n], &src, sw);
                let want: Vec<f32> = (0..n).map(|t| (t * sw) as f32).collect();
                assert_eq!(&dst[..n], &want[..], "stride {sw}, {n} floats");
                assert_eq!(dst[n], -1.0, "stride {sw}, {n} floats: wrote past the end");
            }
        }
    }
}
