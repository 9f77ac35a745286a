//! A MobileNetV2 inverted-residual block at 56x56 through the public API, each layer checked against the
//! reference and timed: 1x1 24->144 + ReLU6, depthwise 3x3 (groups 144, pad 1) + ReLU6, 1x1 144->24 + residual.
//!
//! `cargo run --release --example mobilenet_block -- [threads] [nchw]` (threads: 0 = all cores, the default).

use simdconv::{Conv2d, Conv2dParams, Layout, WeightLayout, reference};
use std::time::Instant;

/// Deterministic values in [-scale, scale].
fn data(n: usize, seed: u32, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            ((s >> 8) as f32 / (1u32 << 23) as f32 - 1.0) * scale
        })
        .collect()
}

/// One layer: its parameters, weights and bias (kept for the reference check) and the plan.
struct Layer {
    name: &'static str,
    p: Conv2dParams,
    w: Vec<f32>,
    b: Vec<f32>,
    conv: Conv2d,
}

impl Layer {
    fn new(name: &'static str, p: Conv2dParams, seed: u32) -> Layer {
        let s = p.validate().expect("valid layer");
        let fan_in = s.weight_len / p.c_out;
        let w = data(s.weight_len, seed, (3.0 / fan_in as f32).sqrt());
        let b = data(p.c_out, seed + 1, 0.1);
        let conv = Conv2d::new(p, &w, Some(&b)).expect("plan");
        Layer { name, p, w, b, conv }
    }

    /// Runs the layer and checks every output against the f64 reference.
    fn run_checked(&self, x: &[f32], residual: Option<&[f32]>, threads: usize) -> Vec<f32> {
        let mut y = vec![0f32; self.conv.output_len()];
        self.conv.run_with(x, &mut y, threads, residual).expect("run");
        let want = reference::conv2d_f64(&self.p, x, &self.w, Some(&self.b), residual).expect("reference");
        match reference::compare(&self.p, &y, &want) {
            Ok(()) => {
                let k = self.conv.kernel_choice();
                println!("{:<26} check ok  ({}/{})", self.name, k.algorithm, k.kernel)
            }
            Err(e) => panic!("{}: output differs from the reference: {e}", self.name),
        }
        y
    }
}

/// Median seconds of `f` over at least 5 calls and 0.2 s.
fn median_time(mut f: impl FnMut()) -> f64 {
    f();
    let (mut times, start) = (Vec::new(), Instant::now());
    while times.len() < 5 || (start.elapsed().as_secs_f64() < 0.2 && times.len() < 1000) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(0);
    let (layout, wl) = if args.iter().any(|a| a == "nchw") {
        (Layout::Nchw, WeightLayout::Oihw)
    } else {
        (Layout::Nhwc, WeightLayout::Ohwi)
    };
    let with = |p: Conv2dParams| p.layout(layout).weight_layout(wl);
    let layers = [
        Layer::new("1x1 expand 24->144 +ReLU6", with(Conv2dParams::new(56, 56, 24, 144, 1, 1)).clamp(0.0, 6.0), 1),
        Layer::new(
            "dw 3x3 144 +ReLU6",
            with(Conv2dParams::new(56, 56, 144, 144, 3, 3)).padding(1, 1, 1, 1).groups(144).clamp(0.0, 6.0),
            2,
        ),
        Layer::new("1x1 project 144->24 +res", with(Conv2dParams::new(56, 56, 144, 24, 1, 1)), 3),
    ];
    println!(
        "MobileNetV2 inverted residual, 56x56x24, {layout:?}, threads {threads} (0 = all cores), ISA {}",
        layers[0].conv.isa()
    );

    let x = data(layers[0].conv.input_len(), 9, 1.0);
    let y1 = layers[0].run_checked(&x, None, threads);
    let y2 = layers[1].run_checked(&y1, None, threads);
    let y3 = layers[2].run_checked(&y2, Some(&x), threads);
    assert!(y2.iter().all(|v| (0.0..=6.0).contains(v)), "ReLU6 bounds the depthwise output");

    let mut out = [vec![0f32; y1.len()], vec![0f32; y2.len()], vec![0f32; y3.len()]];
    let inputs: [&[f32]; 3] = [&x, &y1, &y2];
    let mut total_flops = 0;
    for (i, l) in layers.iter().enumerate() {
        let res = (i == 2).then_some(&x[..]);
        let t = median_time(|| l.conv.run_with(inputs[i], &mut out[i], threads, res).expect("run"));
        total_flops += l.conv.flops();
        println!("{:<26} {:>8.3} ms  {:>6.1} GFLOP/s", l.name, t * 1e3, l.conv.flops() as f64 / t / 1e9);
    }
    let [o1, o2, o3] = &mut out;
    let t = median_time(|| {
        layers[0].conv.run_with(&x, o1, threads, None).expect("run");
        layers[1].conv.run_with(o1, o2, threads, None).expect("run");
        layers[2].conv.run_with(o2, o3, threads, Some(&x)).expect("run");
    });
    println!("{:<26} {:>8.3} ms  {:>6.1} GFLOP/s", "block", t * 1e3, total_flops as f64 / t / 1e9);
    assert_eq!(*o3, y3, "the timed block reproduces the checked output");
}
