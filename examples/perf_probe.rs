//! Quick single-layer timing probe: `cargo run --release --example perf_probe -- [threads] [nchw]`.
use simdconv::*;
use std::time::Instant;

/// On-CPU time of this thread in seconds (robust against other processes sharing the cores).
fn cpu_time() -> f64 {
    if std::env::var("PROBE_WALL").is_ok() {
        return std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    }
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse::<f64>().unwrap() * 1e-9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let nchw = args.iter().any(|a| a == "nchw");
    let rows = [
        ("seed_pw_28_256to16", 28, 256, 16, 1),
        ("r50_pw_56_64to64", 56, 64, 64, 1),
        ("r50_pw_56_64to256", 56, 64, 256, 1),
        ("r50_pw_56_256to64", 56, 256, 64, 1),
        ("r50_pw_s2_56_256to512", 56, 256, 512, 2),
        ("r50_pw_28_512to128", 28, 512, 128, 1),
        ("r50_pw_14_1024to256", 14, 1024, 256, 1),
        ("r50_pw_7_2048to512", 7, 2048, 512, 1),
        ("mv2_pw_112_16to96", 112, 16, 96, 1),
        ("mv2_pw_56_144to24", 56, 144, 24, 1),
        ("mv2_pw_7_320to1280", 7, 320, 1280, 1),
    ];
    let only = std::env::var("PROBE_ROW").unwrap_or_default();
    for (name, hw, ci, co, st) in rows {
        if !name.contains(only.as_str()) {
            continue;
        }
        let mut p = Conv2dParams::new(hw, hw, ci, co, 1, 1).stride(st, st);
        if nchw {
            p = p.layout(Layout::Nchw).weight_layout(WeightLayout::Oihw);
        }
        let s = p.validate().unwrap();
        let w: Vec<f32> = (0..s.weight_len).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..co).map(|i| i as f32).collect();
        let x: Vec<f32> = (0..s.input_len).map(|i| (i % 5) as f32 * 0.2).collect();
        let conv = Conv2d::new(p, &w, Some(&b)).unwrap();
        let mut y = vec![0.0; s.output_len];
        for _ in 0..3 {
            conv.run_with(&x, &mut y, threads, None).unwrap();
        }
        let mut times = vec![];
        for _ in 0..11 {
            let reps = ((0.02 / (s.flops as f64 / 80e9)).ceil() as usize).max(1);
            let t = if threads == 1 { cpu_time() } else { 0.0 };
            let w = Instant::now();
            for _ in 0..reps {
                conv.run_with(&x, &mut y, threads, None).unwrap();
            }
            let el = if threads == 1 { cpu_time() - t } else { w.elapsed().as_secs_f64() };
            times.push(el / reps as f64);
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let (best, med) = (times[0], times[5]);
        // Same-run baseline: the gemm crate on the NHWC GEMM (stride-1 rows only), no bias, CPU time.
        let mut gbest = f64::INFINITY;
        if !nchw && st == 1 && threads == 1 {
            let (m, n, k) = (hw * hw, co, ci);
            let wk: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.1).collect();
            for _ in 0..11 {
                let reps = ((0.02 / (s.flops as f64 / 80e9)).ceil() as usize).max(1);
                let t = cpu_time();
                for _ in 0..reps {
                    // SAFETY: all three matrices are dense row-major buffers of the stated sizes.
                    unsafe {
                        gemm::gemm(
                            m,
                            n,
                            k,
                            y.as_mut_ptr(),
                            1,
                            n as isize,
                            false,
                            x.as_ptr(),
                            1,
                            k as isize,
                            wk.as_ptr(),
                            1,
                            n as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        )
                    }
                }
                gbest = gbest.min((cpu_time() - t) / reps as f64);
            }
        }
        let gf = |t: f64| s.flops as f64 / t / 1e9;
        println!(
            "{name:28} best {:>6.1} median {:>6.1} GFLOP/s  gemm-crate best {:>6.1}  {}",
            gf(best),
            gf(med),
            gf(gbest),
            conv.kernel_choice().kernel
        );
    }
}
