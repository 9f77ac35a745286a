//! Criterion benches of every layer of `benches/shapes.csv`: one group per kind (pw, dw, conv), one bench per
//! layer and layout (`pw/r50_pw_56_64to64/nhwc`), on one thread. Throughput is reported in FLOPs ("elem/s").

#[path = "../src/cli/shapes.rs"]
#[allow(dead_code)]
mod shapes;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use simdconv::{Conv2d, Layout};
use std::time::Duration;

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

fn layers(c: &mut Criterion) {
    let rows = shapes::parse(shapes::BUILTIN, "benches/shapes.csv").expect("the built-in suite parses");
    for kind in ["pw", "dw", "conv"] {
        let mut group = c.benchmark_group(kind);
        for row in rows.iter().filter(|r| r.kind() == kind) {
            for (layout, name) in [(Layout::Nhwc, "nhwc"), (Layout::Nchw, "nchw")] {
                let p = row.params(layout, row.n);
                let s = p.validate().expect("valid row");
                let conv = Conv2d::new(p, &data(s.weight_len, 1), Some(&data(p.c_out, 2))).expect("plan");
                let x = data(s.input_len, 3);
                let mut y = vec![0f32; s.output_len];
                group.throughput(Throughput::Elements(conv.flops()));
                group.bench_function(BenchmarkId::new(&row.name, name), |b| {
                    b.iter(|| conv.run_with(&x, &mut y, 1, None).expect("run"))
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = layers
}
criterion_main!(benches);
