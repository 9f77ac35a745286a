//! Named regression tests: every shrunk property-test failure is kept here, with hand-picked tricky shapes.

mod common;

use common::{Clamp, Residual, check_isas, isas};
use simdconv::{Conv2dParams, Layout, WeightLayout};

fn all(p: Conv2dParams, bias: bool, residual: Residual, clamp: Clamp, threads: usize) {
    check_isas(&p, &isas(), bias, residual, clamp, threads, 1).unwrap_or_else(|e| panic!("{e}"));
}

/// The dilated kernel exactly covers the padded input: a single output pixel.
#[test]
fn dilated_kernel_fills_padded_input() {
    for layout in [Layout::Nhwc, Layout::Nchw] {
        let p = Conv2dParams::new(5, 4, 3, 9, 3, 2).dilation(3, 3).padding(1, 0, 1, 0).layout(layout);
        assert_eq!(p.validate().map(|s| (s.out_height, s.out_width)), Ok((1, 1)));
        all(p, true, Residual::Separate, Clamp::Relu6, 1);
    }
}

/// Stride larger than the kernel with more padding than input: some outputs see only padding (bias alone).
#[test]
fn outputs_that_see_only_padding() {
    for layout in [Layout::Nhwc, Layout::Nchw] {
        for (kh, kw) in [(1, 1), (2, 2)] {
            let p = Conv2dParams::new(2, 3, 5, 7, kh, kw).stride(3, 3).padding(3, 3, 3, 3).layout(layout);
            all(p, true, Residual::None, Clamp::None, 1);
            all(p, false, Residual::InPlace, Clamp::Range(-0.1, 0.1), 2);
        }
    }
}

/// Depthwise with a channel multiplier and an output-channel count one past every tile width.
#[test]
fn depthwise_multiplier_odd_tiles() {
    for layout in [Layout::Nhwc, Layout::Nchw] {
        for wl in [WeightLayout::Oihw, WeightLayout::Ohwi, WeightLayout::Hwio] {
            let p =
                Conv2dParams::new(7, 6, 11, 33, 3, 3).groups(11).padding(1, 2, 0, 1).layout(layout).weight_layout(wl);
            all(p, true, Residual::Separate, Clamp::Relu, 1);
        }
    }
}

/// Batched, grouped NCHW with a pixel count one past a vector and asymmetric everything.
#[test]
fn batched_grouped_asymmetric() {
    for layout in [Layout::Nhwc, Layout::Nchw] {
        let p = Conv2dParams::new(3, 17, 6, 9, 2, 4)
            .batch(3)
            .groups(3)
            .stride(1, 2)
            .dilation(2, 1)
            .padding(0, 3, 2, 1)
            .layout(layout)
            .weight_layout(WeightLayout::Hwio);
        all(p, false, Residual::InPlace, Clamp::Range(-0.5, 0.5), 2);
    }
}

/// 1x1, one input channel, one output channel, a single pixel: the smallest tile of every kernel.
#[test]
fn single_element() {
    for layout in [Layout::Nhwc, Layout::Nchw] {
        let p = Conv2dParams::new(1, 1, 1, 1, 1, 1).layout(layout);
        all(p, true, Residual::Separate, Clamp::None, 1);
        all(p, false, Residual::None, Clamp::Relu6, 2);
    }
}

/// Large enough to run on several threads (each gets at least 0.2 MFLOP), with a tail in every dimension.
#[test]
fn threaded_with_tails() {
    for layout in [Layout::Nhwc, Layout::Nchw] {
        let p = Conv2dParams::new(37, 29, 19, 45, 3, 3).padding(1, 1, 1, 1).layout(layout);
        assert!(p.validate().unwrap().flops > 3_000_000);
        all(p, true, Residual::InPlace, Clamp::Relu6, 2);
        all(p, false, Residual::Separate, Clamp::None, 0);
    }
}

/// Fuzz find: the general NCHW depthwise path asked pulp for the empty lane range 16..16 on AVX-512, whose mask
/// table has no row for it (an index panic). Row widths around multiples of 16, kernels the specialised paths
/// don't take.
#[test]
fn depthwise_nchw_general_row_widths_around_vector_multiples() {
    for w in [15, 16, 17, 31, 32, 33, 47, 48, 49] {
        for (kh, kw, d) in [(2, 2, 1), (3, 3, 2), (1, 7, 1)] {
            let p = Conv2dParams::new(3, w, 2, 2, kh, kw)
                .dilation(d, d)
                .padding(0, kw / 2, 0, kw / 2)
                .groups(2)
                .layout(Layout::Nchw)
                .weight_layout(WeightLayout::Oihw);
            if p.validate().is_ok() {
                all(p, true, Residual::None, Clamp::None, 1);
            }
        }
    }
}

/// Fuzz finds: the minimal AVX-512 repro of the empty-mask panic above, and a depthwise NCHW layer whose huge
/// stride once sized a per-plan buffer by the stride (16 GiB for `stride_width = u32::MAX`).
#[test]
fn depthwise_nchw_wide_padding_and_huge_stride() {
    let p = Conv2dParams::new(1, 1, 9, 9, 1, 1)
        .batch(2)
        .padding(0, 17, 0, 3)
        .groups(9)
        .layout(Layout::Nchw)
        .weight_layout(WeightLayout::Oihw)
        .clamp(0.0, 6.0);
    all(p, true, Residual::None, Clamp::None, 1);
    let p = Conv2dParams::new(4, 6, 3, 3, 5, 5)
        .stride(1, u32::MAX as usize)
        .padding(2, 2, 2, 2)
        .groups(3)
        .layout(Layout::Nchw)
        .weight_layout(WeightLayout::Oihw);
    all(p, true, Residual::None, Clamp::None, 1);
}

/// Fuzz find: a depthwise NCHW layer whose output rows read input rows 65536 apart (stride and dilation) once sized
/// its per-task row buffer by that span (34 GB for one output row: an out-of-memory error on valid buffers). The
/// plan now takes smaller row blocks or, as here, the GEMM path.
#[test]
fn depthwise_nchw_rows_far_apart() {
    let p = Conv2dParams::new(65_537, 7, 2, 2, 2, 2)
        .stride(65_536, 1)
        .dilation(65_536, 1)
        .padding(2, 65_536, 65_536, 65_536)
        .groups(2)
        .layout(Layout::Nchw)
        .weight_layout(WeightLayout::Ohwi)
        .clamp(f32::NEG_INFINITY, 6.0);
    all(p, true, Residual::None, Clamp::None, 2);
    // Output rows 2500 input rows apart: blocks of seven output rows fit the bound, eight would not.
    let p = Conv2dParams::new(20_000, 256, 1, 1, 3, 3).stride(2_500, 1).padding(1, 1, 1, 1).layout(Layout::Nchw);
    all(p, true, Residual::Separate, Clamp::Relu6, 2);
}
