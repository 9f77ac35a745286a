//! Shared by the block examples: deterministic data, a checked and timed layer, a median timer.

use simdconv::{Conv2d, Conv2dParams, reference};
use std::time::Instant;

/// Deterministic values in [-scale, scale].
pub fn data(n: usize, seed: u32, scale: f32) -> Vec<f32> {
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
pub struct Layer {
    pub name: &'static str,
    pub p: Conv2dParams,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
    pub conv: Conv2d,
}

impl Layer {
    pub fn new(name: &'static str, p: Conv2dParams, seed: u32) -> Layer {
        let s = p.validate().expect("valid layer");
        let fan_in = s.weight_len / p.c_out;
        let w = data(s.weight_len, seed, (3.0 / fan_in as f32).sqrt());
        let b = data(p.c_out, seed + 1, 0.1);
        let conv = Conv2d::new(p, &w, Some(&b)).expect("plan");
        Layer { name, p, w, b, conv }
    }

    /// Runs the layer and checks every output against the f64 reference.
    pub fn run_checked(&self, x: &[f32], residual: Option<&[f32]>, threads: usize) -> Vec<f32> {
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
pub fn median_time(mut f: impl FnMut()) -> f64 {
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
