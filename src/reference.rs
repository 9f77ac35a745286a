//! The naive direct convolution: both layouts, every parameter, f64 accumulation — the single test oracle.
//!
//! Semantics: padding is an explicit zero input (as in a zero-padded tensor, like ONNX and PyTorch), so a NaN or
//! infinite weight makes every output of its channel NaN (`0 * inf` and `0 * NaN` are NaN); a NaN input reaches
//! exactly the outputs whose receptive field holds it. The bias is added first, the residual last, then the clamp,
//! which never turns NaN into a bound.

use crate::error::{Error, Result};
use crate::params::{Conv2dParams, Layout};

/// Output of [`conv2d_f64`]: exact-ish values and the magnitude of each reduction.
#[derive(Debug, Clone)]
pub struct RefOutput {
    /// `clamp(bias + sum(x * w) + residual)` computed in f64, in the output layout.
    pub value: Vec<f64>,
    /// `|bias| + sum(|x * w|) + |residual|` per output: scales the tolerance of an f32 result.
    pub magnitude: Vec<f64>,
}

/// Index of activation `(n, c, y, x)` in a tensor of `channels x h x w` per image.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn act_index(layout: Layout, channels: usize, h: usize, w: usize, n: usize, c: usize, y: usize, x: usize) -> usize {
    match layout {
        Layout::Nhwc => ((n * h + y) * w + x) * channels + c,
        Layout::Nchw => ((n * channels + c) * h + y) * w + x,
    }
}

/// Clamps like the kernels do: NaN stays NaN, never becomes a bound.
#[inline]
pub fn clamp_nan(v: f64, lo: f32, hi: f32) -> f64 {
    if v < lo as f64 {
        lo as f64
    } else if v > hi as f64 {
        hi as f64
    } else {
        v
    }
}

fn check(
    p: &Conv2dParams,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Result<crate::params::Shape> {
    let s = p.validate()?;
    if input.len() < s.input_len {
        return Err(Error::invalid(format!("input has {} elements, needs {}", input.len(), s.input_len)));
    }
    if weights.len() < s.weight_len {
        return Err(Error::invalid(format!("weights have {} elements, need {}", weights.len(), s.weight_len)));
    }
    if let Some(b) = bias
        && b.len() < p.c_out
    {
        return Err(Error::invalid(format!("bias has {} elements, needs {}", b.len(), p.c_out)));
    }
    if let Some(r) = residual
        && r.len() < s.output_len
    {
        return Err(Error::invalid(format!("residual has {} elements, needs {}", r.len(), s.output_len)));
    }
    Ok(s)
}

/// Naive convolution accumulated in f64. `residual` (output-shaped) is added after the bias and before the clamp.
pub fn conv2d_f64(
    p: &Conv2dParams,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Result<RefOutput> {
    let s = check(p, input, weights, bias, residual)?;
    let (oh, ow) = (s.out_height, s.out_width);
    let mut value = vec![0f64; s.output_len];
    let mut magnitude = vec![0f64; s.output_len];
    for n in 0..p.batch {
        for o in 0..p.c_out {
            let g = o / s.cout_g;
            for oy in 0..oh {
                for ox in 0..ow {
                    let b = bias.map_or(0.0, |b| b[o] as f64);
                    let (mut acc, mut mag) = (b, b.abs());
                    for i in 0..s.cin_g {
                        let c = g * s.cin_g + i;
                        for ky in 0..p.kernel_height {
                            let iy = (oy * p.stride_height + ky * p.dilation_height) as isize - p.pad_top as isize;
                            for kx in 0..p.kernel_width {
                                let ix = (ox * p.stride_width + kx * p.dilation_width) as isize - p.pad_left as isize;
                                let inside =
                                    iy >= 0 && ix >= 0 && iy < p.in_height as isize && ix < p.in_width as isize;
                                // Padding is an explicit zero input (as in a zero-padded tensor): `0 * w`, which is
                                // NaN for a NaN or infinite weight.
                                let x = if inside {
                                    input[act_index(
                                        p.layout,
                                        p.c_in,
                                        p.in_height,
                                        p.in_width,
                                        n,
                                        c,
                                        iy as usize,
                                        ix as usize,
                                    )] as f64
                                } else {
                                    0.0
                                };
                                let t = x * weights[p.weight_index(o, i, ky, kx)] as f64;
                                acc += t;
                                mag += t.abs();
                            }
                        }
                    }
                    let oi = act_index(p.layout, p.c_out, oh, ow, n, o, oy, ox);
                    if let Some(r) = residual {
                        acc += r[oi] as f64;
                        mag += (r[oi] as f64).abs();
                    }
                    value[oi] = clamp_nan(acc, p.output_min, p.output_max);
                    magnitude[oi] = mag;
                }
            }
        }
    }
    Ok(RefOutput { value, magnitude })
}

/// Naive convolution into an f32 output (rounded once from the f64 result).
pub fn conv2d(
    p: &Conv2dParams,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) -> Result<()> {
    let r = conv2d_f64(p, input, weights, bias, residual)?;
    if output.len() < r.value.len() {
        return Err(Error::invalid(format!("output has {} elements, needs {}", output.len(), r.value.len())));
    }
    for (o, v) in output.iter_mut().zip(&r.value) {
        *o = *v as f32;
    }
    Ok(())
}

/// Largest error an f32 kernel may show against [`conv2d_f64`] for a reduction of `k` terms
/// whose magnitude is `mag`: `(k + 2) * eps * mag` plus a tiny absolute floor.
#[inline]
pub fn tolerance(k: usize, mag: f64) -> f64 {
    (k as f64 + 2.0) * f32::EPSILON as f64 * mag + 1e-30
}

/// Compares an f32 output with the reference; returns the first offending index and values.
pub fn compare(p: &Conv2dParams, got: &[f32], want: &RefOutput) -> std::result::Result<(), String> {
    let k = (p.c_in / p.groups) * p.kernel_height * p.kernel_width + 2;
    for (i, (&g, (&v, &m))) in got.iter().zip(want.value.iter().zip(&want.magnitude)).enumerate() {
        let ok = if v.is_nan() {
            g.is_nan()
        } else if v.is_infinite() {
            g as f64 == v
        } else {
            (g as f64 - v).abs() <= tolerance(k, m)
        };
        if !ok {
            return Err(format!("output[{i}] = {g}, reference {v} (magnitude {m})"));
        }
    }
    Ok(())
}
