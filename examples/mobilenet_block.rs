//! A MobileNetV2 inverted-residual block at 56x56 through the public API, each layer checked against the
//! reference and timed: 1x1 24->144 + ReLU6, depthwise 3x3 (groups 144, pad 1) + ReLU6, 1x1 144->24 + residual.
//!
//! `cargo run --release --example mobilenet_block -- [threads] [nchw]` (threads: 0 = all cores, the default).

#[path = "common/mod.rs"]
mod common;

use common::{Layer, data, median_time};
use simdconv::{Conv2dParams, Layout, WeightLayout};

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
