//! Machine limits measured at start: FMA throughput peak and STREAM-like triad bandwidth, per thread count.

use pulp::{Arch, Simd, WithSimd};
use simdconv::Isa;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Independent FMA chains per thread: enough to cover FMA latency x FMA ports on current x86 and Arm cores.
const CHAINS: usize = 12;

/// The limits that percentages are computed against.
#[derive(Debug, Clone)]
pub struct Machine {
    /// SIMD lanes of the FMAs the peak loop used: the vector width of the plans' ISA (the widest this CPU runs for
    /// the portable paths).
    pub fma_lanes: usize,
    /// `(threads, GFLOP/s)`: best of a few runs of the FMA loop on that many threads.
    pub peak_gflops: Vec<(usize, f64)>,
    /// `(threads, GB/s)`: best triad bandwidth (`a = b + s * c`, 2 reads + 1 write counted) on that many threads.
    pub triad_gbs: Vec<(usize, f64)>,
    /// Bytes of each of the three triad buffers.
    pub triad_buffer_bytes: usize,
}

impl Machine {
    /// Measures both limits for every thread count in `threads` (about 0.35 s per count, much less if `quick`),
    /// the FMA peak with the vectors of `isa`.
    pub fn measure(threads: &[usize], quick: bool, isa: Isa) -> Machine {
        let fma_lanes = dispatch(isa, Lanes);
        let fma_time = if quick { 0.01 } else { 0.2 };
        let peak_gflops = threads.iter().map(|&t| (t, fma_peak(isa, t, fma_time))).collect();
        // Three buffers far larger than the last-level cache (32 MiB on the reference machine); smaller if quick.
        let bytes = if quick { 16 << 20 } else { 64 << 20 };
        let triad_time = if quick { 0.01 } else { 0.15 };
        let triad_gbs = triad(threads, bytes / 4, triad_time);
        Machine { fma_lanes, peak_gflops, triad_gbs, triad_buffer_bytes: bytes }
    }

    /// Peak GFLOP/s for `threads` threads (linear scaling from the nearest measured count if not measured).
    pub fn peak(&self, threads: usize) -> f64 {
        lookup(&self.peak_gflops, threads)
    }

    /// Triad GB/s for `threads` threads.
    pub fn bandwidth(&self, threads: usize) -> f64 {
        lookup(&self.triad_gbs, threads)
    }
}

fn lookup(v: &[(usize, f64)], threads: usize) -> f64 {
    if let Some(&(_, x)) = v.iter().find(|(t, _)| *t == threads) {
        return x;
    }
    v.first().map_or(f64::NAN, |&(t, x)| x / t as f64 * threads as f64)
}

/// Runs `op` with the SIMD backend of `isa`'s kernels (AVX2 for the AVX-512 stand-in that runs on it), or the
/// best one this CPU has for the portable paths.
fn dispatch<W: WithSimd>(isa: Isa, op: W) -> W::Output {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512OnAvx2 => {
            if let Some(simd) = pulp::x86::V3::try_new() {
                return Simd::vectorize(simd, op);
            }
        }
        #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
        Isa::Avx512 => {
            if let Some(simd) = pulp::x86::V4::try_new() {
                return Simd::vectorize(simd, op);
            }
        }
        _ => {}
    }
    Arch::new().dispatch(op)
}

struct Lanes;
impl WithSimd for Lanes {
    type Output = usize;
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) -> usize {
        S::F32_LANES
    }
}

/// `CHAINS` independent chains of `acc = acc * m + c`, `iters` times; returns a value the optimiser cannot drop.
struct FmaLoop {
    iters: u64,
}

impl WithSimd for FmaLoop {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        let m = simd.splat_f32s(std::hint::black_box(0.999_999));
        let c = simd.splat_f32s(std::hint::black_box(1e-7));
        let mut acc = [simd.splat_f32s(1.0); CHAINS];
        for _ in 0..self.iters {
            for a in acc.iter_mut() {
                *a = simd.mul_add_e_f32s(*a, m, c);
            }
        }
        let mut s = acc[0];
        for a in &acc[1..] {
            s = simd.add_f32s(s, *a);
        }
        simd.reduce_sum_f32s(s)
    }
}

/// Runs `work` on `threads` threads released together; returns each one's (start, end).
fn on_threads(threads: usize, work: impl Fn(usize) + Sync) -> Vec<(Instant, Instant)> {
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    let t0 = Instant::now();
                    work(i);
                    (t0, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("probe thread panicked")).collect()
    });
    spans
}

/// The best time of a series of multi-thread runs: the best of those in which the threads ran side by side
/// ([`together`]), else (none did, after enough tries) the best from the first start to the last end.
#[derive(Default)]
struct BestRun {
    together: Option<Duration>,
    whole: Option<Duration>,
}

impl BestRun {
    fn add(&mut self, spans: &[(Instant, Instant)]) {
        if let Some(d) = together(spans) {
            self.together = Some(self.together.map_or(d, |b| b.min(d)));
        }
        let start = spans.iter().map(|s| s.0).min();
        let end = spans.iter().map(|s| s.1).max();
        if let (Some(start), Some(end)) = (start, end) {
            let d = end - start;
            self.whole = Some(self.whole.map_or(d, |b| b.min(d)));
        }
    }

    fn seconds(&self) -> f64 {
        self.together.or(self.whole).map_or(f64::NAN, |d| d.as_secs_f64().max(1e-9))
    }
}

/// Share of the slowest thread's time during which every thread must have been running for a multi-thread run to
/// count.
const MIN_OVERLAP: f64 = 0.9;

/// The longest of `spans` (start, end) if they all overlap for at least [`MIN_OVERLAP`] of it; `None` where a thread
/// started late or was descheduled while the others ran (it then measured a lone core, not the threads together).
fn together(spans: &[(Instant, Instant)]) -> Option<Duration> {
    let last_start = spans.iter().map(|s| s.0).max()?;
    let first_end = spans.iter().map(|s| s.1).min()?;
    let longest = spans.iter().map(|s| s.1 - s.0).max()?;
    let overlap = first_end.saturating_duration_since(last_start);
    (overlap.as_secs_f64() >= MIN_OVERLAP * longest.as_secs_f64()).then_some(longest)
}

/// FMA throughput of `threads` threads in GFLOP/s: the best of many runs, repeated for about `seconds`, of about
/// 2 ms on one thread and 10 ms on more (a thread's start lags the others' by up to a scheduler tick, a smaller
/// share of a longer run), counting only the runs in which the threads ran side by side ([`on_threads`]). Short
/// runs make it likely that some run was not interrupted by other processes, so the result is the hardware's
/// throughput even on a busy machine.
fn fma_peak(isa: Isa, threads: usize, seconds: f64) -> f64 {
    let flops_per_iter = (CHAINS * dispatch(isa, Lanes) * 2) as f64;
    let probe = 100_000u64;
    let mut per_iter = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        std::hint::black_box(dispatch(isa, FmaLoop { iters: probe }));
        per_iter = per_iter.min(t.elapsed().as_secs_f64().max(1e-9) / probe as f64);
    }
    let run_s = if threads > 1 { 10e-3 } else { 2e-3 };
    let iters = ((run_s / per_iter) as u64).max(probe);
    let (mut best, mut runs, started) = (BestRun::default(), 0, Instant::now());
    while runs < 5
        || (started.elapsed().as_secs_f64() < seconds && runs < 10_000)
        || best.together.is_none() && runs < 100
    {
        best.add(&on_threads(threads, |_| {
            std::hint::black_box(dispatch(isa, FmaLoop { iters }));
        }));
        runs += 1;
    }
    flops_per_iter * iters as f64 * threads as f64 / best.seconds() / 1e9
}

/// Triad bandwidth in GB/s for each thread count over three buffers of `n` floats, each count for about `seconds`.
fn triad(threads: &[usize], n: usize, seconds: f64) -> Vec<(usize, f64)> {
    let mut a = vec![0f32; n];
    let mut b = vec![0f32; n];
    let mut c = vec![0f32; n];
    // Touch every page once (first use of fresh pages is slower than streaming).
    b.fill(1.0);
    c.fill(0.5);
    a.fill(0.0);
    let s = std::hint::black_box(3.0f32);
    threads
        .iter()
        .map(|&t| {
            let chunk = n.div_ceil(t);
            let mut best = BestRun::default();
            let started = Instant::now();
            let mut reps = 0;
            while reps < 3
                || (started.elapsed().as_secs_f64() < seconds && reps < 100)
                || best.together.is_none() && reps < 20
            {
                let parts: Vec<_> = a.chunks_mut(chunk).zip(b.chunks(chunk)).zip(c.chunks(chunk)).collect();
                let parts: Vec<_> = parts.into_iter().map(std::sync::Mutex::new).collect();
                best.add(&on_threads(parts.len(), |i| {
                    let mut g = parts[i].lock().unwrap_or_else(|e| e.into_inner());
                    let ((a, b), c) = &mut *g;
                    for ((x, y), z) in a.iter_mut().zip(b.iter()).zip(c.iter()) {
                        *x = y + s * z;
                    }
                }));
                reps += 1;
            }
            std::hint::black_box(&a);
            (t, 3.0 * 4.0 * n as f64 / best.seconds() / 1e9)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(t0: Instant, from_ms: u64, to_ms: u64) -> (Instant, Instant) {
        (t0 + Duration::from_millis(from_ms), t0 + Duration::from_millis(to_ms))
    }

    #[test]
    fn threads_that_ran_side_by_side_count_with_the_slowest_time() {
        let t0 = Instant::now();
        assert_eq!(together(&[span(t0, 0, 100)]), Some(Duration::from_millis(100)));
        assert_eq!(together(&[span(t0, 0, 100), span(t0, 2, 104)]), Some(Duration::from_millis(102)));
    }

    #[test]
    fn a_thread_that_started_late_or_ran_alone_does_not_count() {
        let t0 = Instant::now();
        // The second thread starts after the first ran a fifth of its time alone.
        assert_eq!(together(&[span(t0, 0, 100), span(t0, 20, 120)]), None);
        // One after the other: no overlap at all.
        assert_eq!(together(&[span(t0, 0, 100), span(t0, 100, 200)]), None);
        // Descheduled: one thread took twice as long as the other.
        assert_eq!(together(&[span(t0, 0, 50), span(t0, 0, 100)]), None);
    }

    #[test]
    fn runs_that_never_overlapped_fall_back_to_the_whole_span() {
        let t0 = Instant::now();
        let mut best = BestRun::default();
        assert!(best.seconds().is_nan());
        best.add(&[span(t0, 0, 100), span(t0, 100, 200)]);
        assert_eq!(best.seconds(), 0.2);
        best.add(&[span(t0, 0, 150), span(t0, 5, 150)]);
        assert_eq!(best.seconds(), 0.15);
        // A side-by-side run counts even where a lone-core run was shorter.
        best.add(&[span(t0, 0, 40), span(t0, 60, 100)]);
        assert_eq!(best.seconds(), 0.15);
    }

    #[test]
    fn the_peak_is_measured_on_any_thread_count() {
        for threads in [1, 2, 3] {
            let g = fma_peak(simdconv::Isa::Portable, threads, 0.01);
            assert!(g.is_finite() && g > 0.0, "{threads} thread(s): {g}");
        }
    }
}
