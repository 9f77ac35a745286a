//! Convolution parameters: layouts, the validated shape, checked size arithmetic.

use crate::error::{Error, Result};

/// Activation layout, used for input and output alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Layout {
    /// `[batch][height][width][channels]`
    Nhwc = 0,
    /// `[batch][channels][height][width]`
    Nchw = 1,
}

/// Weight layout; `I` is `c_in / groups` in all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum WeightLayout {
    /// `[c_out][I][kh][kw]` (ONNX, PyTorch)
    Oihw = 0,
    /// `[c_out][kh][kw][I]` (TFLite, XNNPACK)
    Ohwi = 1,
    /// `[kh][kw][I][c_out]` (TensorFlow)
    Hwio = 2,
}

/// All parameters of a 2-D fp32 convolution.
///
/// Output channel `o` belongs to group `o / (c_out / groups)` and reads input channels
/// `g * (c_in / groups) .. (g + 1) * (c_in / groups)`, as in ONNX and PyTorch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dParams {
    pub batch: usize,
    pub in_height: usize,
    pub in_width: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub kernel_height: usize,
    pub kernel_width: usize,
    pub stride_height: usize,
    pub stride_width: usize,
    pub dilation_height: usize,
    pub dilation_width: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub pad_bottom: usize,
    pub pad_right: usize,
    pub groups: usize,
    pub layout: Layout,
    pub weight_layout: WeightLayout,
    /// Lower bound of the fused clamp (`f32::NEG_INFINITY` for none).
    pub output_min: f32,
    /// Upper bound of the fused clamp (`f32::INFINITY` for none).
    pub output_max: f32,
}

impl Conv2dParams {
    /// A 1-batch, stride-1, undilated, unpadded, ungrouped NHWC/OHWI convolution without clamp;
    /// adjust the fields or use the builder-style setters.
    pub fn new(in_height: usize, in_width: usize, c_in: usize, c_out: usize, kh: usize, kw: usize) -> Self {
        Conv2dParams {
            batch: 1,
            in_height,
            in_width,
            c_in,
            c_out,
            kernel_height: kh,
            kernel_width: kw,
            stride_height: 1,
            stride_width: 1,
            dilation_height: 1,
            dilation_width: 1,
            pad_top: 0,
            pad_left: 0,
            pad_bottom: 0,
            pad_right: 0,
            groups: 1,
            layout: Layout::Nhwc,
            weight_layout: WeightLayout::Ohwi,
            output_min: f32::NEG_INFINITY,
            output_max: f32::INFINITY,
        }
    }
    /// Sets the batch size.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n;
        self
    }
    /// Sets both strides.
    pub fn stride(mut self, sh: usize, sw: usize) -> Self {
        self.stride_height = sh;
        self.stride_width = sw;
        self
    }
    /// Sets both dilations.
    pub fn dilation(mut self, dh: usize, dw: usize) -> Self {
        self.dilation_height = dh;
        self.dilation_width = dw;
        self
    }
    /// Sets the four paddings.
    pub fn padding(mut self, top: usize, left: usize, bottom: usize, right: usize) -> Self {
        self.pad_top = top;
        self.pad_left = left;
        self.pad_bottom = bottom;
        self.pad_right = right;
        self
    }
    /// Sets the group count.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
    /// Sets the activation layout.
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }
    /// Sets the weight layout.
    pub fn weight_layout(mut self, wl: WeightLayout) -> Self {
        self.weight_layout = wl;
        self
    }
    /// Sets the fused clamp bounds.
    pub fn clamp(mut self, min: f32, max: f32) -> Self {
        self.output_min = min;
        self.output_max = max;
        self
    }

    /// Checks every rule of the contract and returns the derived shape.
    pub fn validate(&self) -> Result<Shape> {
        let p = self;
        let nonzero = [
            ("batch", p.batch),
            ("in_height", p.in_height),
            ("in_width", p.in_width),
            ("c_in", p.c_in),
            ("c_out", p.c_out),
            ("kernel_height", p.kernel_height),
            ("kernel_width", p.kernel_width),
            ("stride_height", p.stride_height),
            ("stride_width", p.stride_width),
            ("dilation_height", p.dilation_height),
            ("dilation_width", p.dilation_width),
            ("groups", p.groups),
        ];
        for (name, v) in nonzero {
            if v == 0 {
                return Err(Error::invalid(format!("{name} must be non-zero")));
            }
        }
        if !p.c_in.is_multiple_of(p.groups) || !p.c_out.is_multiple_of(p.groups) {
            return Err(Error::invalid(format!(
                "groups ({}) must divide c_in ({}) and c_out ({})",
                p.groups, p.c_in, p.c_out
            )));
        }
        if p.output_min.is_nan() || p.output_max.is_nan() {
            return Err(Error::invalid("clamp bounds must not be NaN"));
        }
        if p.output_min > p.output_max {
            return Err(Error::invalid(format!(
                "output_min ({}) must not exceed output_max ({})",
                p.output_min, p.output_max
            )));
        }
        let ovf = || Error::invalid("sizes overflow 64-bit arithmetic");
        let dil_kh = mul(p.kernel_height - 1, p.dilation_height).and_then(|v| v.checked_add(1)).ok_or_else(ovf)?;
        let dil_kw = mul(p.kernel_width - 1, p.dilation_width).and_then(|v| v.checked_add(1)).ok_or_else(ovf)?;
        let padded_h = add3(p.in_height, p.pad_top, p.pad_bottom).ok_or_else(ovf)?;
        let padded_w = add3(p.in_width, p.pad_left, p.pad_right).ok_or_else(ovf)?;
        if dil_kh > padded_h || dil_kw > padded_w {
            return Err(Error::invalid(format!(
                "dilated kernel {dil_kh}x{dil_kw} is larger than the padded input {padded_h}x{padded_w}"
            )));
        }
        let out_height = (padded_h - dil_kh) / p.stride_height + 1;
        let out_width = (padded_w - dil_kw) / p.stride_width + 1;
        let cin_g = p.c_in / p.groups;
        let cout_g = p.c_out / p.groups;
        let input_len = mul4(p.batch, p.in_height, p.in_width, p.c_in).ok_or_else(ovf)?;
        let output_len = mul4(p.batch, out_height, out_width, p.c_out).ok_or_else(ovf)?;
        let weight_len = mul4(p.c_out, cin_g, p.kernel_height, p.kernel_width).ok_or_else(ovf)?;
        // Byte sizes must fit as well, and stay below isize::MAX so pointer offsets are valid.
        for len in [input_len, output_len, weight_len] {
            if len.checked_mul(4).is_none_or(|b| b > isize::MAX as usize) {
                return Err(ovf());
            }
        }
        let taps = p.kernel_height * p.kernel_width;
        let k = mul(taps, cin_g).ok_or_else(ovf)?;
        let flops = (2 * out_height * out_width) as u128 * p.batch as u128 * p.c_out as u128 * k as u128;
        Ok(Shape {
            out_height,
            out_width,
            cin_g,
            cout_g,
            input_len,
            output_len,
            weight_len,
            flops: flops.min(u64::MAX as u128) as u64,
        })
    }
}

fn mul(a: usize, b: usize) -> Option<usize> {
    a.checked_mul(b)
}
fn add3(a: usize, b: usize, c: usize) -> Option<usize> {
    a.checked_add(b)?.checked_add(c)
}
fn mul4(a: usize, b: usize, c: usize, d: usize) -> Option<usize> {
    a.checked_mul(b)?.checked_mul(c)?.checked_mul(d)
}

/// Sizes derived from valid parameters (element counts, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub out_height: usize,
    pub out_width: usize,
    /// Input channels per group.
    pub cin_g: usize,
    /// Output channels per group.
    pub cout_g: usize,
    pub input_len: usize,
    pub output_len: usize,
    pub weight_len: usize,
    /// Nominal direct-convolution FLOPs, `2 * n * oh * ow * c_out * (c_in / groups) * kh * kw`.
    pub flops: u64,
}

impl Conv2dParams {
    /// Index of weight `(o, i, ky, kx)` (i within the group) in the caller's weight layout.
    #[inline]
    pub fn weight_index(&self, o: usize, i: usize, ky: usize, kx: usize) -> usize {
        let cin_g = self.c_in / self.groups;
        let (kh, kw) = (self.kernel_height, self.kernel_width);
        match self.weight_layout {
            WeightLayout::Oihw => ((o * cin_g + i) * kh + ky) * kw + kx,
            WeightLayout::Ohwi => ((o * kh + ky) * kw + kx) * cin_g + i,
            WeightLayout::Hwio => ((ky * kw + kx) * cin_g + i) * self.c_out + o,
        }
    }
}
