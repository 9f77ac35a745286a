//! Property tests of every convolution path against `simdconv::reference`, on every ISA this machine runs
//! (or only the one `SIMDCONV_TEST_ISA` names), plus the forced-ISA contract.
//!
//! `PROPTEST_CASES` overrides the case counts.

mod common;

use common::{Clamp, Residual, cases, check_isas, isas};
use proptest::prelude::*;
use simdconv::{Conv2d, Conv2dParams, Error, Isa, Layout, PlanOptions, WeightLayout};

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![Just(Layout::Nhwc), Just(Layout::Nchw)]
}

fn weight_layout() -> impl Strategy<Value = WeightLayout> {
    prop_oneof![Just(WeightLayout::Oihw), Just(WeightLayout::Ohwi), Just(WeightLayout::Hwio)]
}

fn clamp() -> impl Strategy<Value = Clamp> {
    prop_oneof![
        2 => Just(Clamp::None),
        1 => Just(Clamp::Relu),
        1 => Just(Clamp::Relu6),
        2 => (-2.0f32..2.0, 0.0f32..3.0).prop_map(|(lo, d)| Clamp::Range(lo, lo + d)),
        1 => (-1.0f32..1.0).prop_map(|v| Clamp::Range(v, v)),
    ]
}

fn residual() -> impl Strategy<Value = Residual> {
    prop_oneof![Just(Residual::None), Just(Residual::Separate), Just(Residual::InPlace)]
}

/// `(c_in, c_out, groups)`: ungrouped, grouped, and depthwise with a channel multiplier.
fn channels() -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![
        (1..=40usize, 1..=40usize).prop_map(|(ci, co)| (ci, co, 1)),
        (2..=6usize, 1..=7usize, 1..=7usize).prop_map(|(g, ig, og)| (g * ig, g * og, g)),
        (1..=40usize, 1..=3usize).prop_map(|(c, m)| (c, c * m, c)),
    ]
}

/// One full test case.
#[derive(Debug, Clone)]
struct Case {
    p: Conv2dParams,
    bias: bool,
    residual: Residual,
    clamp: Clamp,
    threads: usize,
    seed: u64,
}

/// Grows the input just enough that the dilated kernel fits the padded input.
fn fit(input: usize, kernel: usize, dilation: usize, pad_a: usize, pad_b: usize) -> usize {
    let need = (kernel - 1) * dilation + 1;
    input.max(need.saturating_sub(pad_a + pad_b)).max(1)
}

prop_compose! {
    fn general_case()(
        batch in 1..=3usize,
        (h, w) in (1..=12usize, 1..=12usize),
        (c_in, c_out, groups) in channels(),
        (kh, kw) in (1..=5usize, 1..=5usize),
        (sh, sw) in (1..=3usize, 1..=3usize),
        (dh, dw) in (1..=3usize, 1..=3usize),
        (pt, pl, pb, pr) in (0..=3usize, 0..=3usize, 0..=3usize, 0..=3usize),
        layout in layout(),
        wl in weight_layout(),
        bias in any::<bool>(),
        residual in residual(),
        clamp in clamp(),
        threads in 1..=2usize,
        seed in any::<u64>(),
    ) -> Case {
        let p = Conv2dParams::new(fit(h, kh, dh, pt, pb), fit(w, kw, dw, pl, pr), c_in, c_out, kh, kw)
            .batch(batch)
            .stride(sh, sw)
            .dilation(dh, dw)
            .padding(pt, pl, pb, pr)
            .groups(groups)
            .layout(layout)
            .weight_layout(wl);
        Case { p, bias, residual, clamp, threads, seed }
    }
}

prop_compose! {
    /// 1x1 convolutions with wide channel ranges (the pointwise GEMM paths).
    fn pointwise_case()(
        batch in 1..=2usize,
        (h, w) in (1..=12usize, 1..=12usize),
        (c_in, c_out) in (1..=300usize, 1..=100usize),
        grouped in prop::bool::weighted(0.15),
        (sh, sw) in (1..=2usize, 1..=2usize),
        (pt, pl, pb, pr) in prop_oneof![
            4 => Just((0usize, 0usize, 0usize, 0usize)),
            1 => (0..=1usize, 0..=1usize, 0..=1usize, 0..=1usize),
        ],
        layout in layout(),
        wl in weight_layout(),
        bias in any::<bool>(),
        residual in residual(),
        clamp in clamp(),
        threads in 1..=2usize,
        seed in any::<u64>(),
    ) -> Case {
        // Grouped variant: two groups over even channel counts.
        let (c_in, c_out, groups) = if grouped { (2 * c_in.div_ceil(2), 2 * c_out.div_ceil(2), 2) } else { (c_in, c_out, 1) };
        let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1)
            .batch(batch)
            .stride(sh, sw)
            .padding(pt, pl, pb, pr)
            .groups(groups)
            .layout(layout)
            .weight_layout(wl);
        Case { p, bias, residual, clamp, threads, seed }
    }
}

prop_compose! {
    /// Shapes of more than 3 MFLOP (enough for several threads: each gets at least 0.2 MFLOP), run on several threads.
    fn threaded_case()(
        batch in 1..=2usize,
        (h, w) in (10..=24usize, 10..=24usize),
        (c_in, c_out, groups) in prop_oneof![
            (8..=48usize, 8..=64usize).prop_map(|(ci, co)| (ci, co, 1)),
            (2..=4usize, 4..=16usize, 4..=16usize).prop_map(|(g, ig, og)| (g * ig, g * og, g)),
        ],
        k in 1..=3usize,
        s in 1..=2usize,
        pad in 0..=1usize,
        layout in layout(),
        residual in residual(),
        clamp in clamp(),
        threads in prop_oneof![Just(2usize), Just(3), Just(0)],
        seed in any::<u64>(),
    ) -> Case {
        let mut p = Conv2dParams::new(h, w, c_in, c_out, k, k)
            .batch(batch)
            .stride(s, s)
            .padding(pad, pad, pad, pad)
            .groups(groups)
            .layout(layout);
        // Widen the output past 3 MFLOP (the reference costs flops / 2).
        while p.validate().is_ok_and(|s| s.flops <= 3_000_000) {
            p.c_out *= 2;
        }
        Case { p, bias: true, residual, clamp, threads, seed }
    }
}

fn run_case(c: &Case) -> Result<(), TestCaseError> {
    prop_assume!(c.p.validate().is_ok());
    // An invalid SIMDCONV_TEST_ISA rejects every case (so the property fails without persisting a bogus
    // regression seed); `test_isa_from_environment` reports why.
    let list = common::try_isas().map_err(TestCaseError::reject)?;
    check_isas(&c.p, &list, c.bias, c.residual, c.clamp, c.threads, c.seed).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), max_shrink_iters: 2000, ..ProptestConfig::default() })]

    /// Every parameter at once, every ISA: the im2col/GEMM paths in both layouts, groups, depthwise, padding.
    #[test]
    fn conv_matches_reference(c in general_case()) {
        run_case(&c)?;
    }

    /// The pointwise paths with channel counts well past one micro-tile.
    #[test]
    fn pointwise_matches_reference(c in pointwise_case()) {
        run_case(&c)?;
    }
}

proptest! {
    // Each case costs a few hundred small ones (the f64 reference and the portable paths dominate).
    #![proptest_config(ProptestConfig { cases: cases(256).div_ceil(40), ..ProptestConfig::default() })]

    /// Layers large enough to be split over threads.
    #[test]
    fn threaded_matches_reference(c in threaded_case()) {
        prop_assert!(c.p.validate().is_ok_and(|s| s.flops > 3_000_000));
        run_case(&c)?;
    }
}

/// A forced ISA this machine cannot run is an `Unsupported` error; the library never falls back silently.
#[test]
fn forced_isa_that_cannot_run_fails() {
    let p = Conv2dParams::new(4, 4, 3, 5, 3, 3);
    let w = common::data(p.validate().unwrap().weight_len, 1);
    for isa in Isa::ALL.into_iter().filter(|i| !i.available()) {
        match Conv2d::with_options(p, &w, None, PlanOptions { isa: Some(isa), ..Default::default() }) {
            Err(Error::Unsupported(_)) => {}
            Err(e) => panic!("forcing unavailable {isa}: expected Unsupported, got {e:?}"),
            Ok(c) => panic!("forcing unavailable {isa} built a plan for {}", c.isa()),
        }
        assert!(matches!(isa.check_available(), Err(Error::Unsupported(_))), "{isa}");
        assert!(matches!(simdconv::force_isa(Some(isa)), Err(Error::Unsupported(_))), "force_isa({isa})");
    }
    // Without a forced ISA, plans use the detected one.
    if std::env::var("SIMDCONV_ISA").is_err() {
        assert_eq!(Conv2d::new(p, &w, None).unwrap().isa(), Isa::detect());
    }
    // Every available ISA builds a plan that reports exactly that ISA.
    for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
        let c = Conv2d::with_options(p, &w, None, PlanOptions { isa: Some(isa), ..Default::default() }).unwrap();
        assert_eq!(c.isa(), isa);
        assert_eq!(c.kernel_choice().isa, isa);
    }
}

/// `SIMDCONV_TEST_ISA=<name>`, when set, must name an ISA this machine runs; the suites then run on it alone.
#[test]
fn test_isa_from_environment() {
    let list = isas();
    assert!(!list.is_empty());
    match std::env::var("SIMDCONV_TEST_ISA") {
        Ok(s) if !s.trim().is_empty() => {
            let isa = Isa::from_name(&s).expect("SIMDCONV_TEST_ISA names a known ISA");
            assert!(isa.available(), "SIMDCONV_TEST_ISA={s} is not available on this machine");
            assert_eq!(list, vec![isa]);
        }
        _ => {
            assert!(list.contains(&Isa::Portable) && list.contains(&Isa::Avx512Portable));
            assert!(list.contains(&Isa::detect()));
        }
    }
}
