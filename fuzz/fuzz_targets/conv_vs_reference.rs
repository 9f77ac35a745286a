//! Fuzzes the Rust API against the f64 reference: small random valid convolutions (both layouts, all weight
//! layouts, groups, strides, dilation, padding, bias, clamp, residual, now and then a long reduction, every ISA
//! this CPU runs); panics on a mismatch.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use simdconv::{Conv2d, Conv2dParams, Isa, Layout, PlanOptions, WeightLayout, reference};

#[derive(Debug, Arbitrary)]
enum Residual {
    None,
    Separate,
    InPlace,
}

fn data(n: usize, seed: u32, zeros: bool) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            if zeros && s.is_multiple_of(5) { 0.0 } else { (s % 2001) as f32 / 1000.0 - 1.0 }
        })
        .collect()
}

/// `SIMDCONV_FUZZ_VERBOSE=1` prints each case (for replaying a crashing input).
fn verbose() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var_os("SIMDCONV_FUZZ_VERBOSE").is_some())
}

fn fuzz(u: &mut Unstructured) -> arbitrary::Result<()> {
    // Depthwise (one input channel per group, channel multiplier 1..3) often, with enough channels for vector
    // tails; otherwise general grouped or dense convolutions.
    let depthwise = u.ratio(1, 3)?;
    let groups: usize = u.int_in_range(1..=if depthwise { 40 } else { 4 })?;
    // Now and then a long reduction (1x1 layers over 256 channels run NCHW as pixel rows).
    let cin_g: usize = if depthwise {
        1
    } else if u.ratio(1, 16)? {
        u.int_in_range(250..=300)?
    } else {
        u.int_in_range(1..=6)?
    };
    let cout_g: usize = u.int_in_range(1..=if depthwise { 3 } else { 6 })?;
    // 1x1 kernels are common in practice.
    let (kh, kw): (usize, usize) =
        if u.ratio(1, 4)? { (1, 1) } else { (u.int_in_range(1..=4)?, u.int_in_range(1..=4)?) };
    let (dh, dw): (usize, usize) = (u.int_in_range(1..=3)?, u.int_in_range(1..=3)?);
    // Occasionally wide padding, strides and images: all-padding rows and columns, outputs beyond the input,
    // rows longer than several vectors.
    let wide = u.ratio(1, 8)?;
    let (max_pad, max_stride, max_extra) = if wide { (20, 12, 40) } else { (3, 3, 8) };
    let mut pads = [0usize; 4];
    for v in &mut pads {
        *v = u.int_in_range(0..=max_pad)?;
    }
    // The input is at least as large as the dilated kernel minus the padding, so the plan is valid.
    let min_h = ((kh - 1) * dh + 1).saturating_sub(pads[0] + pads[2]).max(1);
    let min_w = ((kw - 1) * dw + 1).saturating_sub(pads[1] + pads[3]).max(1);
    let mut p = Conv2dParams::new(
        min_h + u.int_in_range(0..=max_extra)?,
        min_w + u.int_in_range(0..=max_extra)?,
        groups * cin_g,
        groups * cout_g,
        kh,
        kw,
    )
    .batch(u.int_in_range(1..=2)?)
    .stride(u.int_in_range(1..=max_stride)?, u.int_in_range(1..=max_stride)?)
    .dilation(dh, dw)
    .padding(pads[0], pads[1], pads[2], pads[3])
    .groups(groups)
    .layout(*u.choose(&[Layout::Nhwc, Layout::Nchw])?)
    .weight_layout(*u.choose(&[WeightLayout::Oihw, WeightLayout::Ohwi, WeightLayout::Hwio])?);
    if u.ratio(1, 3)? {
        let (lo, hi) =
            *u.choose(&[(0.0, 6.0), (0.0, f32::INFINITY), (-0.5, 0.5), (f32::NEG_INFINITY, 0.25), (0.1, 0.1)])?;
        p = p.clamp(lo, hi);
    }
    let s = p.validate().unwrap_or_else(|e| panic!("generated invalid parameters {p:?}: {e}"));

    let seed = u32::arbitrary(u)?;
    let zeros = bool::arbitrary(u)?;
    let w = data(s.weight_len, seed, zeros);
    let x = data(s.input_len, seed ^ 0x9e37_79b9, zeros);
    let bias = bool::arbitrary(u)?.then(|| data(p.c_out, seed ^ 0x85eb_ca6b, false));
    let residual = Residual::arbitrary(u)?;
    let r = data(s.output_len, seed ^ 0xc2b2_ae35, false);
    let isas: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.available()).collect();
    let isa = *u.choose(&isas)?;
    let threads: usize = u.int_in_range(0..=3)?;

    if verbose() {
        eprintln!("{isa}, {threads} threads, residual {residual:?}, bias {}: {p:?}", bias.is_some());
    }
    let conv = Conv2d::with_options(p, &w, bias.as_deref(), PlanOptions { isa: Some(isa), ..Default::default() })
        .unwrap_or_else(|e| panic!("{isa}: plan failed for {p:?}: {e}"));
    assert_eq!(conv.isa(), isa);
    assert_eq!(conv.output_len(), s.output_len);
    let mut y = vec![f32::NAN; s.output_len];
    let res = match residual {
        Residual::None => conv.run_with(&x, &mut y, threads, None),
        Residual::Separate => conv.run_with(&x, &mut y, threads, Some(&r)),
        Residual::InPlace => {
            y.copy_from_slice(&r);
            conv.run_residual_in_place(&x, &mut y, threads)
        }
    };
    res.unwrap_or_else(|e| panic!("{isa}: run failed for {p:?}: {e}"));
    let want = reference::conv2d_f64(&p, &x, &w, bias.as_deref(), (!matches!(residual, Residual::None)).then_some(&r))
        .expect("reference");
    if let Err(e) = reference::compare(&p, &y, &want) {
        panic!("{isa}, {threads} threads, residual {residual:?}, bias {}: {p:?}: {e}", bias.is_some());
    }
    Ok(())
}

fuzz_target!(|bytes: &[u8]| {
    let _ = fuzz(&mut Unstructured::new(bytes));
});
