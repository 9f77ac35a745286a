//! Quick end-to-end checks of a few shapes on every ISA this machine runs.
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

#[test]
fn shapes_all_isas() {
    let cases = [
        Conv2dParams::new(5, 7, 13, 21, 1, 1),
        Conv2dParams::new(6, 5, 3, 17, 3, 3).padding(1, 0, 2, 1).stride(2, 1),
        Conv2dParams::new(9, 8, 8, 12, 3, 2).dilation(2, 1).groups(4).batch(2),
        Conv2dParams::new(5, 7, 16, 40, 1, 1).layout(Layout::Nchw).weight_layout(WeightLayout::Oihw),
        Conv2dParams::new(6, 9, 6, 10, 3, 3).padding(1, 1, 1, 1).layout(Layout::Nchw).groups(2).clamp(-0.5, 0.7),
    ];
    for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
        for p in cases {
            let s = p.validate().unwrap();
            let w = data(s.weight_len, 1);
            let b = data(p.c_out, 2);
            let x = data(s.input_len, 3);
            let r = data(s.output_len, 4);
            let conv =
                Conv2d::with_options(p, &w, Some(&b), PlanOptions { isa: Some(isa), ..Default::default() }).unwrap();
            let mut y = vec![0.0; s.output_len];
            conv.run_with(&x, &mut y, 1, Some(&r)).unwrap();
            let want = reference::conv2d_f64(&p, &x, &w, Some(&b), Some(&r)).unwrap();
            reference::compare(&p, &y, &want).unwrap_or_else(|e| panic!("{isa} {p:?}: {e}"));
        }
    }
}
