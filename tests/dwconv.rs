//! Depthwise convolution (groups == c_in): edge sweeps around every ISA's lane count, padding, strides, dilation,
//! channel multipliers, both layouts, the fused epilogue, guard values, thread-count determinism and a proptest,
//! all against the f64 reference.
mod common;

use proptest::prelude::*;
use simdconv::ukernel::dwconv;
use simdconv::*;

fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn isas() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|i| i.available()).collect()
}

/// SIMD lanes of each available ISA's depthwise kernels.
fn lanes_of(isa: Isa) -> usize {
    dwconv::all().find(|k| k.isa == isa).map(|k| k.lanes).expect("every ISA has depthwise kernels")
}

/// Channel counts around a tile: 1, lanes - 1, lanes, lanes + 1, 3 * lanes + 1.
fn channel_sweep(l: usize) -> Vec<usize> {
    let mut v = vec![1, l.saturating_sub(1).max(1), l, l + 1, 3 * l + 1];
    v.dedup();
    v
}

#[derive(Clone, Copy, Default)]
struct Extras {
    bias: bool,
    residual: bool,
    in_place: bool,
    threads: usize,
    /// Skip the reference comparison (for reruns whose bits are compared with a checked run).
    no_reference: bool,
}

/// Plans `p` for `isa`, runs it into an output surrounded by guard values, compares with the reference and
/// checks the guards; returns the output.
fn check(p: Conv2dParams, isa: Isa, e: Extras) -> Vec<f32> {
    let s = p.validate().unwrap();
    let w = data(s.weight_len, 11);
    let b = data(p.c_out, 12);
    let x = data(s.input_len, 13);
    let r = data(s.output_len, 14);
    let bias = e.bias.then_some(&b[..]);
    let conv = Conv2d::with_options(p, &w, bias, PlanOptions { isa: Some(isa), ..Default::default() })
        .unwrap_or_else(|err| panic!("{isa} {p:?}: {err}"));
    let choice = conv.kernel_choice();
    let want_algo = if p.layout == Layout::Nhwc { "depthwise-nhwc" } else { "depthwise-nchw" };
    assert_eq!(choice.algorithm, want_algo, "{p:?}");
    assert!(choice.kernel.contains("dwconv"), "{}", choice.kernel);
    const GUARD: usize = 37;
    const G: f32 = 12345.5;
    let mut buf = vec![G; s.output_len + 2 * GUARD];
    let y = &mut buf[GUARD..GUARD + s.output_len];
    let residual = e.residual || e.in_place;
    if e.in_place {
        y.copy_from_slice(&r);
        conv.run_residual_in_place(&x, y, e.threads).unwrap();
    } else {
        conv.run_with(&x, y, e.threads, e.residual.then_some(&r[..])).unwrap();
    }
    if !e.no_reference {
        let want = reference::conv2d_f64(&p, &x, &w, bias, residual.then_some(&r[..])).unwrap();
        reference::compare(&p, y, &want).unwrap_or_else(|err| panic!("{isa} {} {p:?}: {err}", choice.kernel));
    }
    assert!(buf[..GUARD].iter().chain(&buf[GUARD + s.output_len..]).all(|&g| g == G), "{isa} {p:?}: guard overwritten");
    buf[GUARD..GUARD + s.output_len].to_vec()
}

fn dw(h: usize, w: usize, c: usize, k: (usize, usize), layout: Layout) -> Conv2dParams {
    let wl = if layout == Layout::Nhwc { WeightLayout::Ohwi } else { WeightLayout::Oihw };
    Conv2dParams::new(h, w, c, c, k.0, k.1).groups(c).layout(layout).weight_layout(wl)
}

/// Kernel name the plan should pick for a specialised shape.
fn expect_kernel(p: &Conv2dParams, isa: Isa, shape: dwconv::DwShape) -> &'static str {
    dwconv::select(isa, p.layout, shape, p.c_in).unwrap().name
}

#[test]
fn registry_has_every_shape_for_every_isa() {
    use dwconv::DwShape::*;
    for isa in Isa::ALL {
        let n = dwconv::all().filter(|k| k.isa == isa).count();
        if n == 0 {
            assert!(!isa.available(), "{isa} is available but has no depthwise kernels");
            continue;
        }
        for layout in [Layout::Nhwc, Layout::Nchw] {
            for shape in [K3S1, K3S2, K5S1, K5S2, Generic] {
                assert!(dwconv::find(isa, layout, shape).is_some(), "{isa} {layout:?} {shape:?}");
            }
        }
    }
    let mut names: Vec<_> = dwconv::all().map(|k| k.name).collect();
    names.sort();
    let len = names.len();
    names.dedup();
    assert_eq!(names.len(), len, "kernel names are unique");
}

/// Specialised 3x3 / 5x5, strides 1 and 2: channels around the tile, sizes 1..=k+3, every padding pair
/// (symmetric and asymmetric) up to k-1 in each direction, both layouts, every ISA.
#[test]
fn sweep_specialised_shapes() {
    use dwconv::DwShape;
    for isa in isas() {
        let l = lanes_of(isa);
        for layout in [Layout::Nhwc, Layout::Nchw] {
            for (k, st, shape) in
                [(3, 1, DwShape::K3S1), (3, 2, DwShape::K3S2), (5, 1, DwShape::K5S1), (5, 2, DwShape::K5S2)]
            {
                let chans = if layout == Layout::Nhwc { channel_sweep(l) } else { vec![1, 3] };
                for &c in &chans {
                    // Width sweep with every left/right padding, height fixed; then the transpose.
                    for size in 1..=k + 3 {
                        for a in 0..k {
                            for b in 0..k {
                                for (h, w, pads) in [(k + 1, size, (1, a, 1, b)), (size, k + 1, (a, 1, b, 1))] {
                                    let p = dw(h, w, c, (k, k), layout)
                                        .stride(st, st)
                                        .padding(pads.0, pads.1, pads.2, pads.3);
                                    if p.validate().is_err() {
                                        continue;
                                    }
                                    check(p, isa, Extras { bias: true, threads: 1, ..Default::default() });
                                    let conv = Conv2d::with_options(
                                        p,
                                        &data(c * k * k, 1),
                                        None,
                                        PlanOptions { isa: Some(isa), ..Default::default() },
                                    )
                                    .unwrap();
                                    assert_eq!(conv.kernel_choice().kernel, expect_kernel(&p, isa, shape));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// NCHW rows around one to four vector widths (the whole-row paths) and past the kernels' narrow-row limit of 64,
/// and NHWC widths long enough for the multi-pixel interior loop.
#[test]
fn sweep_row_lengths() {
    for isa in isas() {
        let l = lanes_of(isa);
        for layout in [Layout::Nhwc, Layout::Nchw] {
            for (k, st) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
                for ow in [
                    l.saturating_sub(1).max(1),
                    l,
                    l + 1,
                    2 * l - 1,
                    2 * l,
                    2 * l + 3,
                    3 * l,
                    3 * l + 1,
                    4 * l,
                    64,
                    65,
                    4 * l + 67,
                ] {
                    let w = (ow - 1) * st + 1;
                    for pad in [0, k / 2, k - 1] {
                        let p = dw(2 * k + 3, w + k - 1 - pad.min(k - 1), 3, (k, k), layout).stride(st, st).padding(
                            pad,
                            pad,
                            k - 1 - pad,
                            pad,
                        );
                        if p.validate().is_err() {
                            continue;
                        }
                        check(p, isa, Extras { bias: true, residual: true, threads: 1, ..Default::default() });
                    }
                }
            }
        }
    }
}

/// NCHW stride-1 planes whose padded rows fit one or two vectors (the narrow-row paths): every height up to a few
/// multi-row passes, widths up to two vectors, every left/right padding, residual and clamp, every ISA.
#[test]
fn sweep_narrow_nchw_planes() {
    for isa in isas() {
        let l = lanes_of(isa);
        for k in [3, 5] {
            for w in [
                1,
                2,
                k,
                l.saturating_sub(k).max(1),
                l.saturating_sub(k - 1).max(1),
                l + 1,
                l + k,
                2 * l - k + 1,
                2 * l,
            ] {
                for h in 1..=20 {
                    for (pl, pr) in [(0, 0), (k / 2, k / 2), (k - 1, 0), (0, k - 1), (1, k - 1)] {
                        let p = dw(h, w, 2, (k, k), Layout::Nchw).padding(k / 2, pl, k / 2, pr).clamp(-0.6, 0.7);
                        if p.validate().is_err() {
                            continue;
                        }
                        let in_place = h % 4 == 1;
                        check(
                            p,
                            isa,
                            Extras { bias: true, residual: !in_place, in_place, threads: 1, ..Default::default() },
                        );
                    }
                }
            }
        }
    }
}

/// NHWC rows whose interior holds every count of outputs up to a few multi-output segments (the segment
/// remainders of 1, 2 and 3 outputs), channels over two tiles and a partial one, channel multiplier 1 and 2, every ISA.
#[test]
fn sweep_nhwc_interior_lengths() {
    for isa in isas() {
        let l = lanes_of(isa);
        for (k, st) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
            for ow in 1..=18 {
                let w = (ow - 1) * st + 1;
                for m in [1, 2] {
                    let c = if m == 1 { 4 * l + 3 } else { l + 1 };
                    let p = Conv2dParams::new(k + 2, w, c, m * c, k, k)
                        .groups(c)
                        .layout(Layout::Nhwc)
                        .weight_layout(WeightLayout::Ohwi)
                        .stride(st, st)
                        .padding(k / 2, k / 2, k / 2, k / 2);
                    if p.validate().is_err() {
                        continue;
                    }
                    check(p, isa, Extras { bias: true, residual: true, threads: 1, ..Default::default() });
                }
            }
        }
    }
}

/// The NHWC kernels that take two output rows a call (3x3 stride 2, from a few tiles of channels): every output
/// height up to a few pairs (an odd last row runs alone), every top/bottom padding, interiors around its step of
/// outputs, channel counts at and past its threshold (a masked last tile), the epilogue, batches (pairs never span
/// two images) and thread counts that split the rows into blocks of odd length, bitwise against one thread.
#[test]
fn nhwc_two_output_rows_a_call() {
    for isa in isas() {
        let Some(k) = dwconv::all().find(|k| k.isa == isa && k.pair) else { continue };
        let (l, min) = (k.lanes, k.min_channels);
        assert!(min > 0 && k.layout() == Layout::Nhwc && k.shape == dwconv::DwShape::K3S2, "{}", k.name);
        for c in [min, min + 1, min + l.max(2) - 1, 2 * min + 5] {
            for h in 1..=10 {
                for (pt, pb) in [(1, 1), (0, 0), (2, 0), (0, 2), (1, 2)] {
                    for (w, pl, pr) in [(1, 1, 1), (9, 1, 1), (17, 1, 0), (20, 0, 2), (23, 2, 1)] {
                        let p = dw(h, w, c, (3, 3), Layout::Nhwc)
                            .stride(2, 2)
                            .padding(pt, pl, pb, pr)
                            .clamp(-0.5, 0.75)
                            .batch(if h % 3 == 0 { 2 } else { 1 });
                        if p.validate().is_err() {
                            continue;
                        }
                        let conv = Conv2d::with_options(
                            p,
                            &data(c * 9, 1),
                            None,
                            PlanOptions { isa: Some(isa), ..Default::default() },
                        )
                        .unwrap();
                        assert_eq!(conv.kernel_choice().kernel, k.name, "{p:?}");
                        let in_place = (h + w) % 2 == 0;
                        let e = Extras { bias: true, residual: !in_place, in_place, threads: 1, no_reference: false };
                        let one = check(p, isa, e);
                        let three = check(p, isa, Extras { threads: 3, no_reference: true, ..e });
                        assert!(
                            one.iter().zip(&three).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{isa} {p:?}: 3 threads differ from 1"
                        );
                    }
                }
            }
        }
        // A channel multiplier: rows gathered into the driver's copies, one output row a call.
        for h in [3, 6] {
            let p = Conv2dParams::new(h, 13, min + 1, 2 * (min + 1), 3, 3)
                .groups(min + 1)
                .layout(Layout::Nhwc)
                .weight_layout(WeightLayout::Ohwi)
                .stride(2, 2)
                .padding(1, 1, 1, 1);
            check(p, isa, Extras { bias: true, residual: true, threads: 2, ..Default::default() });
        }
        // Below the threshold the one-row kernel serves.
        let p = dw(6, 9, min - 1, (3, 3), Layout::Nhwc).stride(2, 2).padding(1, 1, 1, 1);
        let conv = Conv2d::with_options(
            p,
            &data((min - 1) * 9, 1),
            None,
            PlanOptions { isa: Some(isa), ..Default::default() },
        )
        .unwrap();
        assert!(!conv.kernel_choice().kernel.contains("2rows"), "{isa}: {}", conv.kernel_choice().kernel);
    }
}

/// Everything the specialised kernels do not cover: other sizes, dilation, channel multipliers, odd strides.
#[test]
fn sweep_general_path() {
    for isa in isas() {
        let l = lanes_of(isa);
        for layout in [Layout::Nhwc, Layout::Nchw] {
            let cases = [
                dw(9, 11, l + 1, (1, 7), layout).padding(0, 3, 0, 3),
                dw(10, 9, 3, (7, 7), layout).padding(3, 3, 3, 3),
                dw(12, 13, 2 * l - 1, (7, 7), layout).stride(2, 2).padding(3, 2, 1, 3),
                dw(8, 9, 3, (7, 1), layout).padding(2, 0, 4, 0),
                dw(9, 10, l, (3, 3), layout).dilation(2, 2).padding(2, 2, 2, 2),
                dw(11, 12, 5, (5, 5), layout).dilation(2, 1).padding(3, 1, 4, 2),
                dw(10, 3 * l + 2, 2, (3, 3), layout).stride(3, 3).padding(1, 1, 1, 1),
                dw(9, 9, 4, (3, 3), layout).stride(1, 2).padding(1, 1, 1, 1),
                dw(6, 7, 3, (2, 2), layout).padding(0, 1, 1, 0),
                dw(5, 6, l + 3, (1, 1), layout),
                dw(4, 5, 1, (3, 3), layout).padding(1, 1, 1, 1),
            ];
            for p in cases {
                for e in [
                    Extras { bias: true, threads: 1, ..Default::default() },
                    Extras { bias: false, residual: true, threads: 1, ..Default::default() },
                ] {
                    check(p, isa, e);
                }
            }
            // Channel multiplier 2 and 3 on the specialised and the general shapes.
            for (k, st, d) in [(3, 1, 1), (3, 2, 1), (5, 1, 1), (3, 1, 2), (4, 1, 1)] {
                for c in [1, l - l / 2, l + 1] {
                    for m in [2, 3] {
                        let wl = if layout == Layout::Nhwc { WeightLayout::Ohwi } else { WeightLayout::Oihw };
                        let p = Conv2dParams::new(9, 10, c, m * c, k, k)
                            .groups(c)
                            .layout(layout)
                            .weight_layout(wl)
                            .stride(st, st)
                            .dilation(d, d)
                            .padding(1, 2, 2, 1);
                        check(p, isa, Extras { bias: true, threads: 1, ..Default::default() });
                    }
                }
            }
        }
    }
}

#[test]
fn epilogue_bias_residual_in_place_clamp() {
    for isa in isas() {
        let l = lanes_of(isa);
        for layout in [Layout::Nhwc, Layout::Nchw] {
            for (k, st) in [(3, 1), (3, 2), (5, 1), (5, 2), (7, 1)] {
                let base = dw(13, 2 * l + 5, l + 3, (k, k), layout).stride(st, st).padding(k / 2, k / 2, k / 2, k / 2);
                for p in [base, base.clamp(-0.3, 0.4), base.clamp(0.0, f32::INFINITY)] {
                    for e in [
                        Extras { bias: false, threads: 1, ..Default::default() },
                        Extras { bias: true, residual: true, threads: 1, ..Default::default() },
                        Extras { bias: true, in_place: true, threads: 1, ..Default::default() },
                    ] {
                        check(p, isa, e);
                    }
                }
            }
        }
    }
}

#[test]
fn all_weight_layouts() {
    for isa in isas() {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            for wl in [WeightLayout::Oihw, WeightLayout::Ohwi, WeightLayout::Hwio] {
                for (k, m) in [(3, 1), (5, 2), (7, 1)] {
                    let p = Conv2dParams::new(9, 11, 5, 5 * m, k, k)
                        .groups(5)
                        .layout(layout)
                        .weight_layout(wl)
                        .padding(1, 1, 1, 1);
                    check(p, isa, Extras { bias: true, threads: 1, ..Default::default() });
                }
            }
        }
    }
}

#[test]
fn batches() {
    for isa in isas() {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            for (k, st) in [(3, 1), (3, 2), (5, 2), (7, 1)] {
                let p = dw(9, 10, 11, (k, k), layout).stride(st, st).padding(k / 2, k / 2, k / 2, k / 2).batch(3);
                check(p, isa, Extras { bias: true, residual: true, threads: 1, ..Default::default() });
            }
        }
    }
}

/// Large enough to run on several threads: every thread count gives the same bits.
#[test]
fn thread_count_does_not_change_results() {
    for isa in isas() {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            for (k, st, m) in [(3, 1, 1), (3, 2, 1), (5, 1, 1), (7, 1, 1), (3, 1, 2)] {
                let p = Conv2dParams::new(64 * st, 61 * st, 32, 32 * m, k, k)
                    .groups(32)
                    .layout(layout)
                    .weight_layout(WeightLayout::Oihw)
                    .stride(st, st)
                    .padding(k / 2, k / 2, k / 2, k / 2)
                    .batch(2);
                assert!(p.validate().unwrap().flops > 3_000_000, "{p:?} is large enough to thread");
                let one = check(p, isa, Extras { bias: true, residual: true, threads: 1, ..Default::default() });
                for threads in [2, 3, 7] {
                    let e = Extras { bias: true, residual: true, threads, no_reference: true, ..Default::default() };
                    let many = check(p, isa, e);
                    assert!(
                        one.iter().zip(&many).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{isa} {p:?}: {threads} threads differ from 1"
                    );
                }
            }
        }
    }
}

/// NaN and infinities in the input reach exactly the outputs whose receptive field holds them (the depthwise
/// kernels); a non-finite weight makes its whole channel NaN (padding is an explicit zero input, `0 * NaN`), which
/// plans with such weights get from the GEMM path.
#[test]
fn non_finite_values() {
    for isa in isas() {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            for (k, st) in [(3, 1), (3, 2), (5, 1), (5, 2), (7, 1)] {
                let p =
                    dw(9, 11, 3, (k, k), layout).stride(st, st).padding(k / 2, k / 2, k / 2, k / 2).clamp(-0.5, 0.5);
                let s = p.validate().unwrap();
                let mut x = data(s.input_len, 3);
                x[7] = f32::NAN;
                x[20] = f32::INFINITY;
                x[31] = f32::NEG_INFINITY;
                let b = data(p.c_out, 5);
                for bad_weights in [false, true] {
                    let mut w = data(s.weight_len, 4);
                    if bad_weights {
                        w[0] = f32::NAN;
                        w[s.weight_len - 1] = f32::INFINITY;
                    }
                    let conv =
                        Conv2d::with_options(p, &w, Some(&b), PlanOptions { isa: Some(isa), ..Default::default() })
                            .unwrap();
                    let depthwise = conv.kernel_choice().algorithm.starts_with("depthwise");
                    assert_eq!(depthwise, !bad_weights, "{p:?}: {:?}", conv.kernel_choice());
                    let mut y = vec![0.0; s.output_len];
                    conv.run_with(&x, &mut y, 1, None).unwrap();
                    let want = reference::conv2d_f64(&p, &x, &w, Some(&b), None).unwrap();
                    reference::compare(&p, &y, &want)
                        .unwrap_or_else(|e| panic!("{isa} {} {p:?}: {e}", conv.kernel_choice().kernel));
                    assert!(y.iter().any(|v| v.is_nan()), "NaN propagates");
                    assert!(y.iter().any(|v| !v.is_nan()), "only the affected outputs are NaN");
                }
            }
        }
    }
}

/// The layer shapes of the benchmark table (smaller batches of channels), on every ISA.
#[test]
fn benchmark_shapes() {
    for isa in isas() {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            for (hw, c, k, st) in [(28, 32, 3, 1), (28, 24, 3, 2), (14, 48, 3, 1), (7, 40, 3, 1), (14, 24, 5, 1)] {
                let p = dw(hw, hw, c, (k, k), layout).stride(st, st).padding(k / 2, k / 2, k / 2, k / 2);
                check(p, isa, Extras { bias: true, threads: 0, ..Default::default() });
            }
        }
    }
}

fn arb_case() -> impl Strategy<Value = (Conv2dParams, usize, u8)> {
    (
        (1usize..3, 1usize..12, 1usize..12, 1usize..20, 1usize..4),
        (1usize..6, 1usize..6, 1usize..4, 1usize..4, 1usize..3, 1usize..3),
        (0usize..5, 0usize..5, 0usize..5, 0usize..5),
        (any::<bool>(), 0usize..3, 0usize..8, any::<bool>(), 0u8..8),
    )
        .prop_filter_map(
            "valid shape",
            |((n, h, w, c, m), (kh, kw, sh, sw, dh, dw), (pt, pl, pb, pr), (nchw, wl, isa_i, clamp, flags))| {
                let layout = if nchw { Layout::Nchw } else { Layout::Nhwc };
                let wl = [WeightLayout::Oihw, WeightLayout::Ohwi, WeightLayout::Hwio][wl];
                let mut p = Conv2dParams::new(h, w, c, c * m, kh, kw)
                    .groups(c)
                    .batch(n)
                    .stride(sh, sw)
                    .dilation(dh, dw)
                    .padding(pt.min(kh), pl.min(kw), pb.min(kh), pr.min(kw))
                    .layout(layout)
                    .weight_layout(wl);
                if clamp {
                    p = p.clamp(-0.4, 0.6);
                }
                p.validate().ok().map(|_| (p, isa_i, flags))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn matches_reference((p, isa_i, flags) in arb_case()) {
        let all = isas();
        let isa = all[isa_i % all.len()];
        let (bias, residual, in_place) = (flags & 1 == 1, flags & 2 == 2, flags & 4 == 4);
        let e = Extras { bias, residual, in_place, threads: 1, no_reference: false };
        check(p, isa, e);
    }
}

/// NHWC input that starts anywhere within a vector (numpy and `malloc` give 16 bytes past a cache line) runs with
/// tiles shifted to the next vector boundary when every pixel starts at the same offset: every offset, strides 1
/// and 2, the general kernel, one and two channel groups per call, residual and output at other offsets, several
/// threads; all bitwise equal to the aligned run and checked against the reference.
#[test]
fn nhwc_input_at_every_offset_within_a_vector() {
    for isa in isas() {
        // Multiples of 16 lanes from where shifting pays on 8 and 16 lanes (over one 128-channel group), one that
        // is not a multiple of the lanes, and 144 and 192 channels, whose last tiles ride along with the group
        // before them (one call of up to seven tiles).
        for (c, k, st, d) in [
            (208, 3, 1, 1),
            (240, 3, 2, 1),
            (208, 5, 1, 1),
            (209, 3, 1, 1),
            (208, 3, 1, 2),
            (96, 3, 2, 1),
            (144, 3, 1, 1),
            (192, 3, 2, 1),
        ] {
            let p = dw(9, 11, c, (k, k), Layout::Nhwc)
                .stride(st, st)
                .dilation(d, d)
                .padding(k / 2, k / 2 + 1, k / 2, k / 2)
                .clamp(-0.5, 0.75)
                .batch(2);
            let placements: Vec<_> = (0..16).map(|off| (off, (off * 5) % 16, (off * 3) % 16)).collect();
            common::check_placements(&p, isa, 21, &placements, &[1, 3]).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// Small NCHW planes at stride 1 with "same" padding run as whole planes with the outputs filling the lanes across
/// rows (16-lane kernels) and several planes per call: plane sizes around the vector, symmetric and asymmetric
/// padding, 3x3 and 5x5, channel counts, batches, the epilogue, guards, thread counts (bitwise), and non-finite
/// inputs that must reach only the outputs whose taps read them (no tap outside the image is read).
#[test]
fn nchw_small_planes_fill_lanes_across_rows() {
    let planes = [(7, 7), (5, 5), (3, 3), (2, 2), (1, 1), (8, 8), (6, 9), (9, 4), (12, 3), (4, 13), (10, 10)];
    for isa in isas() {
        for (k, pads) in [(3, [(1, 1), (0, 2), (2, 0)]), (5, [(2, 2), (1, 3), (4, 0)])] {
            for &(h, w) in &planes {
                for (pi, &(pt, pl)) in pads.iter().enumerate() {
                    let c = [1, 5, 33][pi];
                    let p = dw(h, w, c, (k, k), Layout::Nchw)
                        .padding(pt, pl, k - 1 - pt, k - 1 - pl)
                        .clamp(-0.75, 0.5)
                        .batch(2);
                    let one = check(p, isa, Extras { bias: true, residual: true, threads: 1, ..Default::default() });
                    let e = Extras { bias: true, residual: true, threads: 3, no_reference: true, ..Default::default() };
                    let three = check(p, isa, e);
                    assert!(
                        one.iter().zip(&three).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{isa} {p:?}: 3 threads differ from 1"
                    );
                    // Non-finite inputs, one per corner region of the first plane.
                    let s = p.validate().unwrap();
                    let mut x = data(s.input_len, 31);
                    x[0] = f32::NAN;
                    x[w - 1] = f32::INFINITY;
                    x[(h - 1) * w] = f32::NEG_INFINITY;
                    x[h * w - 1] = f32::NAN;
                    let wt = data(s.weight_len, 32);
                    let conv = Conv2d::with_options(p, &wt, None, PlanOptions { isa: Some(isa), ..Default::default() })
                        .unwrap();
                    let mut y = vec![0.0; s.output_len];
                    conv.run_with(&x, &mut y, 1, None).unwrap();
                    let want = reference::conv2d_f64(&p, &x, &wt, None, None).unwrap();
                    reference::compare(&p, &y, &want)
                        .unwrap_or_else(|e| panic!("{isa} {} {p:?}: {e}", conv.kernel_choice().kernel));
                }
            }
        }
    }
}
