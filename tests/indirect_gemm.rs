//! Sweeps of the NHWC indirect-GEMM row modes (one pointer per kernel row, per tap, or a gathered im2col row)
//! and of the NCHW im2col panel packing (row runs cut by the borders, strided copies) against
//! `simdconv::reference`: every border position, stride, dilation and asymmetric padding that changes which
//! pointers a micro-tile row gets or which columns a packed run copies, on every ISA under test.

mod common;

use common::{Clamp, Residual, check_isas, isas};
use simdconv::{Conv2d, Conv2dParams, Layout};

fn algorithm(p: &Conv2dParams) -> &'static str {
    let s = p.validate().unwrap();
    let w = common::data(s.weight_len, 3);
    Conv2d::new(*p, &w, None).unwrap().kernel_choice().algorithm
}

/// `(c_in, c_out, groups, dilation)` per row mode, and the algorithm name each must report.
const MODES: [(usize, usize, usize, usize, &str); 6] = [
    // One pointer per kernel row: groups 1, dilation width 1, kw * c_in >= 8.
    (3, 5, 1, 1, "indirect-gemm-nhwc"),
    (17, 33, 1, 1, "indirect-gemm-nhwc"),
    // One pointer per tap: dilated rows, groups with c_in / groups >= 8, or c_in >= 64.
    (64, 9, 1, 1, "indirect-gemm-nhwc"),
    (9, 7, 1, 2, "indirect-gemm-nhwc"),
    (16, 6, 2, 1, "indirect-gemm-nhwc"),
    // Gathered im2col rows: segments shorter than 8 floats.
    (6, 9, 3, 1, "im2col-gemm-nhwc"),
];

#[test]
fn every_row_mode_matches_reference_at_every_border() {
    let list = isas();
    let mut n = 0;
    for (ci, co, g, dil) in MODES.iter().map(|m| (m.0, m.1, m.2, m.3)) {
        for (kh, kw) in [(3, 3), (1, 3), (3, 1), (2, 5), (5, 2), (7, 7)] {
            for stride in 1..=3 {
                for (pt, pl, pb, pr) in [(0, 0, 0, 0), (1, 1, 1, 1), (0, 2, 1, 0), (2, 0, 0, 3)] {
                    for w in [1usize, 2, 5, 13] {
                        let need = |k: usize, a: usize, b: usize| ((k - 1) * dil + 1).saturating_sub(a + b).max(1);
                        let p = Conv2dParams::new(need(kh, pt, pb).max(4), need(kw, pl, pr).max(w), ci, co, kh, kw)
                            .stride(stride, stride)
                            .dilation(dil, dil)
                            .padding(pt, pl, pb, pr)
                            .groups(g)
                            .layout(Layout::Nhwc);
                        if p.validate().is_err() {
                            continue;
                        }
                        let clamp = if n % 3 == 0 { Clamp::Range(-0.5, 0.75) } else { Clamp::None };
                        let residual = [Residual::None, Residual::Separate, Residual::InPlace][n % 3];
                        check_isas(&p, &list, n % 2 == 0, residual, clamp, 1 + n % 2, n as u64)
                            .unwrap_or_else(|e| panic!("{e}"));
                        n += 1;
                    }
                }
            }
        }
    }
    assert!(n > 500, "only {n} cases ran");
}

#[test]
fn row_modes_are_chosen_as_documented() {
    for (ci, co, g, dil, name) in MODES {
        let p = Conv2dParams::new(9, 9, ci, co, 3, 3).dilation(dil, dil).groups(g);
        assert_eq!(algorithm(&p), name, "c_in {ci}, groups {g}, dilation {dil}");
    }
    assert_eq!(algorithm(&Conv2dParams::new(9, 9, 8, 8, 1, 1)), "pointwise-nhwc");
}

/// A batch of images: kernel-row pointers never run from one image into the next.
#[test]
fn batches_and_stems() {
    let list = isas();
    for (h, ci, co, k, s, pad) in [(17, 3, 32, 3, 2, 1), (23, 3, 64, 7, 2, 3), (9, 4, 20, 3, 1, 1)] {
        let p = Conv2dParams::new(h, h, ci, co, k, k).batch(3).stride(s, s).padding(pad, pad, pad, pad);
        check_isas(&p, &list, true, Residual::Separate, Clamp::Relu6, 2, 11).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// 3-channel stems wide enough for full micro-tiles inside the input on one output row, which run the kernels'
/// strided entries (kernel rows `stride_w * 3` floats apart): widths around one and two tiles of every ISA's
/// kernel, strides 1 and 2, square and non-square kernels, symmetric and asymmetric padding, a dilated height,
/// output channels around the vector widths, batches, all with bias, residual and clamp.
#[test]
fn strided_stem_rows_match_reference() {
    let list = isas();
    let mut n = 0u64;
    for (kh, kw, dil_h) in [(3, 3, 1), (7, 7, 1), (5, 3, 2)] {
        for stride in [1, 2] {
            for (pt, pl, pb, pr) in [(1, 1, 1, 1), (0, 0, 0, 0), (2, 3, 0, 1)] {
                for out_w in [5, 15, 16, 17, 33, 40] {
                    let in_w = (out_w - 1) * stride + kw - pl - pr;
                    let c_out = [16, 32, 20, 48, 7][n as usize % 5];
                    let p = Conv2dParams::new(9, in_w, 3, c_out, kh, kw)
                        .batch(1 + n as usize % 2)
                        .stride(stride, stride)
                        .dilation(dil_h, 1)
                        .padding(pt, pl, pb, pr);
                    assert_eq!(p.validate().unwrap().out_width, out_w);
                    let clamp = [Clamp::Relu6, Clamp::None, Clamp::Range(-0.5, 0.75)][n as usize % 3];
                    let residual = [Residual::None, Residual::Separate, Residual::InPlace][n as usize % 3];
                    check_isas(&p, &list, n % 4 != 3, residual, clamp, 1 + n as usize % 2, 100 + n)
                        .unwrap_or_else(|e| panic!("{e}"));
                    n += 1;
                }
            }
        }
    }
}

/// NCHW im2col panels: row runs cut by the left or right border (zeros outside, a copy inside), runs wholly
/// in the padding, strides 1-3 (the stride-2 copy has its own code) and dilation, widths that split runs over
/// panels, with bias, residual and clamp.
#[test]
fn nchw_packed_runs_at_every_border() {
    let list = isas();
    let mut n = 0u64;
    for (kh, kw, dil) in [(3, 3, 1), (1, 5, 1), (3, 3, 2), (7, 7, 1)] {
        for stride in 1..=3 {
            for (pt, pl, pb, pr) in [(1, 1, 1, 1), (0, 3, 1, 0), (2, 0, 0, 4), (0, 0, 0, 0)] {
                for in_w in [3usize, 8, 21, 40] {
                    let span = (kw - 1) * dil + 1;
                    if in_w + pl + pr < span {
                        continue;
                    }
                    let c_in = [3, 5, 1][n as usize % 3];
                    let p = Conv2dParams::new(6, in_w, c_in, 4 + n as usize % 5, kh, kw)
                        .stride(stride, stride)
                        .dilation(dil, dil)
                        .padding(pt, pl, pb, pr)
                        .batch(1 + n as usize % 2)
                        .layout(Layout::Nchw);
                    if p.validate().is_err() {
                        continue;
                    }
                    let clamp = [Clamp::None, Clamp::Relu6, Clamp::Range(-0.5, 0.75)][n as usize % 3];
                    let residual = [Residual::Separate, Residual::None, Residual::InPlace][n as usize % 3];
                    check_isas(&p, &list, n.is_multiple_of(2), residual, clamp, 1 + n as usize % 2, 300 + n)
                        .unwrap_or_else(|e| panic!("{e}"));
                    n += 1;
                }
            }
        }
    }
    assert!(n > 100, "only {n} cases ran");
}
