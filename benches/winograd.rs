//! Criterion benches of the opt-in Winograd F(4x4, 3x3) path against the exact path on the ResNet-50 3x3 rows of
//! `benches/shapes.csv`, both layouts, one thread (`winograd/r50_c3_28_128to128/nhwc-exact`, `.../nhwc-winograd`).
//! Throughput is reported in direct-convolution FLOPs ("elem/s"), so the two paths compare directly.

#[path = "../src/cli/shapes.rs"]
#[allow(dead_code)]
mod shapes;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use simdconv::{Conv2d, Layout, PlanOptions};
use std::time::Duration;

const ROWS: [&str; 4] = ["r50_c3_56_64to64", "r50_c3_28_128to128", "r50_c3_14_256to256", "r50_c3_7_512to512"];

fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn winograd(c: &mut Criterion) {
    let rows = shapes::parse(shapes::BUILTIN, "benches/shapes.csv").expect("the built-in suite parses");
    let mut group = c.benchmark_group("winograd");
    for name in ROWS {
        let row = rows.iter().find(|r| r.name == name).expect("the row is in benches/shapes.csv");
        for (layout, lname) in [(Layout::Nhwc, "nhwc"), (Layout::Nchw, "nchw")] {
            let p = row.params(layout, row.n);
            let s = p.validate().expect("valid row");
            let (w, b, x) = (data(s.weight_len, 1), data(p.c_out, 2), data(s.input_len, 3));
            let mut y = vec![0f32; s.output_len];
            for (winograd, path) in [(false, "exact"), (true, "winograd")] {
                let o = PlanOptions { winograd, ..Default::default() };
                let conv = Conv2d::with_options(p, &w, Some(&b), o).expect("plan");
                assert_eq!(conv.kernel_choice().algorithm.starts_with("winograd"), winograd);
                group.throughput(Throughput::Elements(conv.flops()));
                group.bench_function(BenchmarkId::new(name, format!("{lname}-{path}")), |bn| {
                    bn.iter(|| conv.run_with(&x, &mut y, 1, None).expect("run"))
                });
            }
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = winograd
}
criterion_main!(benches);
