//! Winograd F(4x4, 3x3) driver (opt-in): per block of output tiles, the input transform into `V[36][tiles][c_in]`,
//! 36 GEMMs through the GEMM micro-kernels into `M[36][tiles][c_out block]`, then the output transform with the
//! fused epilogue. NHWC and NCHW activations, 3x3 kernels with stride 1, dilation 1 and one group.
//!
//! Work is split over (tile blocks x output-channel ranges), never over `c_in`, and each output's arithmetic does
//! not depend on the split: results are bitwise identical for any thread count.

use super::{AlignedBuf, SendPtr, call_gemm, even_tiles, run_tasks, with_scratch};
use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::params::{Conv2dParams, Layout, Shape};
use crate::ukernel::gemm::{GemmKernel, GemmTile, Prefetch};
use crate::ukernel::winograd::generic::{ALPHA, FREQS, TILE, filter_transform};
use crate::ukernel::winograd::{self, InputTile, OutputTile, WinoKernel};

/// Bytes of transformed input (`V`) per tile block: sized to stay in L2 with the GEMM outputs.
const V_BYTES: usize = 256 * 1024;
/// Bytes of GEMM outputs (`M`) per output-channel block.
const M_BYTES: usize = 256 * 1024;

/// Plan state of the Winograd path.
#[derive(Debug)]
pub(crate) struct Winograd {
    gemm: GemmKernel,
    wino: &'static WinoKernel,
    /// `U = G g G^T` as GEMM panels: `[36][c_out / nr][c_in][nr]`, zero-padded columns, no bias row.
    packed: AlignedBuf,
    /// Floats per transformed position in `packed`.
    ue: usize,
    bias: Option<Vec<f32>>,
    /// `c_in` zeros: the input of padded tile positions.
    zero: Vec<f32>,
    layout: Layout,
}

impl Winograd {
    /// Whether the shape qualifies: 3x3, stride 1, dilation 1, one group.
    pub fn applies(p: &Conv2dParams) -> bool {
        p.kernel_height == 3
            && p.kernel_width == 3
            && p.stride_height == 1
            && p.stride_width == 1
            && p.dilation_height == 1
            && p.dilation_width == 1
            && p.groups == 1
    }

    pub fn new(p: &Conv2dParams, isa: Isa, gemm: GemmKernel, weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        debug_assert!(Self::applies(p));
        let wino = winograd::for_isa(isa)
            .ok_or_else(|| Error::Unsupported(format!("no Winograd transforms for ISA {isa}")))?;
        let (c_in, c_out, nr) = (p.c_in, p.c_out, gemm.nr());
        let panels = c_out.div_ceil(nr);
        let ue = panels
            .checked_mul(c_in)
            .and_then(|v| v.checked_mul(nr))
            .ok_or_else(|| Error::invalid("sizes overflow 64-bit arithmetic"))?;
        let total = ue.checked_mul(FREQS).ok_or_else(|| Error::invalid("sizes overflow 64-bit arithmetic"))?;
        let mut packed = AlignedBuf::zeroed(total)?;
        let dst = packed.as_mut_slice();
        for o in 0..c_out {
            let (q, j) = (o / nr, o % nr);
            for ci in 0..c_in {
                let g: [f64; 9] = core::array::from_fn(|t| weights[p.weight_index(o, ci, t / 3, t % 3)] as f64);
                for (e, u) in filter_transform(&g).into_iter().enumerate() {
                    dst[e * ue + (q * c_in + ci) * nr + j] = u as f32;
                }
            }
        }
        let bias = match bias {
            Some(b) => {
                let mut v = Vec::new();
                v.try_reserve_exact(b.len())?;
                v.extend_from_slice(b);
                Some(v)
            }
            None => None,
        };
        let mut zero = Vec::new();
        zero.try_reserve_exact(c_in)?;
        zero.resize(c_in, 0.0);
        Ok(Winograd { gemm, wino, packed, ue, bias, zero, layout: p.layout })
    }

    /// The algorithm's display name.
    pub fn algorithm(&self) -> &'static str {
        match self.layout {
            Layout::Nhwc => "winograd-f4x4-3x3-nhwc",
            Layout::Nchw => "winograd-f4x4-3x3-nchw",
        }
    }

    /// The transform kernel's display name.
    pub fn kernel_name(&self) -> &'static str {
        self.wino.name
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
        let (c_in, c_out) = (p.c_in, p.c_out);
        let (mr, nr) = (self.gemm.mr, self.gemm.nr());
        let (oh, ow) = (s.out_height, s.out_width);
        let (th, tw) = (oh.div_ceil(TILE), ow.div_ceil(TILE));
        let tiles = p.batch * th * tw;
        let ldv = c_in.next_multiple_of(self.wino.lanes);

        // Tile blocks: V of one block stays in L2; a multiple of the GEMM rows; several per thread when threaded.
        let mut tb = (V_BYTES / (4 * FREQS * ldv)).max(mr) / mr * mr;
        tb = tb.min(tiles.next_multiple_of(mr));
        while threads > 1 && tiles.div_ceil(tb) < 4 * threads && tb > mr {
            tb = (tb / 2).next_multiple_of(mr);
        }
        // Equal blocks (49 tiles: 17 + 17 + 15, not 24 + 24 + 1).
        let tb = tiles.div_ceil(tiles.div_ceil(tb));
        let tblocks = tiles.div_ceil(tb);
        // Output channels: split into ranges of panels when there are too few tile blocks for the threads (each
        // range then repeats its block's input transform), and into M blocks that stay in L2.
        let panels = c_out.div_ceil(nr);
        let want = if threads > 1 && tblocks < 4 * threads { (4 * threads).div_ceil(tblocks) } else { 1 };
        let range_panels = panels.div_ceil(want.min(panels));
        let ranges = panels.div_ceil(range_panels);
        let nc_panels = (M_BYTES / (4 * FREQS * tb * nr)).clamp(1, range_panels);
        let ldm = nc_panels * nr;
        let (ve, me) = (tb * ldv, tb * ldm);
        let patch_len = if self.layout == Layout::Nchw { FREQS * ldv } else { 0 };
        let scratch_len = FREQS * (ve + me) + patch_len;

        let (xp, yp, rp) = (SendPtr(x as *mut f32), SendPtr(y), SendPtr(res as *mut f32));
        run_tasks(tblocks * ranges, threads, |task| {
            let (bi, ri) = (task / ranges, task % ranges);
            let t0 = bi * tb;
            let nt = tb.min(tiles - t0);
            with_scratch(scratch_len, |scratch| {
                let (v, rest) = scratch.split_at_mut(FREQS * ve);
                let (m, patch) = rest.split_at_mut(FREQS * me);
                let (v, m) = (v.as_mut_ptr(), m.as_mut_ptr());
                for i in 0..nt {
                    let tile = Tile::of(t0 + i, th, tw);
                    let d = match self.layout {
                        // SAFETY: `x` holds the whole input (caller contract).
                        Layout::Nhwc => unsafe { self.nhwc_rows(p, xp.get(), tile) },
                        // SAFETY: as above; `patch` holds 36 * ldv floats.
                        Layout::Nchw => unsafe { self.nchw_patch(p, xp.get(), tile, patch, ldv) },
                    };
                    // SAFETY: every position holds c_in readable floats; V rows of tile i are ldv floats at
                    // v + e * ve + i * ldv, inside the scratch.
                    unsafe { (self.wino.input)(&InputTile { d: &d, c: c_in, v: v.add(i * ldv), ve }) };
                }
                let (q_start, q_end) = (ri * range_panels, ((ri + 1) * range_panels).min(panels));
                let mut q0 = q_start;
                while q0 < q_end {
                    let q1 = (q0 + nc_panels).min(q_end);
                    let n0 = q0 * nr;
                    let ncols = (q1 * nr).min(c_out) - n0;
                    // SAFETY: `v`, `m` address this thread's scratch with the extents computed above.
                    unsafe { self.gemms(c_in, v, ve, ldv, m, me, ldm, nt, q0, ncols) };
                    for i in 0..nt {
                        let tile = Tile::of(t0 + i, th, tw);
                        // SAFETY: the output/residual pointers address this tile's valid pixels, channels
                        // n0..n0 + ncols, which only this task writes; M of tile i holds ncols (padded to ldm)
                        // floats per position.
                        unsafe { self.output(p, s, tile, m.add(i * ldm), me, n0, ncols, yp.get(), rp.get()) };
                    }
                    q0 = q1;
                }
                Ok(())
            })
        })
    }

    /// The 36 GEMMs of a tile block for output columns `q0 * nr ..+ ncols`: `M[e] = V[e] * U[e]`.
    ///
    /// # Safety
    /// `v` holds `36 * ve` floats with `nt` rows of `c_in` floats `ldv` apart per position; `m` holds `36 * me`
    /// writable floats with room for `nt` rows of `ncols <= ldm` floats `ldm` apart per position.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemms(
        &self,
        c_in: usize,
        v: *const f32,
        ve: usize,
        ldv: usize,
        m: *mut f32,
        me: usize,
        ldm: usize,
        nt: usize,
        q0: usize,
        ncols: usize,
    ) {
        let (mr_full, nr) = (self.gemm.mr, self.gemm.nr());
        let mut rows = [core::ptr::null::<f32>(); 16];
        let b_stride = c_in * nr;
        let u = self.packed.as_slice().as_ptr();
        for e in 0..FREQS {
            for (i0, mr) in even_tiles(0..nt, mr_full) {
                // SAFETY: rows i0..i0 + mr of position e are inside V; panels q0.. of position e hold c_in rows
                // of nr floats (zero-padded columns); the M rows are inside the scratch (caller contract).
                unsafe {
                    for (i, r) in rows.iter_mut().enumerate().take(mr) {
                        *r = v.add(e * ve + (i0 + i) * ldv);
                    }
                    let tile = GemmTile {
                        mr,
                        nr: ncols,
                        k: c_in,
                        segs: 1,
                        a: &rows[..mr],
                        csa: 1,
                        rsa: 0,
                        b: u.add(e * self.ue + q0 * b_stride),
                        ldb: nr,
                        b_stride,
                        bias_col: core::ptr::null(),
                        bias_row: core::ptr::null(),
                        c: m.add(e * me + i0 * ldm),
                        rsc: ldm,
                        res: core::ptr::null(),
                        rsr: 0,
                        min: f32::NEG_INFINITY,
                        max: f32::INFINITY,
                        prefetch: Prefetch::None,
                    };
                    call_gemm(&self.gemm, tile);
                }
            }
        }
    }

    /// The 36 input positions of an NHWC tile: pointers into the input, or to the zero row for padding.
    ///
    /// # Safety
    /// `x` holds the whole NHWC input described by `p`.
    unsafe fn nhwc_rows(&self, p: &Conv2dParams, x: *const f32, t: Tile) -> [*const f32; FREQS] {
        core::array::from_fn(|pos| match t.input_pixel(p, pos) {
            // SAFETY: the pixel is inside the input, so its c_in channels are.
            Some((iy, ix)) => unsafe { x.add(((t.n * p.in_height + iy) * p.in_width + ix) * p.c_in) },
            None => self.zero.as_ptr(),
        })
    }

    /// Gathers an NCHW tile into `patch` as `[36][ldv]` (channels contiguous, zeros for padding) and returns the
    /// 36 position pointers into it.
    ///
    /// # Safety
    /// `x` holds the whole NCHW input described by `p`; `patch` holds at least `36 * ldv` floats.
    unsafe fn nchw_patch(
        &self,
        p: &Conv2dParams,
        x: *const f32,
        t: Tile,
        patch: &mut [f32],
        ldv: usize,
    ) -> [*const f32; FREQS] {
        let (h, w) = (p.in_height, p.in_width);
        let plane = h * w;
        let image = x.wrapping_add(t.n * p.c_in * plane);
        for pos in 0..FREQS {
            let dst = &mut patch[pos * ldv..][..p.c_in];
            match t.input_pixel(p, pos) {
                Some((iy, ix)) => {
                    // SAFETY: pixel (iy, ix) of every channel plane of image n is inside the input.
                    let src = unsafe { image.add(iy * w + ix) };
                    for (c, d) in dst.iter_mut().enumerate() {
                        // SAFETY: as above.
                        *d = unsafe { *src.add(c * plane) };
                    }
                }
                None => dst.fill(0.0),
            }
        }
        core::array::from_fn(|pos| patch[pos * ldv..].as_ptr())
    }

    /// Output transform and epilogue of one tile for channels `n0..n0 + ncols`.
    ///
    /// # Safety
    /// `y` holds the output and `res` is null or holds the residual (caller contract of [`Winograd::run`]); `m`
    /// holds the tile's M rows (`ncols` padded to the lane count, `me` apart).
    #[allow(clippy::too_many_arguments)]
    unsafe fn output(
        &self,
        p: &Conv2dParams,
        s: &Shape,
        t: Tile,
        m: *const f32,
        me: usize,
        n0: usize,
        ncols: usize,
        y: *mut f32,
        res: *const f32,
    ) {
        let (oh, ow) = (s.out_height, s.out_width);
        let (offs, cs) = match self.layout {
            Layout::Nhwc => (
                core::array::from_fn(|px| {
                    t.output_offset(px, oh, ow, |oy, ox| ((t.n * oh + oy) * ow + ox) * p.c_out + n0)
                }),
                1,
            ),
            Layout::Nchw => (
                core::array::from_fn(|px| {
                    t.output_offset(px, oh, ow, |oy, ox| ((t.n * p.c_out + n0) * oh + oy) * ow + ox)
                }),
                oh * ow,
            ),
        };
        let offs: [Option<usize>; TILE * TILE] = offs;
        // SAFETY: every offset is a valid output pixel's channel n0, so channels n0..n0 + ncols at stride cs are
        // inside the output (and the residual, which has the output's shape).
        unsafe {
            let yptr: [*mut f32; TILE * TILE] =
                core::array::from_fn(|i| offs[i].map_or(core::ptr::null_mut(), |o| y.add(o)));
            let rptr: [*const f32; TILE * TILE] = core::array::from_fn(|i| match offs[i] {
                Some(o) if !res.is_null() => res.add(o),
                _ => core::ptr::null(),
            });
            let bias = self.bias.as_ref().map_or(core::ptr::null(), |b| b.as_ptr().add(n0));
            let ot = OutputTile {
                m,
                me,
                c: ncols,
                bias,
                y: &yptr,
                res: if res.is_null() { None } else { Some(&rptr) },
                cs,
                min: p.output_min,
                max: p.output_max,
            };
            (self.wino.output)(&ot);
        }
    }
}

/// A tile's image and tile coordinates.
#[derive(Clone, Copy, Debug)]
struct Tile {
    n: usize,
    ty: usize,
    tx: usize,
}

impl Tile {
    fn of(t: usize, th: usize, tw: usize) -> Tile {
        Tile { n: t / (th * tw), ty: (t / tw) % th, tx: t % tw }
    }

    /// The input pixel at tile position `pos` (row-major 6x6), or `None` for padding.
    #[inline]
    fn input_pixel(self, p: &Conv2dParams, pos: usize) -> Option<(usize, usize)> {
        let iy = (self.ty * TILE + pos / ALPHA).checked_sub(p.pad_top)?;
        let ix = (self.tx * TILE + pos % ALPHA).checked_sub(p.pad_left)?;
        (iy < p.in_height && ix < p.in_width).then_some((iy, ix))
    }

    /// `f(oy, ox)` for output pixel `px` (row-major 4x4) of the tile, or `None` past the output's edge.
    #[inline]
    fn output_offset(self, px: usize, oh: usize, ow: usize, f: impl Fn(usize, usize) -> usize) -> Option<usize> {
        let (oy, ox) = (self.ty * TILE + px / TILE, self.tx * TILE + px % TILE);
        (oy < oh && ox < ow).then(|| f(oy, ox))
    }
}
