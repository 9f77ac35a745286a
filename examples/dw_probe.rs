//! Depthwise timing probe: GFLOP/s and GB/s of compulsory traffic for the depthwise rows of the benchmark table,
//! NHWC and NCHW. `cargo run --release --example dw_probe -- [threads] [batches] [filter] [nhwc|nchw]`.
use simdconv::*;
use std::time::Instant;

/// (name, h = w, channels, kernel, stride, pad, XNNPACK 1-thread GFLOP/s from the peer table).
const ROWS: [(&str, usize, usize, usize, usize, usize, f64); 9] = [
    ("mv2_dw_112_32", 112, 32, 3, 1, 1, 27.4),
    ("mv2_dw_s2_112_96", 112, 96, 3, 2, 1, 32.9),
    ("mv2_dw_56_144", 56, 144, 3, 1, 1, 36.4),
    ("mv2_dw_s2_56_144", 56, 144, 3, 2, 1, 30.5),
    ("mv2_dw_28_192", 28, 192, 3, 1, 1, 27.9),
    ("mv2_dw_14_384", 14, 384, 3, 1, 1, 35.2),
    ("mv2_dw_14_576", 14, 576, 3, 1, 1, 22.2),
    ("mv2_dw_7_960", 7, 960, 3, 1, 1, 21.3),
    ("effb0_dw5_28_240", 28, 240, 5, 1, 2, 21.0),
];

/// (median, best) seconds per run over `batches` batches of ~20 ms each.
fn time(conv: &Conv2d, x: &[f32], y: &mut [f32], threads: usize, batches: usize) -> (f64, f64) {
    for _ in 0..3 {
        conv.run_with(x, y, threads, None).unwrap();
    }
    let t = Instant::now();
    conv.run_with(x, y, threads, None).unwrap();
    let once = t.elapsed().as_secs_f64().max(1e-7);
    let reps = ((0.02 / once).ceil() as usize).max(1);
    let mut times: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                conv.run_with(x, y, threads, None).unwrap();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (times[times.len() / 2], times[0])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let batches: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(9);
    let filter = args.get(3).cloned().unwrap_or_default();
    // Optional 4th argument `nhwc` or `nchw`: time only that layout (the other column shows 0).
    let only = args.get(4).cloned().unwrap_or_default();
    println!("GFLOP/s: median (best) of {batches} batches; GB/s and x XNNPACK from the median; {threads} thread(s)");
    println!(
        "{:18} {:>6} | {:>13} {:>6} {:>6} | {:>13} {:>6} {:>6} | {:>7} | kernels",
        "shape", "MFLOP", "NHWC", "GB/s", "xXNN", "NCHW", "GB/s", "xXNN", "XNNPACK"
    );
    for (name, hw, c, k, st, pad, xnn) in ROWS {
        if !name.contains(&filter) {
            continue;
        }
        let mut out = Vec::new();
        let mut kernels = Vec::new();
        let mut mflop = 0.0;
        for (layout, wl) in [(Layout::Nhwc, WeightLayout::Ohwi), (Layout::Nchw, WeightLayout::Oihw)] {
            if (only == "nhwc" && layout == Layout::Nchw) || (only == "nchw" && layout == Layout::Nhwc) {
                out.push((0.0, 0.0, 0.0, 0.0));
                kernels.push("-");
                continue;
            }
            let p = Conv2dParams::new(hw, hw, c, c, k, k)
                .groups(c)
                .stride(st, st)
                .padding(pad, pad, pad, pad)
                .layout(layout)
                .weight_layout(wl);
            let s = p.validate().unwrap();
            let w: Vec<f32> = (0..s.weight_len).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
            let b: Vec<f32> = (0..c).map(|i| (i % 5) as f32 * 0.01).collect();
            let x: Vec<f32> = (0..s.input_len).map(|i| (i % 11) as f32 * 0.05 - 0.2).collect();
            let conv = Conv2d::new(p, &w, Some(&b)).unwrap();
            let mut y = vec![0.0; s.output_len];
            let (t, best) = time(&conv, &x, &mut y, threads, batches);
            let bytes = 4.0 * (s.input_len + s.weight_len + c + s.output_len) as f64;
            mflop = s.flops as f64 / 1e6;
            let gf = s.flops as f64 / t / 1e9;
            out.push((gf, s.flops as f64 / best / 1e9, bytes / t / 1e9, gf / xnn));
            kernels.push(conv.kernel_choice().kernel);
        }
        println!(
            "{name:18} {mflop:>6.1} | {:>6.1} ({:>4.1}) {:>6.1} {:>5.2}x \
             | {:>6.1} ({:>4.1}) {:>6.1} {:>5.2}x | {xnn:>7.1} | {}",
            out[0].0,
            out[0].1,
            out[0].2,
            out[0].3,
            out[1].0,
            out[1].1,
            out[1].2,
            out[1].3,
            kernels.join(" ")
        );
    }
}
