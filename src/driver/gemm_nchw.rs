//! NCHW driver, native: `Y[c_out, pixels] = W[c_out, K] * X[K, pixels]` per image and group. Weights are the
//! broadcast operand (packed MR-row panels), pixels sit in the SIMD lanes; a K x NR input panel is packed per
//! pixel block (a plain row copy for 1x1, an im2col gather otherwise) so the kernel streams one contiguous panel
//! instead of K rows a whole plane apart, and edges are zero-padded in our own buffer.

use super::{AlignedBuf, SendPtr, choose_blocks, for_each_tile};
use crate::error::Result;
use crate::pack::pack_panels;
use crate::params::{Conv2dParams, Shape};
use crate::ukernel::gemm::{GemmKernel, GemmTile};

/// Plan state of the NCHW GEMM path.
#[derive(Debug)]
pub(crate) struct NchwGemm {
    kernel: GemmKernel,
    packed: AlignedBuf,
    panel_stride: usize,
    group_stride: usize,
    k: usize,
}

impl NchwGemm {
    pub fn new(p: &Conv2dParams, s: &Shape, kernel: GemmKernel, weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        let (packed, panel_stride, group_stride) = pack_panels(p, weights, bias, kernel.mr, false)?;
        Ok(NchwGemm { kernel, packed, panel_stride, group_stride, k: s.cin_g * p.kernel_height * p.kernel_width })
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
        let kern = &self.kernel;
        let (mr_full, nr_full) = (kern.mr, kern.nr());
        let plane = s.out_height * s.out_width;
        // Pixels play the role of columns (n), output channels of rows (m).
        let (cb, pb) = choose_blocks(s.cout_g, plane, self.k, mr_full, nr_full, p.batch * p.groups, threads);
        let (ccount, pcount) = (cb.count(), pb.count());
        let (xp, yp, rp) = (SendPtr(x as *mut f32), SendPtr(y), SendPtr(res as *mut f32));
        for_each_tile(p.batch * p.groups * pcount * ccount, threads, |t| {
            let (ng, rest) = (t / (pcount * ccount), t % (pcount * ccount));
            let (n, g) = (ng / p.groups, ng % p.groups);
            let (pi, ci) = (rest / ccount, rest % ccount);
            let (prange, crange) = (pb.range(pi), cb.range(ci));
            let panels = prange.len().div_ceil(nr_full);
            let mut bufs = AlignedBuf::zeroed(panels * self.k * nr_full)?;
            let bpanels = bufs.as_mut_slice();
            for q in 0..panels {
                let p0 = prange.start + q * nr_full;
                let np = nr_full.min(prange.end - p0);
                // SAFETY: `x` holds the whole input (caller contract).
                unsafe {
                    pack_input_panel(
                        p,
                        s,
                        xp.get(),
                        n,
                        g,
                        p0,
                        np,
                        nr_full,
                        &mut bpanels[q * self.k * nr_full..][..self.k * nr_full],
                    )
                };
            }
            let mut rows = [core::ptr::null::<f32>(); 16];
            for q in 0..panels {
                let p0 = prange.start + q * nr_full;
                let np = nr_full.min(prange.end - p0);
                let bpanel = bpanels[q * self.k * nr_full..].as_ptr();
                let mut c0 = crange.start;
                while c0 < crange.end {
                    let mr = mr_full.min(crange.end - c0);
                    let wpanel =
                        self.packed.as_slice()[g * self.group_stride + (c0 / mr_full) * self.panel_stride..].as_ptr();
                    for (i, r) in rows.iter_mut().enumerate().take(mr) {
                        // SAFETY: the panel holds mr_full bias values then k rows of mr_full weights.
                        *r = unsafe { wpanel.add(mr_full + i) };
                    }
                    let off = (n * p.c_out + g * s.cout_g + c0) * plane + p0;
                    // SAFETY: A rows step by mr_full through k packed rows; B is our k x nr_full panel; output and
                    // residual offsets address channels c0..c0+mr, pixels p0..p0+np of image n, inside the output,
                    // written by this tile only.
                    unsafe {
                        let tile = GemmTile {
                            mr,
                            nr: np,
                            k: self.k,
                            a: &rows[..mr],
                            csa: mr_full,
                            b: bpanel,
                            ldb: nr_full,
                            bias_col: core::ptr::null(),
                            bias_row: wpanel,
                            c: yp.get().add(off),
                            rsc: plane,
                            res: if rp.get().is_null() { core::ptr::null() } else { rp.get().add(off) },
                            rsr: plane,
                            min: p.output_min,
                            max: p.output_max,
                        };
                        (kern.select)(mr, np.div_ceil(kern.lanes))(&tile);
                    }
                    c0 += mr;
                }
            }
            Ok(())
        })
    }
}

/// Packs `X[k, p0 .. p0 + np]` of image `n`, group `g` into `dst[k][nr_full]` (k = (ci, ky, kx)), zeros elsewhere.
///
/// # Safety
/// `x` holds the whole NCHW input described by `p`.
#[allow(clippy::too_many_arguments)]
unsafe fn pack_input_panel(
    p: &Conv2dParams,
    s: &Shape,
    x: *const f32,
    n: usize,
    g: usize,
    p0: usize,
    np: usize,
    nr_full: usize,
    dst: &mut [f32],
) {
    let (h, w) = (p.in_height, p.in_width);
    let taps = p.kernel_height * p.kernel_width;
    let simple = taps == 1
        && p.stride_height == 1
        && p.stride_width == 1
        && p.pad_top == 0
        && p.pad_left == 0
        && s.out_width == w
        && s.out_height == h;
    for ci in 0..s.cin_g {
        // SAFETY: channel plane (n, g * cin_g + ci) lies inside the input.
        let src = unsafe { core::slice::from_raw_parts(x.add((n * p.c_in + g * s.cin_g + ci) * h * w), h * w) };
        if simple {
            let d = &mut dst[ci * nr_full..][..nr_full];
            d[..np].copy_from_slice(&src[p0..p0 + np]);
            d[np..].fill(0.0);
            continue;
        }
        for tap in 0..taps {
            let (ky, kx) = (tap / p.kernel_width, tap % p.kernel_width);
            let d = &mut dst[(ci * taps + tap) * nr_full..][..nr_full];
            for (j, v) in d.iter_mut().enumerate() {
                *v = 0.0;
                if j >= np {
                    continue;
                }
                let (oy, ox) = ((p0 + j) / s.out_width, (p0 + j) % s.out_width);
                let iy = (oy * p.stride_height + ky * p.dilation_height) as isize - p.pad_top as isize;
                let ix = (ox * p.stride_width + kx * p.dilation_width) as isize - p.pad_left as isize;
                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                    *v = src[iy as usize * w + ix as usize];
                }
            }
        }
    }
}
