//! Determinism: results are bitwise identical for every thread count, across repeated runs, and when several
//! threads run one shared plan concurrently.

mod common;

use common::{data, isas, run_plain, same_bits};
use simdconv::{Conv2d, Conv2dParams, Isa, Layout, PlanOptions, reference};

/// Shapes large enough that the drivers split them over threads.
fn shapes() -> Vec<Conv2dParams> {
    let mut v = Vec::new();
    for layout in [Layout::Nhwc, Layout::Nchw] {
        v.push(Conv2dParams::new(56, 56, 64, 64, 1, 1).layout(layout).clamp(-0.5, 0.75));
        // More weights than activations: tasks split the output channels first, in column-block-major order.
        v.push(Conv2dParams::new(7, 7, 256, 320, 1, 1).layout(layout));
        v.push(Conv2dParams::new(28, 28, 32, 40, 3, 3).padding(1, 1, 1, 1).layout(layout));
        v.push(
            Conv2dParams::new(29, 27, 24, 36, 3, 3).stride(2, 2).padding(1, 0, 1, 1).groups(2).batch(2).layout(layout),
        );
    }
    // NCHW 1x1 over packed panels whose reduction runs in blocks (16-lane kernels: three blocks of 100 rows).
    v.push(Conv2dParams::new(30, 30, 300, 200, 1, 1).stride(2, 2).layout(Layout::Nchw).clamp(-0.4, 0.6));
    // 1x1 of few outputs past 1 MiB of input and output: one thread prefetches the input it reads next, two (0.9
    // MB a thread) do not.
    for layout in [Layout::Nhwc, Layout::Nchw] {
        v.push(Conv2dParams::new(96, 96, 32, 16, 1, 1).layout(layout).clamp(-0.5, 0.75));
    }
    // NCHW im2col on a small plane: channel blocks share each pixel block, packed once up front.
    v.push(Conv2dParams::new(7, 7, 64, 256, 3, 3).padding(1, 1, 1, 1).layout(Layout::Nchw));
    v
}

/// Plans `p` on `isa` with seeded tensors and checks the serial result against the reference once.
fn plan(p: &Conv2dParams, isa: Isa) -> (Conv2d, Vec<f32>) {
    let s = p.validate().unwrap();
    let w = data(s.weight_len, 21);
    let b = data(p.c_out, 22);
    let conv = Conv2d::with_options(*p, &w, Some(&b), PlanOptions { isa: Some(isa), ..Default::default() }).unwrap();
    assert!(conv.flops() > 3_000_000, "{p:?} is too small to be split over threads");
    let x = data(s.input_len, 23);
    let y = run_plain(&conv, &x, 1);
    let want = reference::conv2d_f64(p, &x, &w, Some(&b), None).unwrap();
    reference::compare(p, &y, &want).unwrap_or_else(|e| panic!("{isa} {p:?}: {e}"));
    (conv, x)
}

/// Thread counts to compare with the serial run. The portable 16-lane stand-in is slow and tiles like the other
/// 16-lane paths, so it gets a shorter list.
fn thread_counts(isa: Isa) -> &'static [usize] {
    if isa == Isa::Avx512Portable { &[2, 3, 0] } else { &[2, 3, 4, 0, 1, 17, 3] }
}

/// threads = 1, 2, 3, 4 and 0 (all cores), and repeated runs, give the same bits.
#[test]
fn thread_count_does_not_change_results() {
    for isa in isas() {
        for p in shapes() {
            let (conv, x) = plan(&p, isa);
            let serial = run_plain(&conv, &x, 1);
            for &threads in thread_counts(isa) {
                let y = run_plain(&conv, &x, threads);
                same_bits(&serial, &y).unwrap_or_else(|e| panic!("{isa} threads {threads} {p:?}: {e}"));
            }
        }
    }
}

/// The residual paths (separate and in place) are deterministic across thread counts too.
#[test]
fn residual_runs_are_deterministic() {
    for isa in isas() {
        for p in shapes().into_iter().take(2) {
            let (conv, x) = plan(&p, isa);
            let r = data(conv.output_len(), 24);
            let mut serial = vec![0.0; conv.output_len()];
            conv.run_with(&x, &mut serial, 1, Some(&r)).unwrap();
            for threads in [2, 0] {
                let mut y = vec![0.0; conv.output_len()];
                conv.run_with(&x, &mut y, threads, Some(&r)).unwrap();
                same_bits(&serial, &y).unwrap_or_else(|e| panic!("{isa} separate, threads {threads} {p:?}: {e}"));
                let mut y = r.clone();
                conv.run_residual_in_place(&x, &mut y, threads).unwrap();
                same_bits(&serial, &y).unwrap_or_else(|e| panic!("{isa} in place, threads {threads} {p:?}: {e}"));
            }
        }
    }
}

/// Several std threads run one shared plan at once (each with its own thread count) and all get the same bits.
#[test]
fn concurrent_runs_on_one_plan_agree() {
    let isa = isas()[0];
    for p in [shapes()[0], shapes()[4]] {
        let (conv, x) = plan(&p, isa);
        let serial = run_plain(&conv, &x, 1);
        let conv = &conv;
        let results: Vec<Vec<Vec<f32>>> = std::thread::scope(|sc| {
            let handles: Vec<_> = [1, 2, 0, 3]
                .into_iter()
                .map(|threads| {
                    let x = &x;
                    sc.spawn(move || (0..3).map(|_| run_plain(conv, x, threads)).collect::<Vec<_>>())
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("worker thread")).collect()
        });
        for (t, runs) in results.iter().enumerate() {
            for y in runs {
                same_bits(&serial, y).unwrap_or_else(|e| panic!("{p:?}: worker {t}: {e}"));
            }
        }
    }
}

/// Runs issued from inside rayon's global pool (nested parallelism) and from another pool agree too.
#[test]
fn runs_nested_in_rayon_pools_agree() {
    use rayon::prelude::*;
    let isa = isas()[0];
    let p = shapes()[1];
    let (conv, x) = plan(&p, isa);
    let serial = run_plain(&conv, &x, 1);
    let outs: Vec<Vec<f32>> = [0usize, 1, 2, 3, 0, 2].par_iter().map(|&t| run_plain(&conv, &x, t)).collect();
    for (i, y) in outs.iter().enumerate() {
        same_bits(&serial, y).unwrap_or_else(|e| panic!("global pool task {i}: {e}"));
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    let outs: Vec<Vec<f32>> = pool.install(|| [0usize, 2, 3].par_iter().map(|&t| run_plain(&conv, &x, t)).collect());
    for (i, y) in outs.iter().enumerate() {
        same_bits(&serial, y).unwrap_or_else(|e| panic!("own pool task {i}: {e}"));
    }
}

/// Plans are `Send + Sync`.
#[test]
fn plans_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Conv2d>();
}
