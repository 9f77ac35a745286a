//! Grouped NHWC convolutions of a few channels per group (`grouped-nhwc`): which layers take the kernel, sweeps of
//! group sizes, channel tails, borders, strides, dilation and the fused epilogue on every ISA under test
//! (`SIMDCONV_TEST_ISA`), thread-count determinism and a proptest, all against the f64 reference.
mod common;

use common::{Clamp, Residual};
use proptest::prelude::*;
use simdconv::ukernel::dwconv::{self, DwShape};
use simdconv::*;

/// SIMD lanes of `isa`'s grouped kernel.
fn lanes_of(isa: Isa) -> usize {
    dwconv::find(isa, Layout::Nhwc, DwShape::Grouped).expect("every ISA has a grouped NHWC kernel").lanes
}

/// Group sizes the grouped kernel takes on `isa`: the divisors of its lanes from 2 on.
fn group_sizes(isa: Isa) -> Vec<usize> {
    let l = lanes_of(isa);
    (2..=l).filter(|g| l.is_multiple_of(*g)).collect()
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
fn registry_has_a_grouped_nhwc_kernel_for_every_isa_and_no_nchw_one() {
    for isa in Isa::ALL {
        if dwconv::all().all(|k| k.isa != isa) {
            continue;
        }
        let k = dwconv::find(isa, Layout::Nhwc, DwShape::Grouped).unwrap_or_else(|| panic!("{isa}"));
        assert_eq!(k.nv, 1, "{}", k.name);
        assert!(k.name.contains("gconv"), "{}", k.name);
        assert!(dwconv::find(isa, Layout::Nchw, DwShape::Grouped).is_none(), "{isa}");
    }
}

#[test]
fn which_layers_take_the_grouped_kernel() {
    for isa in common::isas() {
        let l = lanes_of(isa);
        for cg in group_sizes(isa) {
            assert_eq!(algorithm(&grouped(6, 6, cg, 3, 3), isa, true), "grouped-nhwc", "{isa} {cg}");
            assert_eq!(algorithm(&grouped(6, 6, cg, 3, 1), isa, true), "grouped-nhwc", "{isa} {cg} 1x1");
            // Non-finite weights multiply the padding: the GEMM path, which does.
            assert_ne!(algorithm(&grouped(6, 6, cg, 3, 3), isa, false), "grouped-nhwc", "{isa} {cg}");
            // NCHW, and groups of unequal input and output channels, take the GEMM path.
            let nchw = grouped(6, 6, cg, 3, 3).layout(Layout::Nchw).weight_layout(WeightLayout::Oihw);
            assert_eq!(algorithm(&nchw, isa, true), "im2col-gemm-nchw", "{isa} {cg}");
            let mut uneven = grouped(6, 6, cg, 3, 3);
            uneven.c_out = 2 * cg * 3;
            assert_ne!(algorithm(&uneven, isa, true), "grouped-nhwc", "{isa} {cg}");
        }
        // Groups that straddle vectors, or wider than one: the GEMM path.
        for cg in [3, 2 * l, l + 1] {
            assert_ne!(algorithm(&grouped(6, 6, cg, 3, 3), isa, true), "grouped-nhwc", "{isa} {cg}");
        }
        // One group is a plain convolution; one channel a group is depthwise.
        assert_ne!(algorithm(&grouped(6, 6, 4, 1, 3), isa, true), "grouped-nhwc", "{isa}");
        assert_eq!(algorithm(&grouped(6, 6, 1, 8, 3), isa, true), "depthwise-nhwc", "{isa}");
    }
}

/// Every group size, channel counts around the vector (one group, a partial vector, whole vectors and a tail),
/// widths 1..=k+3 with every left/right padding, strides 1 and 2, 3x3 and 5x5 and 1x1.
#[test]
fn sweep_groups_tails_and_borders() {
    for isa in common::isas() {
        let l = lanes_of(isa);
        for cg in group_sizes(isa) {
            let per_vector = l / cg;
            let mut group_counts = vec![1, per_vector, per_vector + 1, 3 * per_vector - 1];
            group_counts.retain(|&g| g >= 2);
            group_counts.dedup();
            for &groups in &group_counts {
                for (k, st) in [(3, 1), (3, 2), (5, 1), (1, 1), (1, 2)] {
                    for size in 1..=k + 3 {
                        for a in 0..k {
                            for b in [0, k - 1] {
                                let p =
                                    grouped(k + 1, size, cg, groups, k).stride(st, st).padding(1.min(k - 1), a, 0, b);
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

/// Interior runs of every length around the kernel's outputs per step, with dilation, asymmetric kernels and
/// padding, batches, and the fused epilogue (bias, residual separate and in place, clamps).
#[test]
fn interior_lengths_dilation_and_epilogue() {
    let epilogues = [
        (true, Residual::None, Clamp::None),
        (true, Residual::Separate, Clamp::Relu6),
        (false, Residual::InPlace, Clamp::Range(-0.25, 0.5)),
    ];
    for isa in common::isas() {
        for cg in group_sizes(isa) {
            for width in 1..=2 * dwconv::generic::GROUPED_R + 3 {
                for (i, &(bias, residual, clamp)) in epilogues.iter().enumerate() {
                    let p = Conv2dParams::new(5, width + 2, 3 * cg, 3 * cg, 3, 2)
                        .groups(3)
                        .batch(1 + i % 2)
                        .dilation(1 + i % 2, 1 + (i + 1) % 2)
                        .padding(1, 1, 0, i)
                        .layout(Layout::Nhwc);
                    if p.validate().is_err() {
                        continue;
                    }
                    common::check(&p, isa, bias, residual, clamp, 1).unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
    }
}

/// The weight layouts the plan accepts all reach the same packed weights.
#[test]
fn every_weight_layout() {
    for isa in common::isas() {
        // One lane (the portable kernels) has no group sizes: the GEMM path serves every grouped layer.
        let Some(&cg) = group_sizes(isa).first() else { continue };
        for wl in [WeightLayout::Ohwi, WeightLayout::Oihw, WeightLayout::Hwio] {
            let p = grouped(7, 9, cg, 5, 3).padding(1, 1, 1, 1).weight_layout(wl);
            common::check(&p, isa, true, Residual::None, Clamp::None, 1).unwrap_or_else(|e| panic!("{wl:?}: {e}"));
        }
    }
}

/// Work split over threads never changes a bit, and two threads match the reference (ResNeXt-like layers).
#[test]
fn thread_count_does_not_change_results() {
    for isa in common::isas() {
        for (h, cg, groups) in [(28, 4, 32), (14, 8, 32), (19, 2, 24)] {
            if !group_sizes(isa).contains(&cg) {
                continue;
            }
            let p = grouped(h, h, cg, groups, 3).padding(1, 1, 1, 1);
            common::check(&p, isa, true, Residual::Separate, Clamp::Relu, 2).unwrap_or_else(|e| panic!("{e}"));
            let s = p.validate().unwrap();
            let (w, x) = (common::data(s.weight_len, 5), common::data(s.input_len, 6));
            let conv = Conv2d::with_options(p, &w, None, PlanOptions { isa: Some(isa), ..Default::default() }).unwrap();
            assert_eq!(conv.kernel_choice().algorithm, "grouped-nhwc");
            let one = common::run_plain(&conv, &x, 1);
            for threads in [2, 3, 0] {
                common::same_bits(&one, &common::run_plain(&conv, &x, threads))
                    .unwrap_or_else(|e| panic!("{isa} {p:?} {threads} threads: {e}"));
            }
        }
    }
}

prop_compose! {
    fn grouped_case()(
        cg_pow in 1..=4u32,
        groups in 2..=9usize,
        batch in 1..=2usize,
        (h, w) in (1..=9usize, 1..=12usize),
        (kh, kw) in (1..=4usize, 1..=4usize),
        (sh, sw) in (1..=3usize, 1..=3usize),
        (dh, dw) in (1..=2usize, 1..=2usize),
        pads in (0..=2usize, 0..=2usize, 0..=2usize, 0..=2usize),
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
            .layout(Layout::Nhwc);
        (p, bias, residual, clamp, threads, seed)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::cases(128), ..ProptestConfig::default() })]

    /// Any kernel, stride, dilation and padding, group sizes 2..16 (those beyond an ISA's lanes take the GEMM path).
    #[test]
    fn grouped_matches_reference((p, bias, residual, clamp, threads, seed) in grouped_case()) {
        prop_assume!(p.validate().is_ok());
        let list = common::try_isas().map_err(TestCaseError::reject)?;
        common::check_isas(&p, &list, bias, residual, clamp, threads, seed).map_err(TestCaseError::fail)?;
    }
}
