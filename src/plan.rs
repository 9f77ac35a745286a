//! The plan: decides the algorithm and kernels once per shape and ISA, and owns the packed weights.

use crate::driver::dwconv::Depthwise;
use crate::driver::gemm_nchw::NchwGemm;
use crate::driver::gemm_nhwc::NhwcGemm;
use crate::driver::winograd::Winograd;
use crate::error::{Error, Result};
use crate::isa::Isa;
use crate::params::{Conv2dParams, Layout, Shape};
use crate::ukernel::gemm;

/// The algorithm a plan runs.
#[derive(Debug)]
pub(crate) enum Algo {
    Nhwc(NhwcGemm),
    Nchw(NchwGemm),
    Depthwise(Depthwise),
    Winograd(Winograd),
}

/// What the plan chose, for reports and benchmark output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelChoice {
    /// The algorithm, e.g. `pointwise-nhwc`, `im2col-gemm-nchw`.
    pub algorithm: &'static str,
    /// The micro-kernel, e.g. `f32_gemm_6x16__avx2`.
    pub kernel: &'static str,
    pub isa: Isa,
}

#[derive(Debug)]
pub(crate) struct Plan {
    pub algo: Algo,
    pub choice: KernelChoice,
}

impl Plan {
    pub fn new(
        p: &Conv2dParams,
        s: &Shape,
        isa: Isa,
        weights: &[f32],
        bias: Option<&[f32]>,
        winograd: bool,
    ) -> Result<Plan> {
        let kernel = gemm::for_isa(isa).ok_or_else(|| Error::Unsupported(format!("no GEMM kernel for ISA {isa}")))?;
        // Winograd only on request; its transformed weights mix the taps, so non-finite weights stay exact.
        if winograd && Winograd::applies(p) && weights.iter().all(|w| w.is_finite()) {
            let wg = Winograd::new(p, isa, kernel, weights, bias)?;
            let choice = KernelChoice { algorithm: wg.algorithm(), kernel: wg.kernel_name(), isa };
            return Ok(Plan { algo: Algo::Winograd(wg), choice });
        }
        // The depthwise kernels skip padded taps; that equals multiplying by the padding zeros only for finite
        // weights, so a non-finite weight sends the plan to the GEMM path, which multiplies them.
        // The NCHW depthwise path splits each input row into `stride_width` phases of our own; strides beyond
        // those networks use (a row of wider stride keeps one input column per output) go to the GEMM path
        // rather than size that buffer by the stride; so do layers whose input rows lie so far apart (stride or
        // dilation of thousands of rows) that even one output row's prepared rows exceed the depthwise row buffer.
        let dw_stride_ok = p.layout == Layout::Nhwc || p.stride_width <= 8;
        if (Depthwise::applies(p) || Depthwise::applies_grouped(p, s, isa))
            && dw_stride_ok
            && weights.iter().all(|w| w.is_finite())
            && let Some(dw) = Depthwise::new(p, s, isa, weights, bias)?
        {
            let choice = KernelChoice { algorithm: dw.algorithm(), kernel: dw.kernel_name(), isa };
            return Ok(Plan { algo: Algo::Depthwise(dw), choice });
        }
        let pointwise = p.kernel_height == 1 && p.kernel_width == 1;
        let k = s.cin_g * p.kernel_height * p.kernel_width;
        // NCHW with pixels in the lanes (1x1 pixel lanes, im2col).
        let lanes = || gemm::wide_for_nchw_lanes(isa, s.cout_g, k, s.out_height * s.out_width).unwrap_or(kernel);
        let (algo, algorithm, kernel) = match (p.layout, pointwise) {
            (Layout::Nhwc, _) => {
                let kernel = gemm::for_nhwc(isa, s.cout_g, k).unwrap_or(kernel);
                let a = NhwcGemm::new(p, s, kernel, weights, bias)?;
                let name = a.algorithm();
                (Algo::Nhwc(a), name, kernel)
            }
            (Layout::Nchw, true) => match NchwGemm::pixel_rows_kernel(p, s, isa) {
                Some(k) => (Algo::Nchw(NchwGemm::new_pixel_rows(p, s, k, weights, bias)?), "pointwise-nchw-rows", k),
                None => {
                    let kernel = lanes();
                    (Algo::Nchw(NchwGemm::new(p, s, kernel, weights, bias)?), "pointwise-nchw", kernel)
                }
            },
            (Layout::Nchw, false) => {
                let kernel = lanes();
                (Algo::Nchw(NchwGemm::new(p, s, kernel, weights, bias)?), "im2col-gemm-nchw", kernel)
            }
        };
        Ok(Plan { algo, choice: KernelChoice { algorithm, kernel: kernel.name, isa } })
    }

    /// # Safety
    /// `x` holds `s.input_len` floats, `y` `s.output_len`, `res` is null or holds `s.output_len`; `x` and `y` do
    /// not overlap; `res` is `y` itself or disjoint from it.
    pub unsafe fn run(
        &self,
        p: &Conv2dParams,
        s: &Shape,
        x: *const f32,
        res: *const f32,
        y: *mut f32,
        threads: usize,
    ) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe {
            match &self.algo {
                Algo::Nhwc(a) => a.run(p, s, x, res, y, threads),
                Algo::Nchw(a) => a.run(p, s, x, res, y, threads),
                Algo::Depthwise(a) => a.run(p, s, x, res, y, threads),
                Algo::Winograd(a) => a.run(p, s, x, res, y, threads),
            }
        }
    }
}
