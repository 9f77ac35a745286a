//! Grouped convolutions of a few channels per group (`grouped-nhwc`, `grouped-nchw`): which layers take the
//! kernels, sweeps of group sizes, channel tails, borders, strides, dilation and the fused epilogue in both layouts
//! on every ISA under test (`SIMDCONV_TEST_ISA`), thread-count determinism and a proptest, all against the f64
//! reference.
mod common;

use common::{Clamp, Residual};
use proptest::prelude::*;
use simdconv::ukernel::dwconv::{self, DwShape};
use simdconv::*;

/// SIMD lanes of `isa`'s grouped NHWC kernel.
fn lanes_of(isa: Isa) -> usize {
    dwconv::find(isa, Layout::Nhwc, DwShape::Grouped).expect("every ISA has a grouped NHWC kernel").lanes
}

/// Group sizes the grouped kernel takes on `isa` in `layout`: NHWC the divisors of its lanes from 2 on (none for
/// one lane), NCHW 2, 4, 8 and 16.
fn group_sizes(isa: Isa, layout: Layout) -> Vec<usize> {
    match layout {
        Layout::Nhwc => {
            let l = lanes_of(isa);
            (2..=l).filter(|g| l.is_multiple_of(*g)).collect()
        }
        Layout::Nchw => vec![2, 4, 8, 16],
    }
}

const LAYOUTS: [Layout; 2] = [Layout::Nhwc, Layout::Nchw];

fn algo_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Nhwc => "grouped-nhwc",
        Layout::Nchw => "grouped-nchw",
    }
}

/// A grouped NHWC layer of `groups` groups of `cg` channels, `k` square, OHWI weights.
fn grouped(h: usize, w: usize, cg: usize, groups: usize, k: usize) -> Conv2dParams {
    Conv2dParams::new(h, w, cg * groups, cg * groups, k, k).groups(groups).layout(Layout::Nhwc)
}

fn algorithm(p: &Conv2dParams, isa: Isa, finite: bool) -> &'static str {
    let s = p.validate().unwrap();
    let mut w = common::data(s.weight_len, 3);
    if !finite {
        w[0] = f32::NAN;
    }
    let conv = Conv2d::with_options(*p, &w, None, PlanOptions { isa: Some(isa), ..Default::default() }).unwrap();
    conv.kernel_choice().algorithm
}

#[test]
fn registry_has_grouped_kernels_for_every_isa() {
    for isa in Isa::ALL {
        if dwconv::all().all(|k| k.isa != isa) {
            continue;
        }
        for layout in LAYOUTS {
            let k = dwconv::find(isa, layout, DwShape::Grouped).unwrap_or_else(|| panic!("{isa} {layout:?}"));
            assert_eq!(k.nv, 1, "{}", k.name);
            assert!(k.name.contains("gconv") && !k.reads_in_place(), "{}", k.name);
        }
    }
}

#[test]
fn which_layers_take_the_grouped_kernels() {
    for isa in common::isas() {
        for layout in LAYOUTS {
            let want = algo_name(layout);
            let at = |p: Conv2dParams| p.layout(layout);
            for cg in group_sizes(isa, layout) {
                assert_eq!(algorithm(&at(grouped(6, 6, cg, 3, 3)), isa, true), want, "{isa} {cg}");
                assert_eq!(algorithm(&at(grouped(6, 6, cg, 3, 1)), isa, true), want, "{isa} {cg} 1x1");
                // Non-finite weights multiply the padding: the GEMM path, which does.
                assert_ne!(algorithm(&at(grouped(6, 6, cg, 3, 3)), isa, false), want, "{isa} {cg}");
                // Groups of unequal input and output channels take the GEMM path.
                let mut uneven = at(grouped(6, 6, cg, 3, 3));
                uneven.c_out = 2 * cg * 3;
                assert_ne!(algorithm(&uneven, isa, true), want, "{isa} {cg}");
            }
            // Groups that straddle vectors (NHWC), or are not a power of two up to 16 (NCHW): the GEMM path.
            let l = lanes_of(isa);
            for cg in [3, 12, l + 1, 2 * l.max(16)] {
                if !group_sizes(isa, layout).contains(&cg) {
                    assert_ne!(algorithm(&at(grouped(6, 6, cg, 3, 3)), isa, true), want, "{isa} {cg}");
                }
            }
            // One group is a plain convolution; one channel a group is depthwise.
            assert_ne!(algorithm(&at(grouped(6, 6, 4, 1, 3)), isa, true), want, "{isa}");
            let dw = if layout == Layout::Nhwc { "depthwise-nhwc" } else { "depthwise-nchw" };
            assert_eq!(algorithm(&at(grouped(6, 6, 1, 8, 3)), isa, true), dw, "{isa}");
        }
    }
}

/// Group counts around a vector of `cg`-channel groups: a partial vector, whole ones and a tail.
fn group_counts(isa: Isa, cg: usize) -> Vec<usize> {
    let per_vector = (lanes_of(isa) / cg).max(1);
    let mut v = vec![2, per_vector, per_vector + 1, 3 * per_vector - 1];
    v.retain(|&g| g >= 2);
    v.sort();
    v.dedup();
    v
}

/// Every group size, channel counts around the vector, widths 1..=k+3 with left/right paddings, strides 1 and 2,
/// 3x3 and 5x5 and 1x1, both layouts.
#[test]
fn sweep_groups_tails_and_borders() {
    for isa in common::isas() {
        for layout in LAYOUTS {
            for cg in group_sizes(isa, layout) {
                for groups in group_counts(isa, cg) {
                    for (k, st) in [(3, 1), (3, 2), (5, 1), (1, 1), (1, 2)] {
                        for size in 1..=k + 3 {
                            for a in 0..k {
                                for b in [0, k - 1] {
                                    let p = grouped(k + 1, size, cg, groups, k)
                                        .stride(st, st)
                                        .padding(1.min(k - 1), a, 0, b)
                                        .layout(layout);
                                    if p.validate().is_err() {
                                        continue;
                                    }
                                    common::check(&p, isa, true, Residual::None, Clamp::None, 1)
                                        .unwrap_or_else(|e| panic!("{e}"));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Row lengths around the kernels' outputs per step (NHWC: 4 pixels; NCHW: up to four vectors), with dilation,
/// asymmetric kernels and padding, batches, and the fused epilogue (bias, residual separate and in place, clamps).
#[test]
fn row_lengths_dilation_and_epilogue() {
    let epilogues = [
        (true, Residual::None, Clamp::None),
        (true, Residual::Separate, Clamp::Relu6),
        (false, Residual::InPlace, Clamp::Range(-0.25, 0.5)),
    ];
    for isa in common::isas() {
        let l = lanes_of(isa);
        for layout in LAYOUTS {
            let widths: Vec<usize> = match layout {
                Layout::Nhwc => (1..=2 * dwconv::generic::GROUPED_R + 3).collect(),
                Layout::Nchw => [1, 2, l - 1, l, l + 1, 2 * l + 1, 4 * l - 1, 4 * l, 4 * l + 1, 5 * l + 3]
                    .into_iter()
                    .filter(|&w| w >= 1)
                    .collect(),
            };
            for cg in group_sizes(isa, layout) {
                for &width in &widths {
                    for (i, &(bias, residual, clamp)) in epilogues.iter().enumerate() {
                        let p = Conv2dParams::new(5, width + 2, 3 * cg, 3 * cg, 3, 2)
                            .groups(3)
                            .batch(1 + i % 2)
                            .dilation(1 + i % 2, 1 + (i + 1) % 2)
                            .padding(1, 1, 0, i)
                            .layout(layout);
                        if p.validate().is_err() {
                            continue;
                        }
                        common::check(&p, isa, bias, residual, clamp, 1).unwrap_or_else(|e| panic!("{e}"));
                    }
                }
            }
        }
    }
}

/// Every pairing of dilation (1..=5, and one far larger than the kernel) and stride (1..=3) along the row, where the
/// NCHW kernel steps each tap's stride phase and offset by the dilation's quotient and remainder.
#[test]
fn dilation_and_stride_phases() {
    for isa in common::isas() {
        for layout in LAYOUTS {
            let Some(&cg) = group_sizes(isa, layout).first() else { continue };
            for (dil, st) in (1..=5).flat_map(|d| (1..=3).map(move |s| (d, s))).chain([(1000, 1), (999, 2)]) {
                let pad = if dil > 5 { dil } else { 1 };
                let p = Conv2dParams::new(3, 2 * dil.min(5) + 7, 2 * cg, 2 * cg, 2, 3)
                    .groups(2)
                    .stride(1, st)
                    .dilation(1, dil)
                    .padding(0, pad, 0, pad)
                    .layout(layout);
                if p.validate().is_err() {
                    continue;
                }
                common::check(&p, isa, true, Residual::None, Clamp::None, 1)
                    .unwrap_or_else(|e| panic!("dilation {dil} stride {st}: {e}"));
            }
        }
    }
}

/// The weight layouts the plan accepts all reach the same packed weights.
#[test]
fn every_weight_layout() {
    for isa in common::isas() {
        for layout in LAYOUTS {
            // One lane (the portable kernels) has no NHWC group sizes: the GEMM path serves those layers.
            let Some(&cg) = group_sizes(isa, layout).first() else { continue };
            for wl in [WeightLayout::Ohwi, WeightLayout::Oihw, WeightLayout::Hwio] {
                let p = grouped(7, 9, cg, 5, 3).padding(1, 1, 1, 1).weight_layout(wl).layout(layout);
                common::check(&p, isa, true, Residual::None, Clamp::None, 1).unwrap_or_else(|e| panic!("{wl:?}: {e}"));
            }
        }
    }
}

/// Work split over threads never changes a bit, and two threads match the reference (ResNeXt-like layers).
#[test]
fn thread_count_does_not_change_results() {
    for isa in common::isas() {
        for layout in LAYOUTS {
            for (h, cg, groups) in [(28, 4, 32), (14, 8, 32), (19, 2, 24), (9, 16, 8)] {
                if !group_sizes(isa, layout).contains(&cg) {
                    continue;
                }
                let p = grouped(h, h, cg, groups, 3).padding(1, 1, 1, 1).layout(layout);
                common::check(&p, isa, true, Residual::Separate, Clamp::Relu, 2).unwrap_or_else(|e| panic!("{e}"));
                let s = p.validate().unwrap();
                let (w, x) = (common::data(s.weight_len, 5), common::data(s.input_len, 6));
                let opts = PlanOptions { isa: Some(isa), ..Default::default() };
                let conv = Conv2d::with_options(p, &w, None, opts).unwrap();
                assert_eq!(conv.kernel_choice().algorithm, algo_name(layout));
                let one = common::run_plain(&conv, &x, 1);
                for threads in [2, 3, 0] {
                    common::same_bits(&one, &common::run_plain(&conv, &x, threads))
                        .unwrap_or_else(|e| panic!("{isa} {p:?} {threads} threads: {e}"));
                }
            }
        }
    }
}

prop_compose! {
    fn grouped_case()(
        cg_pow in 1..=4u32,
        groups in 2..=9usize,
        batch in 1..=2usize,
        (h, w) in (1..=9usize, 1..=40usize),
        (kh, kw) in (1..=4usize, 1..=4usize),
        (sh, sw) in (1..=3usize, 1..=3usize),
        (dh, dw) in (1..=2usize, 1..=2usize),
        pads in (0..=2usize, 0..=2usize, 0..=2usize, 0..=2usize),
        layout in prop_oneof![Just(Layout::Nhwc), Just(Layout::Nchw)],
        bias in any::<bool>(),
        residual in prop_oneof![Just(Residual::None), Just(Residual::Separate), Just(Residual::InPlace)],
        clamp in prop_oneof![Just(Clamp::None), Just(Clamp::Relu), Just(Clamp::Relu6)],
        threads in prop_oneof![Just(1usize), Just(2)],
        seed in any::<u64>(),
    ) -> (Conv2dParams, bool, Residual, Clamp, usize, u64) {
        let cg = 1 << cg_pow;
        let p = Conv2dParams::new(h, w, cg * groups, cg * groups, kh, kw)
            .groups(groups)
            .batch(batch)
            .stride(sh, sw)
            .dilation(dh, dw)
            .padding(pads.0, pads.1, pads.2, pads.3)
            .layout(layout);
        (p, bias, residual, clamp, threads, seed)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::cases(128), ..ProptestConfig::default() })]

    /// Any kernel, stride, dilation and padding, group sizes 2..16, both layouts (group sizes beyond an ISA's lanes
    /// take the GEMM path in NHWC).
    #[test]
    fn grouped_matches_reference((p, bias, residual, clamp, threads, seed) in grouped_case()) {
        prop_assume!(p.validate().is_ok());
        let list = common::try_isas().map_err(TestCaseError::reject)?;
        common::check_isas(&p, &list, bias, residual, clamp, threads, seed).map_err(TestCaseError::fail)?;
    }
}
