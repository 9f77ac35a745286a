//! Self-check of one planned layer against the naive f64 reference (`simdconv::reference`).

use simdconv::reference::{self, RefOutput};
use simdconv::{Conv2dParams, Layout};
use std::time::Instant;

/// Multiply-adds the reference may spend on one layer before the check shrinks to fewer (but whole) images.
const REF_BUDGET_MACS: u64 = 60_000_000;

/// The reference output of the first `images` images of a layer, and how long the naive code took.
pub struct Reference {
    /// Params of the checked part (the layer's, with batch = `images`).
    pub params: Conv2dParams,
    pub images: usize,
    pub want: RefOutput,
    /// Seconds the naive reference took for `images` images (single thread).
    pub seconds: f64,
}

/// Outcome of comparing one output with the reference.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub ok: bool,
    /// Empty when ok, else the first offending element.
    pub detail: String,
    /// Largest `|got - want| / tolerance` over the compared outputs (below 1 passes).
    pub worst: f64,
}

impl Reference {
    /// Computes the reference for as many whole images of `p` as the budget allows, and at least one.
    pub fn new(p: &Conv2dParams, x: &[f32], w: &[f32], b: &[f32]) -> Result<Reference, String> {
        let s = p.validate().map_err(|e| e.to_string())?;
        let macs_per_image = (s.flops / 2 / p.batch as u64).max(1);
        let images = ((REF_BUDGET_MACS / macs_per_image) as usize).clamp(1, p.batch);
        let params = Conv2dParams { batch: images, ..*p };
        let x = &x[..s.input_len / p.batch * images];
        let threads = if p.groups == 1 { super::args::available_cores().min(p.c_out) } else { 1 };
        let (want, seconds) = if threads <= 1 {
            let t = Instant::now();
            let want = reference::conv2d_f64(&params, x, w, Some(b), None).map_err(|e| e.to_string())?;
            (want, t.elapsed().as_secs_f64())
        } else {
            split_by_channels(&params, x, w, b, threads)?
        };
        Ok(Reference { params, images, want, seconds })
    }

    /// Compares the first `images` images of `y` (the whole layer's output) with the reference.
    pub fn verdict(&self, y: &[f32]) -> Verdict {
        let got = &y[..self.want.value.len()];
        let p = &self.params;
        let k = (p.c_in / p.groups) * p.kernel_height * p.kernel_width + 2;
        let mut worst = 0f64;
        for ((&g, &v), &m) in got.iter().zip(&self.want.value).zip(&self.want.magnitude) {
            let r = if v.is_finite() {
                (g as f64 - v).abs() / reference::tolerance(k, m)
            } else if g as f64 == v || (v.is_nan() && g.is_nan()) {
                0.0
            } else {
                f64::INFINITY
            };
            worst = worst.max(if r.is_nan() { f64::INFINITY } else { r });
        }
        match reference::compare(p, got, &self.want) {
            Ok(()) => Verdict { ok: true, detail: String::new(), worst },
            Err(e) => Verdict { ok: false, detail: e, worst },
        }
    }
}

/// The reference of an ungrouped layer computed by `threads` threads, each over a range of output channels;
/// returns the output and the sum of the threads' times (what one thread would have taken).
fn split_by_channels(
    p: &Conv2dParams,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    threads: usize,
) -> Result<(RefOutput, f64), String> {
    let s = p.validate().map_err(|e| e.to_string())?;
    let per_o = s.weight_len / p.c_out;
    let chunk = p.c_out.div_ceil(threads);
    let parts: Vec<(usize, Result<RefOutput, String>, f64)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..p.c_out)
            .step_by(chunk)
            .map(|o0| {
                let o1 = (o0 + chunk).min(p.c_out);
                let q = Conv2dParams { c_out: o1 - o0, ..*p };
                let (w, b) = (&w[o0 * per_o..o1 * per_o], &b[o0..o1]);
                sc.spawn(move || {
                    let t = Instant::now();
                    let r = reference::conv2d_f64(&q, x, w, Some(b), None).map_err(|e| e.to_string());
                    (o0, r, t.elapsed().as_secs_f64())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("reference thread panicked")).collect()
    });
    let mut out = RefOutput { value: vec![0.0; s.output_len], magnitude: vec![0.0; s.output_len] };
    let mut seconds = 0.0;
    let ohw = s.out_height * s.out_width;
    for (o0, r, t) in parts {
        let r = r?;
        seconds += t;
        let c = r.value.len() / (p.batch * ohw);
        // Scatter the part's channels [o0, o0 + c) into the full output, in the layer's layout.
        for (i, (&v, &m)) in r.value.iter().zip(&r.magnitude).enumerate() {
            let at = match p.layout {
                Layout::Nhwc => (i / c) * p.c_out + o0 + i % c,
                Layout::Nchw => {
                    let (n, rest) = (i / (c * ohw), i % (c * ohw));
                    (n * p.c_out + o0) * ohw + rest
                }
            };
            out.value[at] = v;
            out.magnitude[at] = m;
        }
    }
    Ok((out, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use simdconv::{Conv2d, WeightLayout};

    fn data(n: usize, k: u32) -> Vec<f32> {
        (0..n as u32).map(|i| ((i.wrapping_mul(2_654_435_761) ^ k) % 1999) as f32 / 1000.0 - 1.0).collect()
    }

    #[test]
    fn split_reference_matches_and_verdict_catches_a_wrong_output() {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            let wl = if layout == Layout::Nhwc { WeightLayout::Ohwi } else { WeightLayout::Oihw };
            let p = Conv2dParams::new(7, 6, 5, 11, 3, 3).padding(1, 1, 1, 1).batch(2).layout(layout).weight_layout(wl);
            let s = p.validate().unwrap();
            let (x, w, b) = (data(s.input_len, 1), data(s.weight_len, 2), data(11, 3));
            let whole = reference::conv2d_f64(&p, &x, &w, Some(&b), None).unwrap();
            let (split, _) = split_by_channels(&p, &x, &w, &b, 3).unwrap();
            assert_eq!(whole.value, split.value);
            assert_eq!(whole.magnitude, split.magnitude);

            let r = Reference::new(&p, &x, &w, &b).unwrap();
            let mut y = vec![0f32; s.output_len];
            Conv2d::new(p, &w, Some(&b)).unwrap().run(&x, &mut y).unwrap();
            let v = r.verdict(&y);
            assert!(v.ok && v.worst < 1.0, "{}", v.detail);
            y[s.output_len / 2 - 1] += 0.01;
            let v = r.verdict(&y);
            assert!(!v.ok && v.worst > 1.0 && v.detail.contains("output["), "{}", v.detail);
        }
    }
}
