//! A ResNet-50 bottleneck block at 56x56 through the public API, each layer checked against the reference and
//! timed: 1x1 256->64 + ReLU, 3x3 64->64 (pad 1) + ReLU, 1x1 64->256 + residual + ReLU.
//!
//! `cargo run --release --example resnet_block -- [threads] [nchw]` (threads: 0 = all cores, the default).

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
    let relu = |p: Conv2dParams| p.layout(layout).weight_layout(wl).clamp(0.0, f32::INFINITY);
    let layers = [
        Layer::new("1x1 reduce 256->64", relu(Conv2dParams::new(56, 56, 256, 64, 1, 1)), 1),
        Layer::new("3x3 64->64", relu(Conv2dParams::new(56, 56, 64, 64, 3, 3).padding(1, 1, 1, 1)), 2),
        Layer::new("1x1 expand 64->256 +res", relu(Conv2dParams::new(56, 56, 64, 256, 1, 1)), 3),
    ];
    println!(
        "ResNet-50 bottleneck, 56x56x256, {layout:?}, threads {threads} (0 = all cores), ISA {}",
        layers[0].conv.isa()
    );

    let x = data(layers[0].conv.input_len(), 9, 1.0);
    let y1 = layers[0].run_checked(&x, None, threads);
    let y2 = layers[1].run_checked(&y1, None, threads);
    let y3 = layers[2].run_checked(&y2, Some(&x), threads);
    assert!(y3.iter().all(|v| *v >= 0.0), "the block ends in a ReLU");

    let mut out = [vec![0f32; y1.len()], vec![0f32; y2.len()], vec![0f32; y3.len()]];
    let inputs: [&[f32]; 3] = [&x, &y1, &y2];
    let mut total_flops = 0;
    for (i, l) in layers.iter().enumerate() {
        let res = (i == 2).then_some(&x[..]);
        let t = median_time(|| l.conv.run_with(inputs[i], &mut out[i], threads, res).expect("run"));
        total_flops += l.conv.flops();
        println!("{:<24} {:>8.3} ms  {:>6.1} GFLOP/s", l.name, t * 1e3, l.conv.flops() as f64 / t / 1e9);
    }
    let [o1, o2, o3] = &mut out;
    let t = median_time(|| {
        layers[0].conv.run_with(&x, o1, threads, None).expect("run");
        layers[1].conv.run_with(o1, o2, threads, None).expect("run");
        layers[2].conv.run_with(o2, o3, threads, Some(&x)).expect("run");
    });
    println!("{:<24} {:>8.3} ms  {:>6.1} GFLOP/s", "block", t * 1e3, total_flops as f64 / t / 1e9);
    assert_eq!(*o3, y3, "the timed block reproduces the checked output");
}
