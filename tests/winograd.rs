//! The opt-in Winograd F(4x4, 3x3) path against `simdconv::reference`, within its documented error bound: edge
//! sweeps (sizes 1..20, partial tiles, paddings, channel tails), both layouts, every ISA this machine runs (or the
//! one `SIMDCONV_TEST_ISA` names), bias / residual / clamp, thread-count determinism, a proptest, the plan's choice,
//! the C ABI flag and the measured error bound.

mod common;

use common::{Clamp, Guarded, Residual, Tensors, UNWRITTEN_BITS, cases, isas, same_bits};
use proptest::prelude::*;
use simdconv::reference::{RefOutput, act_index};
use simdconv::{Conv2d, Conv2dParams, Isa, Layout, PlanOptions, WeightLayout};

/// The documented bound of `PlanOptions::winograd`: `|y - exact| <= BOUND * T`, where `T` is the tile magnitude of
/// [`tile_magnitude`].
const BOUND: f64 = 4e-6;

fn opts(isa: Isa) -> PlanOptions {
    PlanOptions { isa: Some(isa), winograd: true }
}

/// Per output: `sum over c of (sum over the 9 taps of |w|) * max |x_c|` over the output's 6x6 input tile (the
/// pixels its 4x4 output tile reads), plus `|bias| + |residual|`.
fn tile_magnitude(p: &Conv2dParams, t: &Tensors) -> Vec<f64> {
    let s = p.validate().unwrap();
    let (oh, ow) = (s.out_height, s.out_width);
    let (th, tw) = (oh.div_ceil(4), ow.div_ceil(4));
    let wl1: Vec<f64> = (0..p.c_out * p.c_in)
        .map(|oc| (0..9).map(|k| t.weights[p.weight_index(oc / p.c_in, oc % p.c_in, k / 3, k % 3)].abs() as f64).sum())
        .collect();
    let mut xmax = vec![0f64; p.batch * p.c_in * th * tw];
    for n in 0..p.batch {
        for c in 0..p.c_in {
            for ty in 0..th {
                for tx in 0..tw {
                    let mut m = 0f64;
                    for r in 0..6 {
                        for q in 0..6 {
                            let (iy, ix) =
                                ((4 * ty + r).wrapping_sub(p.pad_top), (4 * tx + q).wrapping_sub(p.pad_left));
                            if iy < p.in_height && ix < p.in_width {
                                let i = act_index(p.layout, p.c_in, p.in_height, p.in_width, n, c, iy, ix);
                                m = m.max(t.input[i].abs() as f64);
                            }
                        }
                    }
                    xmax[((n * p.c_in + c) * th + ty) * tw + tx] = m;
                }
            }
        }
    }
    let mut mag = vec![0f64; s.output_len];
    for n in 0..p.batch {
        for o in 0..p.c_out {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (ty, tx) = (oy / 4, ox / 4);
                    let mut m: f64 =
                        (0..p.c_in).map(|c| wl1[o * p.c_in + c] * xmax[((n * p.c_in + c) * th + ty) * tw + tx]).sum();
                    let i = act_index(p.layout, p.c_out, oh, ow, n, o, oy, ox);
                    m += t.bias.as_ref().map_or(0.0, |b| b[o].abs() as f64);
                    m += t.residual.as_ref().map_or(0.0, |r| r[i].abs() as f64);
                    mag[i] = m;
                }
            }
        }
    }
    mag
}

/// Compares with the reference within the Winograd bound.
fn compare(got: &[f32], want: &RefOutput, mag: &[f64]) -> Result<(), String> {
    for (i, (&g, &v)) in got.iter().zip(&want.value).enumerate() {
        let err = (g as f64 - v).abs();
        if err.is_nan() || err > BOUND * mag[i] + 1e-30 {
            return Err(format!("output[{i}] = {g}, reference {v} (tile magnitude {})", mag[i]));
        }
    }
    Ok(())
}

/// Plans `p` with Winograd on `isa`, runs once with guard zones around every buffer, checks that only the output
/// was written (all of it) and compares with the reference.
fn check(
    p: &Conv2dParams,
    isa: Isa,
    t: &Tensors,
    want: &RefOutput,
    mag: &[f64],
    residual: Residual,
    threads: usize,
) -> Result<(), String> {
    let conv = Conv2d::with_options(*p, &t.weights, t.bias.as_deref(), opts(isa)).map_err(|e| format!("plan: {e}"))?;
    let algo = conv.kernel_choice().algorithm;
    let ctx = |e: String| format!("{isa} {algo} {residual:?} threads {threads} {p:?}: {e}");
    if !algo.starts_with("winograd") {
        return Err(ctx("the plan did not choose Winograd".into()));
    }
    let x = Guarded::new(&t.input);
    let res = t.residual.as_ref().map(|r| Guarded::new(r));
    let mut y = match residual {
        Residual::InPlace => Guarded::new(t.residual.as_ref().unwrap()),
        _ => Guarded::filled(conv.output_len(), UNWRITTEN_BITS),
    };
    match residual {
        Residual::None => conv.run_with(x.inner(), y.inner_mut(), threads, None),
        Residual::Separate => conv.run_with(x.inner(), y.inner_mut(), threads, Some(res.as_ref().unwrap().inner())),
        Residual::InPlace => conv.run_residual_in_place(x.inner(), y.inner_mut(), threads),
    }
    .map_err(|e| ctx(format!("run: {e}")))?;
    y.check_guards("output").map_err(ctx)?;
    x.check_guards("input").map_err(ctx)?;
    if let Some(r) = &res {
        r.check_guards("residual").map_err(ctx)?;
    }
    compare(y.inner(), want, mag).map_err(ctx)
}

/// Builds the tensors and reference of `p` once, then checks every ISA under test.
fn check_all(p: &Conv2dParams, bias: bool, residual: Residual, threads: usize, seed: u64) -> Result<(), String> {
    let t = Tensors::new(p, bias, residual, seed)?;
    let want = t.reference(p);
    let mag = tile_magnitude(p, &t);
    for isa in isas() {
        check(p, isa, &t, &want, &mag, residual, threads)?;
    }
    Ok(())
}

fn conv3x3(h: usize, w: usize, c_in: usize, c_out: usize, layout: Layout) -> Conv2dParams {
    Conv2dParams::new(h, w, c_in, c_out, 3, 3).layout(layout)
}

#[test]
fn sizes_1_to_20_every_partial_tile() {
    for layout in [Layout::Nhwc, Layout::Nchw] {
        for h in 1..=20 {
            for w in 1..=20 {
                // Padding 1 (the "same" convolution) serves every size; without padding from 3x3 on.
                let mut ps = vec![conv3x3(h, w, 3, 5, layout).padding(1, 1, 1, 1)];
                if h >= 3 && w >= 3 {
                    ps.push(conv3x3(h, w, 3, 5, layout));
                }
                for p in ps {
                    check_all(&p, (h + w) % 2 == 0, Residual::None, 1, (h * 31 + w) as u64).unwrap();
                }
            }
        }
    }
}

#[test]
fn channels_paddings_and_epilogue() {
    let pads = [(0, 0, 0, 0), (1, 1, 1, 1), (2, 2, 2, 2), (0, 1, 2, 1), (2, 0, 1, 0)];
    let epilogues = [
        (false, Residual::None, Clamp::None),
        (true, Residual::None, Clamp::Relu),
        (true, Residual::Separate, Clamp::Range(-0.5, 0.7)),
        (true, Residual::InPlace, Clamp::Relu6),
    ];
    let mut seed = 100;
    for layout in [Layout::Nhwc, Layout::Nchw] {
        for c_in in [1, 3, 17, 64] {
            for c_out in [1, 3, 17, 64] {
                for (i, &(pt, pl, pb, pr)) in pads.iter().enumerate() {
                    let (bias, residual, clamp) = epilogues[(c_in + c_out + i) % epilogues.len()];
                    let (h, w) = (7 + i, 10 - i);
                    let wl = [WeightLayout::Oihw, WeightLayout::Ohwi, WeightLayout::Hwio][i % 3];
                    let p = clamp.apply(conv3x3(h, w, c_in, c_out, layout).padding(pt, pl, pb, pr).weight_layout(wl));
                    seed += 1;
                    check_all(&p, bias, residual, 1, seed).unwrap();
                }
            }
        }
    }
}

#[test]
fn batches_and_wide_layers_threaded() {
    for layout in [Layout::Nhwc, Layout::Nchw] {
        // Several tile blocks and output-channel blocks, batch boundaries inside blocks.
        let p = conv3x3(19, 23, 40, 70, layout).batch(3).padding(1, 1, 1, 1);
        check_all(&p, true, Residual::Separate, 2, 5).unwrap();
        let p = conv3x3(9, 9, 300, 40, layout).padding(1, 1, 1, 1);
        check_all(&p, true, Residual::None, 1, 6).unwrap();
    }
}

#[test]
fn bitwise_identical_for_any_thread_count() {
    for layout in [Layout::Nhwc, Layout::Nchw] {
        for p in [conv3x3(30, 26, 32, 48, layout).batch(2).padding(1, 1, 1, 1), conv3x3(7, 7, 96, 200, layout)] {
            let t = Tensors::new(&p, true, Residual::Separate, 9).unwrap();
            for isa in isas() {
                let conv = Conv2d::with_options(p, &t.weights, t.bias.as_deref(), opts(isa)).unwrap();
                let run = |threads| {
                    let mut y = vec![0.0f32; conv.output_len()];
                    conv.run_with(&t.input, &mut y, threads, t.residual.as_deref()).unwrap();
                    y
                };
                let one = run(1);
                for threads in 2..=4 {
                    same_bits(&one, &run(threads)).unwrap_or_else(|e| panic!("{isa} {threads} threads {p:?}: {e}"));
                }
            }
        }
    }
}

#[test]
fn chosen_only_when_asked_and_the_shape_qualifies() {
    let algo = |p: Conv2dParams, winograd: bool, w: Option<Vec<f32>>| {
        let s = p.validate().unwrap();
        let w = w.unwrap_or_else(|| common::data(s.weight_len, 1));
        let o = PlanOptions { winograd, ..Default::default() };
        Conv2d::with_options(p, &w, None, o).unwrap().kernel_choice().algorithm
    };
    let p = conv3x3(8, 8, 4, 4, Layout::Nhwc);
    assert_eq!(algo(p, true, None), "winograd-f4x4-3x3-nhwc");
    assert_eq!(algo(p.layout(Layout::Nchw), true, None), "winograd-f4x4-3x3-nchw");
    assert!(!algo(p, false, None).starts_with("winograd"), "the default path stays exact");
    assert!(!algo(p.stride(2, 2), true, None).starts_with("winograd"));
    assert!(!algo(p.dilation(2, 2), true, None).starts_with("winograd"));
    assert!(!algo(p.groups(2), true, None).starts_with("winograd"));
    assert!(!algo(Conv2dParams::new(8, 8, 4, 4, 5, 5), true, None).starts_with("winograd"));
    assert!(!algo(Conv2dParams::new(8, 8, 4, 4, 3, 1), true, None).starts_with("winograd"));
    let mut w = common::data(4 * 4 * 9, 1);
    w[5] = f32::INFINITY;
    assert!(!algo(p, true, Some(w.clone())).starts_with("winograd"), "non-finite weights stay exact");
    w[5] = f32::NAN;
    assert!(!algo(p, true, Some(w)).starts_with("winograd"), "non-finite weights stay exact");
}

/// The measured error on data in [-1, 1], `c_in` up to 512: relative to the tile magnitude (the documented bound)
/// and to the usual `sum |w| |x|` (reported, and bounded by `TYPICAL` for these shapes).
#[test]
fn error_bound() {
    const TYPICAL: f64 = 1e-5;
    let (mut worst_tile, mut worst_mag) = (0f64, 0f64);
    for (c_in, c_out, hw) in [(1, 8, 12), (3, 8, 12), (8, 8, 12), (64, 16, 12), (256, 8, 8), (512, 8, 8)] {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            let p = conv3x3(hw, hw, c_in, c_out, layout).padding(1, 1, 1, 1);
            for positive in [false, true] {
                let mut t = Tensors::new(&p, false, Residual::None, c_in as u64).unwrap();
                if positive {
                    // No cancellation: every product adds up.
                    t.input.iter_mut().chain(t.weights.iter_mut()).for_each(|v| *v = v.abs());
                }
                let want = t.reference(&p);
                let tmag = tile_magnitude(&p, &t);
                for isa in isas() {
                    let conv = Conv2d::with_options(p, &t.weights, None, opts(isa)).unwrap();
                    let mut y = vec![0.0f32; conv.output_len()];
                    conv.run_with(&t.input, &mut y, 1, None).unwrap();
                    let (mut rt, mut rm) = (0f64, 0f64);
                    for (i, (&g, &v)) in y.iter().zip(&want.value).enumerate() {
                        let e = (g as f64 - v).abs();
                        rt = rt.max(e / tmag[i]);
                        rm = rm.max(e / want.magnitude[i]);
                    }
                    eprintln!(
                        "c_in {c_in:4} {layout:?} {isa}: max |error| / tile magnitude = {rt:.3e}, / sum |w||x| = {rm:.3e}"
                    );
                    worst_tile = worst_tile.max(rt);
                    worst_mag = worst_mag.max(rm);
                }
            }
        }
    }
    eprintln!("worst: {worst_tile:.3e} of the tile magnitude (bound {BOUND:e}), {worst_mag:.3e} of sum |w||x|");
    assert!(worst_tile < BOUND, "measured error {worst_tile:e} exceeds the documented bound {BOUND:e}");
    assert!(worst_mag < TYPICAL, "measured error {worst_mag:e} of sum |w||x| exceeds {TYPICAL:e}");
}

#[test]
fn c_abi_create_ex_flag() {
    use simdconv::ffi::*;
    let p = conv3x3(9, 11, 5, 7, Layout::Nhwc).padding(1, 1, 1, 1);
    let s = p.validate().unwrap();
    let t = Tensors::new(&p, true, Residual::None, 3).unwrap();
    let want = t.reference(&p);
    let desc = simdconv_conv2d_desc {
        batch: 1,
        in_height: 9,
        in_width: 11,
        in_channels: 5,
        out_channels: 7,
        kernel_height: 3,
        kernel_width: 3,
        stride_height: 1,
        stride_width: 1,
        dilation_height: 1,
        dilation_width: 1,
        pad_top: 1,
        pad_left: 1,
        pad_bottom: 1,
        pad_right: 1,
        groups: 1,
        layout: SIMDCONV_LAYOUT_NHWC,
        weight_layout: SIMDCONV_WEIGHT_LAYOUT_OHWI,
        output_min: f32::NEG_INFINITY,
        output_max: f32::INFINITY,
    };
    let b = t.bias.as_ref().unwrap();
    for flags in [0, SIMDCONV_CREATE_WINOGRAD] {
        let mut h = core::ptr::null_mut();
        // SAFETY: valid descriptor, buffers of the sizes the descriptor implies, a live handle destroyed once.
        unsafe {
            assert_eq!(simdconv_conv2d_create_ex(&desc, t.weights.as_ptr(), b.as_ptr(), flags, &mut h), 0);
            let mut y = vec![0.0f32; s.output_len];
            assert_eq!(simdconv_conv2d_run(h, t.input.as_ptr(), y.as_mut_ptr(), 1), 0);
            compare(&y, &want, &tile_magnitude(&p, &t)).unwrap();
            if flags == 0 {
                // Flag 0 is `simdconv_conv2d_create`: the exact path, bit for bit.
                let mut h0 = core::ptr::null_mut();
                assert_eq!(simdconv_conv2d_create(&desc, t.weights.as_ptr(), b.as_ptr(), &mut h0), 0);
                let mut y0 = vec![0.0f32; s.output_len];
                assert_eq!(simdconv_conv2d_run(h0, t.input.as_ptr(), y0.as_mut_ptr(), 1), 0);
                same_bits(&y, &y0).unwrap();
                simdconv_conv2d_destroy(h0);
            }
            simdconv_conv2d_destroy(h);
        }
    }
    for flags in [2, 4, 0x8000_0000, SIMDCONV_CREATE_WINOGRAD | 2] {
        let mut h = std::ptr::dangling_mut::<simdconv_conv2d>();
        // SAFETY: as above; the call fails and stores NULL.
        let st = unsafe { simdconv_conv2d_create_ex(&desc, t.weights.as_ptr(), b.as_ptr(), flags, &mut h) };
        assert_eq!(st, SIMDCONV_STATUS_INVALID_ARGUMENT, "flags {flags:#x}");
        assert!(h.is_null());
    }
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![Just(Layout::Nhwc), Just(Layout::Nchw)]
}

fn residual() -> impl Strategy<Value = Residual> {
    prop_oneof![Just(Residual::None), Just(Residual::Separate), Just(Residual::InPlace)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(48)))]

    #[test]
    fn matches_reference(
        batch in 1..=2usize,
        (h, w) in (1..=20usize, 1..=20usize),
        (c_in, c_out) in (1..=40usize, 1..=70usize),
        (pt, pl, pb, pr) in (0..=2usize, 0..=2usize, 0..=2usize, 0..=2usize),
        layout in layout(),
        bias in any::<bool>(),
        residual in residual(),
        relu in any::<bool>(),
        threads in 1..=2usize,
        seed in any::<u64>(),
    ) {
        let h = h.max(3usize.saturating_sub(pt + pb));
        let w = w.max(3usize.saturating_sub(pl + pr));
        let mut p = conv3x3(h, w, c_in, c_out, layout).batch(batch).padding(pt, pl, pb, pr);
        if relu {
            p = p.clamp(0.0, f32::INFINITY);
        }
        check_all(&p, bias, residual, threads, seed).map_err(TestCaseError::fail)?;
    }
}
