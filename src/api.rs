//! The safe Rust API: `Conv2d::new` validates and packs once, `run` executes many times, from many threads.

use crate::driver::resolve_threads;
use crate::error::{Error, Result};
use crate::isa::{self, Isa};
use crate::params::{Conv2dParams, Layout, Shape};
use crate::plan::{KernelChoice, Plan};

/// Plan-time options.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// Build the plan for this ISA instead of [`isa::isa`]'s choice; an ISA this CPU lacks is an error.
    pub isa: Option<Isa>,
    /// Use Winograd F(4x4, 3x3) when the convolution is 3x3 with stride 1, dilation 1 and one group (otherwise
    /// ignored): 1.6 to 3.5 times the exact path's speed on ResNet-50's 3x3 layers, but not exact.
    ///
    /// Error bound (tested on data in `[-1, 1]` and `[0, 1]`, `c_in` up to 512): `|y - exact| <= 4e-6 * T` per
    /// output, where `T` is the sum over input channels `c` of (the sum of `|w|` over the 9 taps) times (the largest
    /// `|x_c|` in the 6x6 input tile of the output's 4x4 tile), plus `|bias| + |residual|`. Measured: at most
    /// `1.1e-6 * T`, or `4.3e-6 * sum |w| |x|` (the exact path stays within `(9 c_in + 2) * 2^-23 * sum |w| |x|`).
    /// A NaN or infinite input reaches every output of the 4x4 tiles whose input tile holds it, not only the
    /// outputs that read it; plans with non-finite weights use the exact path.
    pub winograd: bool,
}

/// Output tensor dimensions (the layout decides their order in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputShape {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl OutputShape {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.batch * self.height * self.width * self.channels
    }
    /// Whether the tensor is empty (never, for a valid plan).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A planned convolution: validated parameters, packed weights and chosen kernels. `Send + Sync`; `run` may be
/// called concurrently on one plan.
#[derive(Debug)]
pub struct Conv2d {
    params: Conv2dParams,
    shape: Shape,
    plan: Plan,
}

impl Conv2d {
    /// Validates `params`, checks the slice lengths and packs `weights` (in `params.weight_layout`) and `bias`
    /// (`c_out` values). The slices are copied: the caller may drop or change them afterwards.
    pub fn new(params: Conv2dParams, weights: &[f32], bias: Option<&[f32]>) -> Result<Conv2d> {
        Conv2d::with_options(params, weights, bias, PlanOptions::default())
    }

    /// [`Conv2d::new`] with plan options (e.g. a forced ISA).
    pub fn with_options(
        params: Conv2dParams,
        weights: &[f32],
        bias: Option<&[f32]>,
        opts: PlanOptions,
    ) -> Result<Conv2d> {
        let shape = params.validate()?;
        if weights.len() != shape.weight_len {
            return Err(Error::invalid(format!(
                "weights have {} elements, expected {}",
                weights.len(),
                shape.weight_len
            )));
        }
        if let Some(b) = bias
            && b.len() != params.c_out
        {
            return Err(Error::invalid(format!("bias has {} elements, expected c_out = {}", b.len(), params.c_out)));
        }
        let isa = match opts.isa {
            Some(i) => i.check_available()?,
            None => isa::isa()?,
        };
        let plan = Plan::new(&params, &shape, isa, weights, bias, opts.winograd)?;
        Ok(Conv2d { params, shape, plan })
    }

    /// The parameters the plan was built from.
    pub fn params(&self) -> &Conv2dParams {
        &self.params
    }

    /// Output dimensions.
    pub fn output_shape(&self) -> OutputShape {
        OutputShape {
            batch: self.params.batch,
            height: self.shape.out_height,
            width: self.shape.out_width,
            channels: self.params.c_out,
        }
    }

    /// Number of input elements `run` expects.
    pub fn input_len(&self) -> usize {
        self.shape.input_len
    }

    /// Number of output elements `run` writes.
    pub fn output_len(&self) -> usize {
        self.shape.output_len
    }

    /// Nominal FLOPs of one run (`2 * n * oh * ow * c_out * c_in / groups * kh * kw`).
    pub fn flops(&self) -> u64 {
        self.shape.flops
    }

    /// The ISA the plan's kernels use.
    pub fn isa(&self) -> Isa {
        self.plan.choice.isa
    }

    /// The algorithm and micro-kernel the plan chose.
    pub fn kernel_choice(&self) -> &KernelChoice {
        &self.plan.choice
    }

    /// Runs on all cores.
    pub fn run(&self, input: &[f32], output: &mut [f32]) -> Result<()> {
        self.run_with(input, output, 0, None)
    }

    /// Runs with `threads` threads (0 = all cores, 1 = the calling thread only) and an optional output-shaped
    /// `residual` added after the bias and before the clamp. Results do not depend on `threads`.
    pub fn run_with(&self, input: &[f32], output: &mut [f32], threads: usize, residual: Option<&[f32]>) -> Result<()> {
        self.check_len("input", input.len(), self.shape.input_len)?;
        self.check_len("output", output.len(), self.shape.output_len)?;
        if let Some(r) = residual {
            self.check_len("residual", r.len(), self.shape.output_len)?;
        }
        let res = residual.map_or(core::ptr::null(), |r| r.as_ptr());
        // SAFETY: lengths checked above; Rust's borrows make input/residual and output disjoint.
        unsafe { self.run_raw(input.as_ptr(), res, output.as_mut_ptr(), threads) }
    }

    /// Like [`Conv2d::run_with`] with the residual taken from `output` itself: `output = clamp(conv(input) + output)`.
    pub fn run_residual_in_place(&self, input: &[f32], output: &mut [f32], threads: usize) -> Result<()> {
        self.check_len("input", input.len(), self.shape.input_len)?;
        self.check_len("output", output.len(), self.shape.output_len)?;
        let y = output.as_mut_ptr();
        // SAFETY: lengths checked; the residual is exactly the output, which the kernels read before writing
        // each element.
        unsafe { self.run_raw(input.as_ptr(), y, y, threads) }
    }

    fn check_len(&self, what: &str, got: usize, want: usize) -> Result<()> {
        if got != want {
            return Err(Error::invalid(format!("{what} has {got} elements, expected {want}")));
        }
        Ok(())
    }

    /// Runs on raw pointers (the C ABI's entry).
    ///
    /// # Safety
    /// `input` holds `input_len()` floats, `output` `output_len()`, `residual` is null or holds `output_len()`;
    /// input does not overlap output; residual is `output` itself or disjoint from it.
    pub(crate) unsafe fn run_raw(
        &self,
        input: *const f32,
        residual: *const f32,
        output: *mut f32,
        threads: usize,
    ) -> Result<()> {
        let threads = resolve_threads(threads, self.shape.flops);
        // SAFETY: forwarded contract.
        unsafe { self.plan.run(&self.params, &self.shape, input, residual, output, threads) }
    }

    /// The activation layout.
    pub fn layout(&self) -> Layout {
        self.params.layout
    }
}
