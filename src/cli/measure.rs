//! Timing: warm-up, then batches of calls until a minimum time has passed; statistics over the batch means.

use std::time::Instant;

/// Statistics of one timed cell, in seconds per call.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// First and third quartile of the batch means.
    pub p25: f64,
    pub p75: f64,
    pub batches: usize,
    /// Timed calls in all batches together (warm-up excluded).
    pub calls: usize,
}

impl Timing {
    /// `(max - min) / median`: how far apart the fastest and slowest batch were.
    pub fn spread(&self) -> f64 {
        (self.max - self.min) / self.median
    }
}

/// Times `f`: a warm-up of at least 2 calls and a tenth of `min_time`, then batches of equal call counts (at least
/// `min_batches`, each about `min_time / min_batches` long) until `min_time` has been measured.
pub fn time(min_time: f64, min_batches: usize, mut f: impl FnMut()) -> Timing {
    let warm = Instant::now();
    let mut warm_calls = 0u32;
    let mut last = f64::INFINITY;
    while warm_calls < 2 || (warm.elapsed().as_secs_f64() < min_time / 10.0 && warm_calls < 1000) {
        let t = Instant::now();
        f();
        last = last.min(t.elapsed().as_secs_f64());
        warm_calls += 1;
    }
    let per_batch = min_time / min_batches as f64;
    let reps = ((per_batch / last.max(1e-9)) as usize).clamp(1, 1_000_000);
    let mut means = Vec::new();
    let mut total = 0.0;
    while means.len() < min_batches || (total < min_time && means.len() < 4 * min_batches) {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        let dt = t.elapsed().as_secs_f64();
        total += dt;
        means.push(dt / reps as f64);
    }
    means.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let x = p * (means.len() - 1) as f64;
        let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
        means[lo] + (means[hi] - means[lo]) * (x - lo as f64)
    };
    Timing {
        median: q(0.5),
        min: means[0],
        max: means[means.len() - 1],
        p25: q(0.25),
        p75: q(0.75),
        batches: means.len(),
        calls: means.len() * reps,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn statistics_are_ordered() {
        let mut n = 0u64;
        let t = super::time(0.002, 5, || {
            n = std::hint::black_box(n + 1);
        });
        assert!(t.batches >= 5 && t.calls >= 5);
        assert!(t.min <= t.p25 && t.p25 <= t.median && t.median <= t.p75 && t.p75 <= t.max);
    }
}
