//! NHWC driver: `Y[pixels, c_out] = X[pixels, K] * W[K, c_out]` per group, with X rows read in place (1x1) or
//! gathered per micro-tile (im2col rows for every other kernel), weights from packed NR-wide panels.

use super::{AlignedBuf, SendPtr, call_gemm, choose_blocks, for_each_tile, with_scratch};
use crate::error::Result;
use crate::pack::pack_panels;
use crate::params::{Conv2dParams, Shape};
use crate::ukernel::gemm::{GemmKernel, GemmTile};

/// Plan state of the NHWC GEMM path.
#[derive(Debug)]
pub(crate) struct NhwcGemm {
    kernel: GemmKernel,
    packed: AlignedBuf,
    panel_stride: usize,
    group_stride: usize,
    /// 1x1 kernel: A rows are input pixels read in place (or the zero row for padding).
    direct: bool,
    /// 1x1, stride 1, no padding: output pixel `m` reads input pixel `m`.
    contiguous: bool,
    zero_row: Vec<f32>,
    k: usize,
}

impl NhwcGemm {
    pub fn new(p: &Conv2dParams, s: &Shape, kernel: GemmKernel, weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        let (packed, panel_stride, group_stride) = pack_panels(p, weights, bias, kernel.nr(), true)?;
        let direct = p.kernel_height == 1 && p.kernel_width == 1;
        let contiguous = direct
            && s.out_height == p.in_height
            && s.out_width == p.in_width
            && p.stride_height == 1
            && p.stride_width == 1;
        let mut zero_row = Vec::new();
        zero_row.try_reserve_exact(s.cin_g)?;
        zero_row.resize(if direct { s.cin_g } else { 0 }, 0.0);
        Ok(NhwcGemm {
            kernel,
            packed,
            panel_stride,
            group_stride,
            direct,
            contiguous,
            zero_row,
            k: s.cin_g * p.kernel_height * p.kernel_width,
        })
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
        let (mb, nb) = choose_blocks(m_total, s.cout_g, self.k, mr_full, nr_full, p.groups, threads);
        let (mcount, ncount) = (mb.count(), nb.count());
        let (xp, yp, rp) = (SendPtr(x as *mut f32), SendPtr(y), SendPtr(res as *mut f32));
        for_each_tile(p.groups * mcount * ncount, threads, |t| {
            let g = t / (mcount * ncount);
            let (mi, ni) = ((t / ncount) % mcount, t % ncount);
            let scratch_len = if self.direct { 0 } else { mr_full * self.k };
            with_scratch(scratch_len, |scratch| {
                let mut rows = [core::ptr::null::<f32>(); 16];
                let (mrange, nrange) = (mb.range(mi), nb.range(ni));
                let mut m0 = mrange.start;
                while m0 < mrange.end {
                    let mr = mr_full.min(mrange.end - m0);
                    let mut pix = Pixel::of(m0, s);
                    for (i, row) in rows.iter_mut().enumerate().take(mr) {
                        *row = if self.contiguous {
                            // SAFETY: contiguous layout: output pixel m reads input pixel m, inside the input.
                            unsafe { xp.get().add((m0 + i) * p.c_in + g * s.cin_g) }
                        } else if self.direct {
                            self.direct_row(p, s, xp.get(), g, pix)
                        } else {
                            let dst = &mut scratch[i * self.k..(i + 1) * self.k];
                            // SAFETY: `x` holds the whole input (caller contract).
                            unsafe { im2col_row(p, s, xp.get(), g, pix, dst) };
                            dst.as_ptr()
                        };
                        pix.advance(s);
                    }
                    let n0 = nrange.start;
                    let panel =
                        self.packed.as_slice()[g * self.group_stride + (n0 / nr_full) * self.panel_stride..].as_ptr();
                    let off = m0 * p.c_out + g * s.cout_g + n0;
                    // SAFETY: the panels of columns n0..nrange.end hold bias + k rows of nr_full floats each, a
                    // panel_stride apart; rows point at k readable floats; output/residual offsets address rows
                    // m0..m0+mr, columns n0..nrange.end of this group, inside the output, written by this tile only.
                    unsafe {
                        let tile = GemmTile {
                            mr,
                            nr: nrange.len(),
                            k: self.k,
                            segs: 1,
                            a: &rows[..mr],
                            csa: 1,
                            b: panel.add(nr_full),
                            ldb: nr_full,
                            b_stride: self.panel_stride,
                            bias_col: panel,
                            bias_row: core::ptr::null(),
                            c: yp.get().add(off),
                            rsc: p.c_out,
                            res: if rp.get().is_null() { core::ptr::null() } else { rp.get().add(off) },
                            rsr: p.c_out,
                            min: p.output_min,
                            max: p.output_max,
                        };
                        call_gemm(kern, tile);
                    }
                    m0 += mr;
                }
                Ok(())
            })
        })
    }

    /// Pointer to the `cin_g` input channels of group `g` that output pixel `m` reads (1x1 kernels).
    fn direct_row(&self, p: &Conv2dParams, s: &Shape, x: *const f32, g: usize, pix: Pixel) -> *const f32 {
        let Pixel { n, oy, ox } = pix;
        let iy = (oy * p.stride_height) as isize - p.pad_top as isize;
        let ix = (ox * p.stride_width) as isize - p.pad_left as isize;
        if iy < 0 || ix < 0 || iy >= p.in_height as isize || ix >= p.in_width as isize {
            return self.zero_row.as_ptr();
        }
        let off = ((n * p.in_height + iy as usize) * p.in_width + ix as usize) * p.c_in + g * s.cin_g;
        // SAFETY: (n, iy, ix) is inside the input, so `off + cin_g <= input_len`.
        unsafe { x.add(off) }
    }
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
            self.ox = 0;
            self.oy += 1;
            if self.oy == s.out_height {
                self.oy = 0;
                self.n += 1;
            }
        }
    }
}
