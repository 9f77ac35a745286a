//! The API contract: invalid arguments are `InvalidArgument` errors (never panics), valid huge descriptors are
//! accepted, NaN and infinities propagate as IEEE says, and subnormals are kept (no flush-to-zero).

mod common;

use common::{Tensors, data, isas};
use simdconv::{Conv2d, Conv2dParams, Error, Isa, Layout, PlanOptions, WeightLayout, reference};
use std::panic::{AssertUnwindSafe, catch_unwind};

fn expect_invalid<T: std::fmt::Debug>(what: &str, f: impl FnOnce() -> simdconv::Result<T>) {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Err(Error::InvalidArgument(_))) => {}
        Ok(other) => panic!("{what}: expected InvalidArgument, got {other:?}"),
        Err(_) => panic!("{what}: panicked instead of returning InvalidArgument"),
    }
}

fn base() -> Conv2dParams {
    Conv2dParams::new(6, 5, 4, 6, 3, 3)
}

/// Parameters that `validate` must reject.
fn invalid_params() -> Vec<(&'static str, Conv2dParams)> {
    let b = base();
    let big = usize::MAX / 2 + 1;
    vec![
        ("batch 0", b.batch(0)),
        ("in_height 0", Conv2dParams { in_height: 0, ..b }),
        ("in_width 0", Conv2dParams { in_width: 0, ..b }),
        ("c_in 0", Conv2dParams { c_in: 0, ..b }),
        ("c_out 0", Conv2dParams { c_out: 0, ..b }),
        ("kernel_height 0", Conv2dParams { kernel_height: 0, ..b }),
        ("kernel_width 0", Conv2dParams { kernel_width: 0, ..b }),
        ("stride_height 0", b.stride(0, 1)),
        ("stride_width 0", b.stride(1, 0)),
        ("dilation_height 0", b.dilation(0, 1)),
        ("dilation_width 0", b.dilation(1, 0)),
        ("groups 0", b.groups(0)),
        ("groups not dividing c_in", b.groups(3)),
        ("groups not dividing c_out", Conv2dParams { c_in: 8, c_out: 6, ..b }.groups(4)),
        ("groups larger than channels", b.groups(8)),
        ("kernel taller than input", Conv2dParams { kernel_height: 7, ..b }),
        ("kernel wider than input", Conv2dParams { kernel_width: 6, ..b }),
        ("dilated kernel taller than input", b.dilation(3, 1)),
        ("dilated kernel wider than input", b.dilation(1, 3)),
        ("dilated kernel larger than padded input", b.dilation(3, 3).padding(0, 0, 0, 0)),
        ("dilated kernel one row larger than padded input", b.dilation(4, 1).padding(1, 0, 0, 0)),
        ("NaN clamp min", b.clamp(f32::NAN, 1.0)),
        ("NaN clamp max", b.clamp(0.0, f32::NAN)),
        ("NaN clamp both", b.clamp(f32::NAN, f32::NAN)),
        ("min > max", b.clamp(1.0, 0.5)),
        ("min > max at infinities", b.clamp(f32::INFINITY, f32::NEG_INFINITY)),
        ("padding overflows", Conv2dParams { in_height: usize::MAX, ..b }.padding(1, 0, 0, 0)),
        ("padding sum overflows", b.padding(usize::MAX, 0, 1, 0)),
        ("width padding overflows", b.padding(0, usize::MAX - 2, 0, 3)),
        ("dilated kernel overflows", Conv2dParams { kernel_height: 3, ..b }.dilation(big, 1)),
        ("dilated kernel + 1 overflows", Conv2dParams { kernel_width: 2, ..b }.dilation(1, usize::MAX)),
        ("input length overflows", Conv2dParams::new(1 << 22, 1 << 22, 1 << 22, 1, 1, 1)),
        ("batch overflows input length", Conv2dParams::new(1 << 16, 1 << 16, 16, 1, 1, 1).batch(1 << 40)),
        ("input bytes overflow", Conv2dParams::new(1 << 31, 1 << 31, 1, 1, 1, 1)),
        ("input bytes past isize::MAX", Conv2dParams::new(1 << 61, 1, 1, 1, 1, 1)),
        ("output length overflows", Conv2dParams::new(1, 1, 1, 1, 1, 1).padding(1 << 31, 1 << 31, 1 << 31, 1 << 31)),
        ("output channels overflow", Conv2dParams::new(1 << 20, 1 << 20, 1, 1 << 30, 1, 1)),
        ("weight length overflows", Conv2dParams::new(1 << 20, 1 << 20, 1 << 20, 1 << 30, 1, 1).groups(1 << 10)),
        ("weight bytes overflow", Conv2dParams::new(1, 1, 1 << 31, 1 << 31, 1, 1)),
        ("kernel area overflows", Conv2dParams::new(1, 1, 1, 1, 1 << 33, 1 << 33).padding(1 << 33, 1 << 33, 0, 0)),
    ]
}

#[test]
fn invalid_parameters_are_rejected() {
    for (what, p) in invalid_params() {
        expect_invalid(what, || p.validate());
        // Any weights: validation comes first.
        expect_invalid(what, || Conv2d::new(p, &[0.0; 8], None));
        for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
            expect_invalid(what, || {
                Conv2d::with_options(p, &[], Some(&[0.0; 6]), PlanOptions { isa: Some(isa), ..Default::default() })
            });
        }
        expect_invalid(what, || reference::conv2d_f64(&p, &[], &[], None, None));
    }
}

/// Descriptors whose sizes fit (element and byte counts below `isize::MAX`) are valid; nothing is allocated.
#[test]
fn huge_but_fitting_descriptors_validate() {
    // 2^61 - 1 input elements: 2^63 - 4 bytes, the largest that fits.
    let p = Conv2dParams::new((1 << 61) - 1, 1, 1, 1, 1, 1);
    let s = p.validate().unwrap();
    assert_eq!((s.input_len, s.output_len, s.weight_len), ((1 << 61) - 1, (1 << 61) - 1, 1));
    // A large image with padding, stride and dilation.
    let p = Conv2dParams::new(1 << 20, 1 << 20, 64, 64, 3, 3).padding(1, 1, 1, 1).stride(2, 2).dilation(2, 2);
    let s = p.validate().unwrap();
    assert_eq!((s.out_height, s.out_width), ((1 << 19) - 1, (1 << 19) - 1));
    assert_eq!(s.input_len, 64 << 40);
    // Huge padding on a tiny input: the output is large, the input one pixel.
    let p = Conv2dParams::new(1, 1, 1, 1, 1, 1).padding(1 << 20, 1 << 20, 1 << 20, 1 << 20);
    let s = p.validate().unwrap();
    assert_eq!((s.out_height, s.out_width), ((1 << 21) + 1, (1 << 21) + 1));
    // A huge dilation that still fits the padded input.
    let p = Conv2dParams::new(1 << 30, 3, 2, 2, 2, 1).dilation((1 << 30) - 1, 1);
    let s = p.validate().unwrap();
    assert_eq!((s.out_height, s.out_width), (1, 3));
    // Large groups, depthwise.
    let c = 1 << 24;
    let p = Conv2dParams::new(1 << 10, 1 << 10, c, 3 * c, 5, 5).groups(c);
    let s = p.validate().unwrap();
    assert_eq!((s.cin_g, s.cout_g, s.weight_len), (1, 3, 3 * c * 25));
    // Extreme FLOP counts saturate instead of overflowing.
    let p = Conv2dParams::new(1 << 20, 1 << 20, 1 << 12, 1 << 12, 1, 1);
    assert_eq!(p.validate().unwrap().flops, u64::MAX);
}

/// Wrong slice lengths at plan time and at run time are `InvalidArgument` errors.
#[test]
fn wrong_slice_lengths_are_rejected() {
    for layout in [Layout::Nhwc, Layout::Nchw] {
        for (kh, kw) in [(1, 1), (3, 2)] {
            let p = Conv2dParams::new(6, 5, 4, 6, kh, kw).layout(layout);
            let s = p.validate().unwrap();
            let w = data(s.weight_len, 1);
            let b = data(p.c_out, 2);
            for isa in isas() {
                let o = PlanOptions { isa: Some(isa), ..Default::default() };
                for n in [0, s.weight_len - 1, s.weight_len + 1, 2 * s.weight_len] {
                    expect_invalid("weights", || Conv2d::with_options(p, &data(n, 1), Some(&b), o));
                }
                for n in [0, p.c_out - 1, p.c_out + 1, s.weight_len] {
                    expect_invalid("bias", || Conv2d::with_options(p, &w, Some(&data(n, 2)), o));
                }
                let conv = Conv2d::with_options(p, &w, Some(&b), o).unwrap();
                let x = data(s.input_len, 3);
                let r = data(s.output_len, 4);
                let mut y = vec![0.0; s.output_len];
                for n in [0, s.input_len - 1, s.input_len + 1] {
                    expect_invalid("input", || conv.run(&data(n, 3), &mut y));
                    expect_invalid("input", || conv.run_with(&data(n, 3), &mut y, 1, Some(&r)));
                    expect_invalid("input", || conv.run_residual_in_place(&data(n, 3), &mut y, 2));
                }
                for n in [0, s.output_len - 1, s.output_len + 1] {
                    let mut y2 = vec![0.0; n];
                    expect_invalid("output", || conv.run(&x, &mut y2));
                    expect_invalid("output", || conv.run_with(&x, &mut y2, 2, None));
                    expect_invalid("output", || conv.run_residual_in_place(&x, &mut y2, 1));
                    expect_invalid("residual", || conv.run_with(&x, &mut y, 1, Some(&data(n, 4))));
                }
                // The rejected runs did not write the output.
                assert!(y.iter().all(|&v| v == 0.0));
                conv.run_with(&x, &mut y, 1, Some(&r)).unwrap();
            }
        }
    }
}

/// A plan for a huge image needs only its (small) weights; runs with small slices are rejected, not attempted.
#[test]
fn huge_plan_rejects_small_buffers() {
    let p = Conv2dParams::new(1 << 20, 1 << 20, 2, 3, 1, 1);
    let conv = Conv2d::new(p, &[0.5; 6], None).unwrap();
    assert_eq!(conv.input_len(), 2 << 40);
    let mut y = vec![0.0; 6];
    expect_invalid("huge input", || conv.run(&[0.0; 4], &mut y));
}

/// Shapes for the NaN/infinity tests: every path (1x1, im2col, both layouts, groups, depthwise, padding,
/// stride, dilation).
fn special_shapes() -> Vec<Conv2dParams> {
    vec![
        Conv2dParams::new(5, 7, 13, 21, 1, 1),
        Conv2dParams::new(5, 7, 13, 21, 1, 1).layout(Layout::Nchw).weight_layout(WeightLayout::Oihw),
        Conv2dParams::new(9, 8, 6, 10, 3, 3).padding(1, 1, 1, 1),
        Conv2dParams::new(9, 8, 6, 10, 3, 3).padding(1, 1, 1, 1).layout(Layout::Nchw),
        Conv2dParams::new(10, 9, 8, 12, 3, 2).stride(2, 1).dilation(1, 2).padding(2, 0, 1, 3).groups(4).batch(2),
        Conv2dParams::new(10, 9, 8, 12, 3, 2)
            .stride(2, 1)
            .dilation(1, 2)
            .padding(2, 0, 1, 3)
            .groups(4)
            .batch(2)
            .layout(Layout::Nchw)
            .weight_layout(WeightLayout::Hwio),
        Conv2dParams::new(7, 7, 5, 10, 3, 3).groups(5).padding(1, 1, 1, 1),
        Conv2dParams::new(7, 7, 5, 10, 3, 3).groups(5).padding(1, 1, 1, 1).layout(Layout::Nchw),
        Conv2dParams::new(8, 8, 4, 4, 5, 5).groups(4).stride(2, 2).padding(2, 2, 2, 2),
        Conv2dParams::new(8, 8, 4, 4, 5, 5).groups(4).stride(2, 2).padding(2, 2, 2, 2).layout(Layout::Nchw),
        Conv2dParams::new(6, 6, 3, 17, 3, 3).dilation(2, 2).stride(1, 1),
        Conv2dParams::new(6, 6, 3, 17, 3, 3).dilation(2, 2).layout(Layout::Nchw),
    ]
}

fn has_padding(p: &Conv2dParams) -> bool {
    p.pad_top + p.pad_left + p.pad_bottom + p.pad_right > 0
}

/// Runs `t` on every ISA and checks: NaN exactly where the reference has NaN (and only there), the other
/// outputs within tolerance (infinite ones exactly).
fn check_special(p: &Conv2dParams, t: &Tensors, what: &str) -> Result<(), String> {
    let want = t.reference(p);
    let nans = want.value.iter().filter(|v| v.is_nan()).count();
    for isa in isas() {
        let got =
            common::run_guarded(p, isa, t, common::Residual::None, 1).map_err(|e| format!("{what}, {isa}: {e}"))?;
        for (i, (&g, &v)) in got.iter().zip(&want.value).enumerate() {
            if g.is_nan() != v.is_nan() {
                return Err(format!(
                    "{what}, {isa}, {p:?}: output[{i}] = {g}, reference {v} ({nans} NaN outputs expected)"
                ));
            }
        }
        reference::compare(p, &got, &want).map_err(|e| format!("{what}, {isa}, {p:?}: {e}"))?;
    }
    Ok(())
}

/// A NaN input propagates to exactly the outputs whose receptive field holds it, through a relu6 clamp.
#[test]
fn nan_input_propagates_to_its_receptive_field() {
    for p in special_shapes() {
        let p = p.clamp(0.0, 6.0);
        let s = p.validate().unwrap();
        let base = Tensors::new(&p, true, common::Residual::None, 11).unwrap();
        for pos in [0, s.input_len / 2, s.input_len - 1, s.input_len / 3 + 1] {
            let mut t = Tensors {
                input: base.input.clone(),
                weights: base.weights.clone(),
                bias: base.bias.clone(),
                residual: None,
            };
            t.input[pos] = f32::NAN;
            let want = t.reference(&p);
            let nans = want.value.iter().filter(|v| v.is_nan()).count();
            assert!(nans > 0, "{p:?}: the NaN at {pos} reaches no output");
            check_special(&p, &t, &format!("NaN input at {pos}")).unwrap();
        }
    }
}

/// A NaN weight of output channel `o` makes every output of channel `o` NaN when no tap falls on padding
/// (there, the reference and the kernels agree on every convention).
#[test]
fn nan_weight_propagates_to_its_channel_without_padding() {
    for p in special_shapes().into_iter().filter(|p| !has_padding(p)) {
        let p = p.clamp(0.0, 6.0);
        let s = p.validate().unwrap();
        let base = Tensors::new(&p, true, common::Residual::None, 12).unwrap();
        for pos in [0, s.weight_len / 2, s.weight_len - 1] {
            let mut t = Tensors {
                input: base.input.clone(),
                weights: base.weights.clone(),
                bias: base.bias.clone(),
                residual: None,
            };
            t.weights[pos] = f32::NAN;
            let want = t.reference(&p);
            let nans = want.value.iter().filter(|v| v.is_nan()).count();
            assert_eq!(nans, s.output_len / p.c_out, "{p:?}: one channel's outputs");
            check_special(&p, &t, &format!("NaN weight at {pos}")).unwrap();
        }
    }
}

/// With padding, the reference skips padded taps, so a NaN (or infinite) weight reaches only the outputs whose
/// tap for that weight lands on a real pixel. Kernels that multiply a zero-filled padding row by the weight get
/// `0 * NaN = NaN` (and `0 * inf = NaN`) at the other outputs too.
#[test]

fn nan_weight_with_padding_matches_reference() {
    let mut failures = Vec::new();
    for p in special_shapes().into_iter().filter(has_padding) {
        let p = p.clamp(0.0, 6.0);
        let s = p.validate().unwrap();
        let base = Tensors::new(&p, true, common::Residual::None, 13).unwrap();
        for pos in [0, s.weight_len / 2, s.weight_len - 1] {
            let mut t = Tensors {
                input: base.input.clone(),
                weights: base.weights.clone(),
                bias: base.bias.clone(),
                residual: None,
            };
            t.weights[pos] = f32::NAN;
            if let Err(e) = check_special(&p, &t, &format!("NaN weight at {pos}")) {
                failures.push(format!("{} ({})", e, common::plan_name(&p, isas()[0], &t)));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// A NaN bias or residual makes exactly its outputs NaN, and the clamp never turns NaN into a bound.
#[test]
fn nan_bias_and_residual_propagate() {
    for p in special_shapes() {
        for clamp in [(0.0, 6.0), (f32::NEG_INFINITY, f32::INFINITY), (-0.25, -0.25)] {
            let p = p.clamp(clamp.0, clamp.1);
            let s = p.validate().unwrap();
            let mut t = Tensors::new(&p, true, common::Residual::Separate, 14).unwrap();
            t.bias.as_mut().unwrap()[p.c_out - 1] = f32::NAN;
            let r = t.residual.as_mut().unwrap();
            r[0] = f32::NAN;
            r[s.output_len / 2] = f32::NAN;
            let want = t.reference(&p);
            for isa in isas() {
                for mode in [common::Residual::Separate, common::Residual::InPlace] {
                    let got = common::run_guarded(&p, isa, &t, mode, 1).unwrap();
                    for (i, (&g, &v)) in got.iter().zip(&want.value).enumerate() {
                        assert_eq!(g.is_nan(), v.is_nan(), "{isa} {mode:?} {p:?}: output[{i}] = {g}, reference {v}");
                    }
                    reference::compare(&p, &got, &want).unwrap_or_else(|e| panic!("{isa} {mode:?} {p:?}: {e}"));
                }
            }
        }
    }
}

/// Infinite inputs behave as IEEE: with positive weights an `+inf` input gives `+inf` (6 under relu6, and a
/// `-inf` gives 0 under relu); mixed-sign weights can give `inf - inf = NaN`, exactly where the reference does.
#[test]
fn infinities_behave_as_ieee() {
    for p in special_shapes() {
        for (inf, clamp) in [
            (f32::INFINITY, (f32::NEG_INFINITY, f32::INFINITY)),
            (f32::INFINITY, (0.0, 6.0)),
            (f32::NEG_INFINITY, (0.0, 6.0)),
        ] {
            let p = p.clamp(clamp.0, clamp.1);
            let s = p.validate().unwrap();
            let mut t = Tensors::new(&p, true, common::Residual::None, 15).unwrap();
            for w in t.weights.iter_mut() {
                *w = w.abs() + 0.125;
            }
            t.input[s.input_len / 2] = inf;
            let want = t.reference(&p);
            assert!(want.value.iter().any(|v| v.is_infinite() || *v == 6.0 || *v == 0.0));
            assert!(want.value.iter().all(|v| !v.is_nan()));
            check_special(&p, &t, "infinite input, positive weights").unwrap();
            // Two infinities of opposite sign in one receptive field: NaN where both meet.
            t.input[s.input_len / 2 + 1] = -inf;
            check_special(&p, &t, "opposite infinities").unwrap();
        }
    }
}

/// Infinite weights (no padding, see `nan_weight_with_padding_matches_reference`): `inf * x` as IEEE, `inf * 0`
/// is NaN.
#[test]
fn infinite_weights_behave_as_ieee() {
    for p in special_shapes().into_iter().filter(|p| !has_padding(p)) {
        let s = p.validate().unwrap();
        let mut t = Tensors::new(&p, false, common::Residual::None, 16).unwrap();
        for x in t.input.iter_mut() {
            *x = x.abs() + 0.125;
        }
        t.weights[s.weight_len / 2] = f32::INFINITY;
        check_special(&p, &t, "infinite weight").unwrap();
        t.input[s.input_len / 2] = 0.0;
        check_special(&p, &t, "infinite weight, a zero input").unwrap();
    }
}

/// Subnormal policy: outputs are IEEE, no flush-to-zero. A subnormal input times a weight of 1.0 gives that
/// subnormal; products and sums that land in the subnormal range are rounded, not flushed.
#[test]
fn subnormals_are_not_flushed() {
    let sub = f32::from_bits(0x0000_1234); // ~6.5e-42
    assert!(sub.is_subnormal());
    for isa in isas() {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            for (kh, pad) in [(1, 0), (3, 1)] {
                let p = Conv2dParams::new(5, 6, 3, 19, kh, kh).padding(pad, pad, pad, pad).layout(layout);
                let s = p.validate().unwrap();
                let o = PlanOptions { isa: Some(isa), ..Default::default() };
                // Weight 1.0 on input channel 0 at the centre tap only; inputs subnormal on channel 0.
                let mut w = vec![0.0f32; s.weight_len];
                for oc in 0..p.c_out {
                    w[p.weight_index(oc, 0, kh / 2, kh / 2)] = 1.0;
                }
                let mut x = vec![0.0f32; s.input_len];
                for y in 0..p.in_height {
                    for xx in 0..p.in_width {
                        x[reference::act_index(layout, p.c_in, p.in_height, p.in_width, 0, 0, y, xx)] =
                            f32::from_bits(sub.to_bits() + (y * 7 + xx) as u32);
                    }
                }
                let conv = Conv2d::with_options(p, &w, None, o).unwrap();
                let got = common::run_plain(&conv, &x, 1);
                let mut want = vec![0.0f32; s.output_len];
                reference::conv2d(&p, &x, &w, None, None, &mut want).unwrap();
                assert!(want.iter().all(|v| v.is_subnormal()));
                common::same_bits(&got, &want).unwrap_or_else(|e| panic!("{isa} {p:?}: {e}"));

                // Normal inputs and weights whose products are subnormal (1e-20 * 1e-20 = 1e-40), plus a subnormal
                // bias: every output is the correctly rounded subnormal.
                let w2: Vec<f32> = w.iter().map(|&v| v * 1e-20).collect();
                let x2: Vec<f32> = x.iter().map(|&v| if v != 0.0 { 1e-20 } else { 0.0 }).collect();
                let b2 = vec![f32::from_bits(3); p.c_out];
                let conv = Conv2d::with_options(p, &w2, Some(&b2), o).unwrap();
                let got = common::run_plain(&conv, &x2, 1);
                let want = ((1e-20f32 as f64) * (1e-20f32 as f64) + f32::from_bits(3) as f64) as f32;
                assert!(want.is_subnormal());
                assert!(
                    got.iter().all(|v| v.to_bits() == want.to_bits()),
                    "{isa} {p:?}: expected {want:e} everywhere, got e.g. {:e}",
                    got[0]
                );
            }
        }
    }
}

/// Runs a zero-sum convolution with a `-0.0` bias and `-0.0` products on every ISA and both layouts; every
/// output must be `-0.0` (as in the reference: `-0.0 + -0.0 = -0.0`).
fn check_negative_zero(p: Conv2dParams) {
    for isa in isas() {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            let p = p.layout(layout);
            let s = p.validate().unwrap();
            let w = vec![-1.0f32; s.weight_len];
            let x = vec![0.0f32; s.input_len];
            let b = vec![-0.0f32; p.c_out];
            let conv =
                Conv2d::with_options(p, &w, Some(&b), PlanOptions { isa: Some(isa), ..Default::default() }).unwrap();
            let got = common::run_plain(&conv, &x, 1);
            let algo = conv.kernel_choice().algorithm;
            assert!(got.iter().all(|v| v.to_bits() == (-0.0f32).to_bits()), "{isa} {algo} {p:?}: {:?}", &got[..4]);
        }
    }
}

/// `-0.0` survives the GEMM paths: bias first, then the products, in IEEE arithmetic.
#[test]
fn negative_zero_is_kept() {
    check_negative_zero(Conv2dParams::new(3, 4, 5, 9, 1, 1));
    check_negative_zero(Conv2dParams::new(5, 4, 3, 7, 3, 3).padding(1, 1, 1, 1));
}

/// The same for the depthwise paths.
#[test]
#[ignore = "depthwise kernels return +0.0 for a -0.0 bias plus -0.0 products (the reference gives -0.0)"]
fn negative_zero_is_kept_depthwise() {
    check_negative_zero(Conv2dParams::new(5, 6, 8, 8, 3, 3).groups(8).padding(1, 1, 1, 1));
}

/// Exactly sized buffers (no guard zones) over shapes whose tails end at the buffer's last element: run under
/// `valgrind --error-exitcode=1` (or any allocator that checks bounds), a read or write past a caller's buffer
/// is reported. Without a checker it is a plain correctness sweep.
#[test]
fn exact_size_buffers() {
    let mut shapes = Vec::new();
    for layout in [Layout::Nhwc, Layout::Nchw] {
        for (h, w) in [(1, 1), (1, 7), (3, 5), (5, 13)] {
            for (c_in, c_out) in [(1, 1), (3, 17), (17, 9), (64, 33)] {
                shapes.push(Conv2dParams::new(h, w, c_in, c_out, 1, 1).layout(layout));
            }
            shapes.push(Conv2dParams::new(h, w, 6, 6, 3, 3).groups(6).padding(1, 1, 1, 1).layout(layout));
            shapes.push(Conv2dParams::new(h, w, 5, 10, 3, 3).groups(5).padding(1, 1, 1, 1).layout(layout));
            shapes.push(Conv2dParams::new(h, w, 4, 7, 3, 2).padding(1, 1, 1, 0).layout(layout));
        }
        shapes.push(Conv2dParams::new(9, 11, 24, 24, 5, 5).groups(24).padding(2, 2, 2, 2).stride(2, 2).layout(layout));
        shapes.push(Conv2dParams::new(9, 11, 8, 20, 3, 3).stride(2, 2).layout(layout));
    }
    for p in shapes {
        let s = p.validate().unwrap();
        let t = Tensors::new(&p, true, common::Residual::Separate, 31).unwrap();
        let want = t.reference(&p);
        for isa in isas() {
            let conv = Conv2d::with_options(
                p,
                &t.weights,
                t.bias.as_deref(),
                PlanOptions { isa: Some(isa), ..Default::default() },
            )
            .unwrap();
            let mut y = vec![0.0f32; s.output_len];
            conv.run_with(&t.input, &mut y, 1, t.residual.as_deref()).unwrap();
            reference::compare(&p, &y, &want).unwrap_or_else(|e| panic!("{isa} {p:?}: {e}"));
            let mut y = t.residual.clone().unwrap();
            conv.run_residual_in_place(&t.input, &mut y, 1).unwrap();
            reference::compare(&p, &y, &want).unwrap_or_else(|e| panic!("{isa} in place {p:?}: {e}"));
        }
    }
}

/// Input and residual may be the same slice (both are only read).
#[test]
fn residual_may_alias_the_input() {
    for layout in [Layout::Nhwc, Layout::Nchw] {
        let p = Conv2dParams::new(6, 7, 9, 9, 3, 3).padding(1, 1, 1, 1).layout(layout);
        let s = p.validate().unwrap();
        assert_eq!(s.input_len, s.output_len);
        let t = Tensors::new(&p, true, common::Residual::None, 32).unwrap();
        let want = reference::conv2d_f64(&p, &t.input, &t.weights, t.bias.as_deref(), Some(&t.input)).unwrap();
        for isa in isas() {
            let conv = Conv2d::with_options(
                p,
                &t.weights,
                t.bias.as_deref(),
                PlanOptions { isa: Some(isa), ..Default::default() },
            )
            .unwrap();
            let mut y = vec![0.0f32; s.output_len];
            conv.run_with(&t.input, &mut y, 2, Some(&t.input)).unwrap();
            reference::compare(&p, &y, &want).unwrap_or_else(|e| panic!("{isa} {p:?}: {e}"));
        }
    }
}
