//! The comparison baseline: im2col + the `gemm` crate's SGEMM, per group, bias included, in either layout.
//!
//! NHWC: `Y[pixels, c_out] = col[pixels, K] * W[K, c_out]` with `K = kh * kw * c_in/groups` (OHWI weights read
//! in place). NCHW: per image, `Y[c_out, pixels] = W[c_out, K] * col[K, pixels]` (OIHW weights read in place).
//! A 1x1, stride-1, unpadded layer skips im2col: the input itself is the GEMM operand. The bias is written into
//! the output first and the GEMM accumulates onto it.

use rayon::prelude::*;
use simdconv::{Conv2dParams, Layout, Shape};
use std::collections::HashMap;
use std::sync::Arc;

/// Rayon pools by thread count, shared by every baseline of a run.
#[derive(Default)]
pub struct Pools(HashMap<usize, Arc<rayon::ThreadPool>>);

impl Pools {
    fn get(&mut self, threads: usize) -> Arc<rayon::ThreadPool> {
        self.0
            .entry(threads)
            .or_insert_with(|| {
                Arc::new(rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("cannot start threads"))
            })
            .clone()
    }
}

/// One layer's baseline: parameters, its own copy of weights and bias, and the im2col buffer.
pub struct Baseline {
    p: Conv2dParams,
    s: Shape,
    w: Vec<f32>,
    b: Vec<f32>,
    col: Vec<f32>,
    direct: bool,
}

impl Baseline {
    /// `w` in OHWI for NHWC, OIHW for NCHW (what `Row::params` asks for); `b` has `c_out` values.
    pub fn new(p: &Conv2dParams, w: &[f32], b: &[f32]) -> Baseline {
        let s = p.validate().expect("validated before");
        let direct = p.kernel_height == 1
            && p.kernel_width == 1
            && p.stride_height == 1
            && p.stride_width == 1
            && p.pad_top + p.pad_left + p.pad_bottom + p.pad_right == 0;
        let k = p.kernel_height * p.kernel_width * s.cin_g;
        let pixels = s.out_height * s.out_width * if p.layout == Layout::Nhwc { p.batch } else { 1 };
        let col = if direct { Vec::new() } else { vec![0.0; pixels * k] };
        Baseline { p: *p, s, w: w.to_vec(), b: b.to_vec(), col, direct }
    }

    /// Computes the layer into `y` on `threads` threads.
    pub fn run(&mut self, x: &[f32], y: &mut [f32], threads: usize, pools: &mut Pools) {
        assert!(x.len() == self.s.input_len && y.len() == self.s.output_len);
        if threads <= 1 {
            self.run_on(x, y, gemm::Parallelism::None);
        } else {
            let pool = pools.get(threads);
            pool.install(|| self.run_on(x, y, gemm::Parallelism::Rayon(threads)));
        }
    }

    fn run_on(&mut self, x: &[f32], y: &mut [f32], par: gemm::Parallelism) {
        match self.p.layout {
            Layout::Nhwc => self.run_nhwc(x, y, par),
            Layout::Nchw => self.run_nchw(x, y, par),
        }
    }

    fn run_nhwc(&mut self, x: &[f32], y: &mut [f32], par: gemm::Parallelism) {
        let (p, s) = (&self.p, &self.s);
        let k = p.kernel_height * p.kernel_width * s.cin_g;
        let m = p.batch * s.out_height * s.out_width;
        for px in y.chunks_exact_mut(p.c_out) {
            px.copy_from_slice(&self.b);
        }
        for g in 0..p.groups {
            let (lhs, lhs_rs) = if self.direct {
                (x[g * s.cin_g..].as_ptr(), p.c_in)
            } else {
                im2col_nhwc(p, s, x, g, &mut self.col, par);
                (self.col.as_ptr(), k)
            };
            let rhs = self.w[g * s.cout_g * k..].as_ptr();
            let dst = y[g * s.cout_g..].as_mut_ptr();
            // SAFETY: lhs is m x k with row stride lhs_rs inside x or col; rhs is the k x cout_g transpose of the
            // group's OHWI weights (column stride k) inside w; dst is m x cout_g with row stride c_out inside y.
            unsafe {
                gemm::gemm(
                    m,
                    s.cout_g,
                    k,
                    dst,
                    1,
                    p.c_out as isize,
                    true,
                    lhs,
                    1,
                    lhs_rs as isize,
                    rhs,
                    k as isize,
                    1,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                )
            }
        }
    }

    fn run_nchw(&mut self, x: &[f32], y: &mut [f32], par: gemm::Parallelism) {
        let (p, s) = (&self.p, &self.s);
        let k = p.kernel_height * p.kernel_width * s.cin_g;
        let ohw = s.out_height * s.out_width;
        let hw = p.in_height * p.in_width;
        for (plane, &bias) in y.chunks_exact_mut(ohw).zip(self.b.iter().cycle()) {
            plane.fill(bias);
        }
        for n in 0..p.batch {
            for g in 0..p.groups {
                let rhs = if self.direct {
                    x[(n * p.c_in + g * s.cin_g) * hw..].as_ptr()
                } else {
                    im2col_nchw(p, s, &x[n * p.c_in * hw..(n + 1) * p.c_in * hw], g, &mut self.col, par);
                    self.col.as_ptr()
                };
                let lhs = self.w[g * s.cout_g * k..].as_ptr();
                let dst = y[(n * p.c_out + g * s.cout_g) * ohw..].as_mut_ptr();
                // SAFETY: lhs is the group's cout_g x k OIHW weights (row stride k) inside w; rhs is k x ohw with
                // row stride ohw (hw == ohw when direct) inside x or col; dst is cout_g x ohw inside y.
                unsafe {
                    gemm::gemm(
                        s.cout_g,
                        ohw,
                        k,
                        dst,
                        1,
                        ohw as isize,
                        true,
                        lhs,
                        1,
                        k as isize,
                        rhs,
                        1,
                        ohw as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        par,
                    )
                }
            }
        }
    }
}

/// Input pixel `(y, x)` read by output `(oy, ox)` through tap `(ky, kx)`, or `None` in the padding.
#[inline]
fn tap(p: &Conv2dParams, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
    let iy = (oy * p.stride_height + ky * p.dilation_height).checked_sub(p.pad_top)?;
    let ix = (ox * p.stride_width + kx * p.dilation_width).checked_sub(p.pad_left)?;
    (iy < p.in_height && ix < p.in_width).then_some((iy, ix))
}

/// `col[pixel][(ky * kw + kx) * cin_g + i]` for group `g`, all images (matches OHWI weight order).
fn im2col_nhwc(p: &Conv2dParams, s: &Shape, x: &[f32], g: usize, col: &mut [f32], par: gemm::Parallelism) {
    let k = p.kernel_height * p.kernel_width * s.cin_g;
    let fill = |(pix, row): (usize, &mut [f32])| {
        let n = pix / (s.out_height * s.out_width);
        let (oy, ox) = ((pix / s.out_width) % s.out_height, pix % s.out_width);
        for ky in 0..p.kernel_height {
            for kx in 0..p.kernel_width {
                let dst = &mut row[(ky * p.kernel_width + kx) * s.cin_g..][..s.cin_g];
                match tap(p, oy, ox, ky, kx) {
                    Some((iy, ix)) => {
                        let at = ((n * p.in_height + iy) * p.in_width + ix) * p.c_in + g * s.cin_g;
                        dst.copy_from_slice(&x[at..at + s.cin_g]);
                    }
                    None => dst.fill(0.0),
                }
            }
        }
    };
    match par {
        gemm::Parallelism::None => col.chunks_exact_mut(k).enumerate().for_each(fill),
        _ => col.par_chunks_exact_mut(k).enumerate().for_each(fill),
    }
}

/// `col[(i * kh + ky) * kw + kx][pixel]` for group `g` of one image (matches OIHW weight order).
fn im2col_nchw(p: &Conv2dParams, s: &Shape, x: &[f32], g: usize, col: &mut [f32], par: gemm::Parallelism) {
    let ohw = s.out_height * s.out_width;
    let taps = p.kernel_height * p.kernel_width;
    let fill = |(kk, row): (usize, &mut [f32])| {
        let (i, ky, kx) = (kk / taps, (kk % taps) / p.kernel_width, kk % p.kernel_width);
        let plane = &x[(g * s.cin_g + i) * p.in_height * p.in_width..][..p.in_height * p.in_width];
        for oy in 0..s.out_height {
            for ox in 0..s.out_width {
                row[oy * s.out_width + ox] = tap(p, oy, ox, ky, kx).map_or(0.0, |(iy, ix)| plane[iy * p.in_width + ix]);
            }
        }
    };
    let col = &mut col[..taps * s.cin_g * ohw];
    match par {
        gemm::Parallelism::None => col.chunks_exact_mut(ohw).enumerate().for_each(fill),
        _ => col.par_chunks_exact_mut(ohw).enumerate().for_each(fill),
    }
}
