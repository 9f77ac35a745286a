//! Criterion benches of every GEMM micro-kernel in `simdconv::ukernel::gemm::REGISTRY` that this CPU runs, on
//! one full tile (`mr x nr`, k = 256), named after the kernel: `gemm/f32_gemm_6x16__avx2/k256`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use simdconv::ukernel::gemm::{GemmTile, Prefetch, REGISTRY};
use std::hint::black_box;
use std::time::Duration;

const K: usize = 256;

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    for kernel in REGISTRY.iter().filter(|k| k.isa.available()) {
        let (mr, nr) = (kernel.mr, kernel.nr());
        let a: Vec<f32> = (0..mr * K).map(|i| (i % 13) as f32 * 0.01).collect();
        let b: Vec<f32> = (0..K * nr).map(|i| (i % 7) as f32 * 0.01).collect();
        let mut out = vec![0f32; mr * nr];
        let rows: Vec<*const f32> = (0..mr).map(|i| a[i * K..].as_ptr()).collect();
        let f = (kernel.select)(mr, kernel.nv);
        group.throughput(Throughput::Elements((2 * mr * nr * K) as u64));
        group.bench_function(BenchmarkId::new(kernel.name, format!("k{K}")), |bench| {
            bench.iter(|| {
                let tile = GemmTile {
                    mr,
                    nr,
                    k: K,
                    segs: 1,
                    a: &rows,
                    csa: 1,
                    rsa: 0,
                    b: b.as_ptr(),
                    ldb: nr,
                    b_stride: K * nr,
                    bias_col: std::ptr::null(),
                    bias_row: std::ptr::null(),
                    c: out.as_mut_ptr(),
                    rsc: nr,
                    res: std::ptr::null(),
                    rsr: 0,
                    min: f32::NEG_INFINITY,
                    max: f32::INFINITY,
                    prefetch: Prefetch::None,
                };
                // SAFETY: row i of A is `a[i * K..]` (K floats, csa 1); B is one panel of K rows of nr floats
                // (ldb nr); C is mr x nr with row stride nr; no bias, no residual; the kernel runs on this CPU.
                unsafe { f(black_box(&tile)) };
            })
        });
        black_box(&out);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = kernels
}
criterion_main!(benches);
