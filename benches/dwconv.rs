//! Criterion benches of the depthwise kernels: every kernel of `simdconv::ukernel::dwconv::REGISTRY` this CPU runs,
//! on one small layer of its shape (`dwconv/f32_dwconv_3x3s1_16c__avx2/28x28x96`; the grouped NHWC kernel on a
//! 28x28 layer of 96 channels in groups of 4), then the depthwise rows of the
//! benchmark table in both layouts with the detected ISA (`dw_layers/mv2_dw_112_32/nhwc`). Throughput is in
//! FLOPs (elements = 2 * taps per output).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use simdconv::ukernel::dwconv::{self, DwShape};
use simdconv::{Conv2d, Conv2dParams, Layout, PlanOptions, WeightLayout};
use std::hint::black_box;
use std::time::Duration;

/// A depthwise layer: `h x w x c`, square kernel `k`, stride, symmetric padding `k / 2`.
fn layer(h: usize, w: usize, c: usize, k: usize, stride: usize, layout: Layout) -> Conv2dParams {
    let wl = if layout == Layout::Nhwc { WeightLayout::Ohwi } else { WeightLayout::Oihw };
    Conv2dParams::new(h, w, c, c, k, k)
        .groups(c)
        .stride(stride, stride)
        .padding(k / 2, k / 2, k / 2, k / 2)
        .layout(layout)
        .weight_layout(wl)
}

fn bench_layer(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    conv: &Conv2d,
) {
    let x: Vec<f32> = (0..conv.input_len()).map(|i| (i % 11) as f32 * 0.05 - 0.2).collect();
    let mut y = vec![0f32; conv.output_len()];
    c.throughput(Throughput::Elements(conv.flops()));
    c.bench_function(id, |b| b.iter(|| conv.run_with(black_box(&x), &mut y, 1, None).unwrap()));
    black_box(&y);
}

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("dwconv");
    for kernel in dwconv::all().filter(|k| k.isa.available()) {
        if kernel.shape == DwShape::Grouped {
            // On one 28x28 layer of 96 channels in groups of 4 (the portable kernels' single lane takes none).
            if kernel.lanes >= 4 {
                let p = Conv2dParams::new(28, 28, 96, 96, 3, 3).groups(24).padding(1, 1, 1, 1);
                let s = p.validate().unwrap();
                let w: Vec<f32> = (0..s.weight_len).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
                let opts = PlanOptions { isa: Some(kernel.isa), ..Default::default() };
                let conv = Conv2d::with_options(p, &w, None, opts).unwrap();
                assert_eq!(
                    conv.kernel_choice().kernel,
                    kernel.name,
                    "the plan runs the kernel the bench is named after"
                );
                bench_layer(&mut group, BenchmarkId::new(kernel.name, "28x28x96_g24"), &conv);
            }
            continue;
        }
        let (k, stride) = match kernel.shape {
            DwShape::K3S1 => (3, 1),
            DwShape::K3S2 => (3, 2),
            DwShape::K5S1 => (5, 1),
            DwShape::K5S2 => (5, 2),
            DwShape::Generic | DwShape::Grouped => (7, 1),
        };
        let p = layer(28, 28, 96, k, stride, kernel.layout());
        let s = p.validate().unwrap();
        let w: Vec<f32> = (0..s.weight_len).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
        let conv =
            Conv2d::with_options(p, &w, None, PlanOptions { isa: Some(kernel.isa), ..Default::default() }).unwrap();
        assert_eq!(conv.kernel_choice().kernel, kernel.name, "the plan runs the kernel the bench is named after");
        bench_layer(&mut group, BenchmarkId::new(kernel.name, "28x28x96"), &conv);
    }
    group.finish();
}

fn layers(c: &mut Criterion) {
    // The depthwise rows of the benchmark table: (name, h = w, channels, kernel, stride).
    let rows = [
        ("mv2_dw_112_32", 112, 32, 3, 1),
        ("mv2_dw_s2_112_96", 112, 96, 3, 2),
        ("mv2_dw_56_144", 56, 144, 3, 1),
        ("mv2_dw_s2_56_144", 56, 144, 3, 2),
        ("mv2_dw_28_192", 28, 192, 3, 1),
        ("mv2_dw_14_384", 14, 384, 3, 1),
        ("mv2_dw_14_576", 14, 576, 3, 1),
        ("mv2_dw_7_960", 7, 960, 3, 1),
        ("effb0_dw5_28_240", 28, 240, 5, 1),
    ];
    let mut group = c.benchmark_group("dw_layers");
    for (name, hw, ch, k, stride) in rows {
        for (layout, tag) in [(Layout::Nhwc, "nhwc"), (Layout::Nchw, "nchw")] {
            let p = layer(hw, hw, ch, k, stride, layout);
            let s = p.validate().unwrap();
            let w: Vec<f32> = (0..s.weight_len).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
            let b: Vec<f32> = (0..ch).map(|i| (i % 5) as f32 * 0.01).collect();
            let conv = Conv2d::new(p, &w, Some(&b)).unwrap();
            bench_layer(&mut group, BenchmarkId::new(name, tag), &conv);
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600));
    targets = kernels, layers
}
criterion_main!(benches);
