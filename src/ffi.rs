//! C ABI: `extern "C"` entry points over the Rust API (see include/simdconv.h, generated from this file).
//!
//! Every entry point runs its body inside [`std::panic::catch_unwind`], so no panic crosses the boundary: a
//! caught panic becomes [`SIMDCONV_STATUS_INTERNAL_ERROR`]. Pointers are checked for NULL and alignment, buffer
//! address ranges for overlap, and the descriptor by [`Conv2dParams::validate`] before any caller memory is read.
//! The header is regenerated with `SIMDCONV_BLESS=1 cargo test --test header` (or the `cbindgen` CLI:
//! `cbindgen --config cbindgen.toml --output include/simdconv.h src/ffi.rs`).

use core::ffi::c_char;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use crate::api::{Conv2d, PlanOptions};
use crate::error::{Error, Result};
use crate::isa::{self, Isa};
use crate::params::{Conv2dParams, Layout, WeightLayout};

/// The call succeeded.
pub const SIMDCONV_STATUS_SUCCESS: i32 = 0;
/// A pointer, a descriptor field or a buffer is invalid (NULL, misaligned, overlapping, zero or inconsistent
/// dimensions, unknown codes, NaN or inverted clamp bounds, sizes overflowing 64-bit arithmetic).
pub const SIMDCONV_STATUS_INVALID_ARGUMENT: i32 = 1;
/// The request is valid but cannot be served on this CPU or build (e.g. `SIMDCONV_ISA` names an ISA it lacks).
pub const SIMDCONV_STATUS_UNSUPPORTED: i32 = 2;
/// An allocation failed; nothing was leaked and the library remains usable.
pub const SIMDCONV_STATUS_OUT_OF_MEMORY: i32 = 3;
/// A bug inside the library (a caught panic); the library remains usable. Please report it.
pub const SIMDCONV_STATUS_INTERNAL_ERROR: i32 = 4;

/// `layout`: `[batch][height][width][channels]`.
pub const SIMDCONV_LAYOUT_NHWC: u32 = 0;
/// `layout`: `[batch][channels][height][width]`.
pub const SIMDCONV_LAYOUT_NCHW: u32 = 1;
/// `weight_layout`: `[out_channels][I][kernel_height][kernel_width]` (ONNX, PyTorch).
pub const SIMDCONV_WEIGHT_LAYOUT_OIHW: u32 = 0;
/// `weight_layout`: `[out_channels][kernel_height][kernel_width][I]` (TFLite, XNNPACK).
pub const SIMDCONV_WEIGHT_LAYOUT_OHWI: u32 = 1;
/// `weight_layout`: `[kernel_height][kernel_width][I][out_channels]` (TensorFlow).
pub const SIMDCONV_WEIGHT_LAYOUT_HWIO: u32 = 2;

/// `simdconv_conv2d_create_ex` flag: use Winograd F(4x4, 3x3) when the convolution is 3x3 with stride 1, dilation 1
/// and one group (otherwise ignored). Faster, not exact: the error per output is at most `4e-6 * T`, with `T` the
/// sum over input channels of the filter's `sum |w|` times the largest `|x|` of the output's 6x6 input tile (see
/// `PlanOptions::winograd` in the Rust API); a NaN or infinite input reaches every output of its 4x4 tiles.
pub const SIMDCONV_CREATE_WINOGRAD: u32 = 1;

/// Describes a 2-D fp32 convolution. Output channel `o` belongs to group `o / (out_channels / groups)` and reads
/// input channels `g * I .. (g + 1) * I` with `I = in_channels / groups`, as in ONNX and PyTorch.
/// Output size: `out_height = (in_height + pad_top + pad_bottom - dilation_height * (kernel_height - 1) - 1)
/// / stride_height + 1`, and likewise `out_width`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct simdconv_conv2d_desc {
    pub batch: u32,
    pub in_height: u32,
    pub in_width: u32,
    pub in_channels: u32,
    pub out_channels: u32,
    pub kernel_height: u32,
    pub kernel_width: u32,
    pub stride_height: u32,
    pub stride_width: u32,
    pub dilation_height: u32,
    pub dilation_width: u32,
    pub pad_top: u32,
    pub pad_left: u32,
    pub pad_bottom: u32,
    pub pad_right: u32,
    pub groups: u32,
    /// `SIMDCONV_LAYOUT_NHWC` (0) or `SIMDCONV_LAYOUT_NCHW` (1); input, residual and output alike.
    pub layout: u32,
    /// `SIMDCONV_WEIGHT_LAYOUT_OIHW` (0), `_OHWI` (1) or `_HWIO` (2).
    pub weight_layout: u32,
    /// Lower bound of the fused clamp; `-INFINITY` for none.
    pub output_min: f32,
    /// Upper bound of the fused clamp; `INFINITY` for none.
    pub output_max: f32,
}

/// A planned convolution: validated descriptor, packed weights and bias, chosen kernels. Opaque to C; created by
/// `simdconv_conv2d_create`, released by `simdconv_conv2d_destroy`.
#[allow(non_camel_case_types)]
pub struct simdconv_conv2d {
    conv: Conv2d,
}

// The handle is shared between threads that call `simdconv_conv2d_run` concurrently.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<simdconv_conv2d>();
};
// Every `u32` descriptor field converts to `usize` without loss.
const _: () = assert!(usize::BITS >= 32);

/// Plans a convolution: validates `*desc`, then copies and packs `weights` (`out_channels * I * kernel_height *
/// kernel_width` floats in `desc->weight_layout`) and `bias` (`out_channels` floats, or NULL for none). The
/// caller may free or overwrite both afterwards. On success stores a new handle in `*out`; on failure stores NULL
/// there (when `out` is not NULL) and returns the status.
///
/// # Safety
/// `desc` is NULL or points to a descriptor; `weights` is NULL or holds the floats above; `bias` is NULL or holds
/// `out_channels` floats; `out` is NULL or points to writable storage for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn simdconv_conv2d_create(
    desc: *const simdconv_conv2d_desc,
    weights: *const f32,
    bias: *const f32,
    out: *mut *mut simdconv_conv2d,
) -> i32 {
    if !out.is_null() {
        // SAFETY: the caller provides writable storage for one pointer at `out`; an unaligned write needs no
        // alignment, so `*out` is NULL on every failure (a misaligned `out` and a caught panic included).
        unsafe { out.write_unaligned(ptr::null_mut()) };
    }
    // SAFETY: forwarded contract.
    guard(SIMDCONV_STATUS_INTERNAL_ERROR, || status(unsafe { create(desc, weights, bias, 0, out) }))
}

/// `simdconv_conv2d_create` with option `flags`: a bitwise OR of `SIMDCONV_CREATE_*` values (0 for none, which
/// equals `simdconv_conv2d_create`). Unknown flag bits are an invalid argument.
///
/// # Safety
/// As `simdconv_conv2d_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn simdconv_conv2d_create_ex(
    desc: *const simdconv_conv2d_desc,
    weights: *const f32,
    bias: *const f32,
    flags: u32,
    out: *mut *mut simdconv_conv2d,
) -> i32 {
    if !out.is_null() {
        // SAFETY: as in `simdconv_conv2d_create`.
        unsafe { out.write_unaligned(ptr::null_mut()) };
    }
    // SAFETY: forwarded contract.
    guard(SIMDCONV_STATUS_INTERNAL_ERROR, || status(unsafe { create(desc, weights, bias, flags, out) }))
}

/// Runs the convolution: `output = clamp(conv(input) + bias)`. `input` holds `batch * in_height * in_width *
/// in_channels` floats and `output` `batch * out_height * out_width * out_channels` floats, both in
/// `desc->layout`; they must not overlap. `num_threads`: 0 = all cores, 1 = the calling thread only; results are
/// bitwise identical for any value. Safe to call concurrently on one handle.
///
/// # Safety
/// `conv` is NULL or a live handle; `input` and `output` are NULL or hold the floats above.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn simdconv_conv2d_run(
    conv: *const simdconv_conv2d,
    input: *const f32,
    output: *mut f32,
    num_threads: u32,
) -> i32 {
    // SAFETY: forwarded contract.
    guard(SIMDCONV_STATUS_INTERNAL_ERROR, || status(unsafe { run(conv, input, None, output, num_threads) }))
}

/// Like `simdconv_conv2d_run` with an output-shaped `residual` added after the bias and before the clamp:
/// `output = clamp(conv(input) + bias + residual)`. `residual` may be `output` itself (in-place residual add) or
/// a buffer disjoint from it; a partial overlap is an invalid argument.
///
/// # Safety
/// As `simdconv_conv2d_run`; `residual` is NULL or holds as many floats as `output`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn simdconv_conv2d_run_residual(
    conv: *const simdconv_conv2d,
    input: *const f32,
    residual: *const f32,
    output: *mut f32,
    num_threads: u32,
) -> i32 {
    guard(SIMDCONV_STATUS_INTERNAL_ERROR, || {
        // SAFETY: forwarded contract.
        status(unsafe { run(conv, input, Some(residual), output, num_threads) })
    })
}

/// Releases a handle and its packed weights. NULL is a no-op. The handle must not be in use by another thread.
///
/// # Safety
/// `conv` is NULL or a live handle from `simdconv_conv2d_create`, not used again afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn simdconv_conv2d_destroy(conv: *mut simdconv_conv2d) {
    guard((), || {
        if !conv.is_null() && conv.is_aligned() {
            // SAFETY: the caller passes a handle made by `Box::into_raw` in `create` and gives up its ownership.
            drop(unsafe { Box::from_raw(conv) });
        }
    })
}

/// The name of the ISA that new plans use (`"avx512"`, `"avx2"`, `"neon"`, `"portable"`, ...), or
/// `"unavailable"` when the `SIMDCONV_ISA` environment variable names an unknown ISA or one this CPU lacks (then
/// `simdconv_conv2d_create` fails). A static NUL-terminated string; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn simdconv_isa() -> *const c_char {
    guard(c"unavailable".as_ptr(), || match isa::isa() {
        Ok(i) => isa_cstr(i).as_ptr(),
        Err(_) => c"unavailable".as_ptr(),
    })
}

/// A static NUL-terminated description of a status code (`"unknown status"` for unknown codes); do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn simdconv_status_string(status: i32) -> *const c_char {
    guard(c"internal error".as_ptr(), || status_cstr(status).as_ptr())
}

/// Sets how long the library's idle helper threads spin (busy-wait, yielding to the OS) after a threaded call
/// before they sleep, in microseconds, from their next wait on; overrides the `SIMDCONV_SPIN_US` environment
/// variable and the 2000 us default. 0 makes them sleep after every call (no core is held between calls; each
/// threaded call then pays a wake-up). Thread-safe; results never depend on it.
#[unsafe(no_mangle)]
pub extern "C" fn simdconv_set_spin_us(microseconds: u32) {
    guard((), || crate::set_spin_time(std::time::Duration::from_micros(u64::from(microseconds))))
}

/// The library version as `major * 10000 + minor * 100 + patch`.
#[unsafe(no_mangle)]
pub extern "C" fn simdconv_version() -> u32 {
    guard(0, crate::version)
}

thread_local! {
    static INJECT_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Test hook: while `on`, every C entry point called from the current thread panics inside its guard (and
/// returns its panic value). Lets tests prove that no panic crosses the boundary; other threads are unaffected.
#[doc(hidden)]
pub fn test_hook_inject_panic(on: bool) {
    INJECT_PANIC.with(|c| c.set(on));
}

/// Runs `body`, turning a panic into `on_panic`.
fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(|| {
        if INJECT_PANIC.try_with(Cell::get).unwrap_or(false) {
            panic!("panic injected by simdconv::ffi::test_hook_inject_panic");
        }
        body()
    }))
    .unwrap_or(on_panic)
}

/// The status code of an error.
pub fn status_of(e: &Error) -> i32 {
    match e {
        Error::InvalidArgument(_) => SIMDCONV_STATUS_INVALID_ARGUMENT,
        Error::Unsupported(_) => SIMDCONV_STATUS_UNSUPPORTED,
        Error::OutOfMemory => SIMDCONV_STATUS_OUT_OF_MEMORY,
        Error::Internal(_) => SIMDCONV_STATUS_INTERNAL_ERROR,
    }
}

fn status(r: Result<()>) -> i32 {
    match r {
        Ok(()) => SIMDCONV_STATUS_SUCCESS,
        Err(e) => status_of(&e),
    }
}

fn status_cstr(status: i32) -> &'static core::ffi::CStr {
    match status {
        SIMDCONV_STATUS_SUCCESS => c"success",
        SIMDCONV_STATUS_INVALID_ARGUMENT => c"invalid argument",
        SIMDCONV_STATUS_UNSUPPORTED => c"unsupported",
        SIMDCONV_STATUS_OUT_OF_MEMORY => c"out of memory",
        SIMDCONV_STATUS_INTERNAL_ERROR => c"internal error",
        _ => c"unknown status",
    }
}

fn isa_cstr(i: Isa) -> &'static core::ffi::CStr {
    match i {
        Isa::Portable => c"portable",
        Isa::Avx2 => c"avx2",
        Isa::Avx512 => c"avx512",
        Isa::Neon => c"neon",
        Isa::Avx512OnAvx2 => c"avx512-on-avx2",
        Isa::Avx512Portable => c"avx512-portable",
    }
}

/// Checks that `p` is non-NULL and aligned for `T`.
fn check_ptr<T>(p: *const T, what: &str) -> Result<()> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    if !p.is_aligned() {
        return Err(Error::invalid(format!("{what} is not aligned to {} bytes", align_of::<T>())));
    }
    Ok(())
}

/// The descriptor as Rust parameters; unknown layout codes are invalid.
fn params_from_desc(d: &simdconv_conv2d_desc) -> Result<Conv2dParams> {
    let layout = match d.layout {
        SIMDCONV_LAYOUT_NHWC => Layout::Nhwc,
        SIMDCONV_LAYOUT_NCHW => Layout::Nchw,
        v => return Err(Error::invalid(format!("unknown layout code {v}"))),
    };
    let weight_layout = match d.weight_layout {
        SIMDCONV_WEIGHT_LAYOUT_OIHW => WeightLayout::Oihw,
        SIMDCONV_WEIGHT_LAYOUT_OHWI => WeightLayout::Ohwi,
        SIMDCONV_WEIGHT_LAYOUT_HWIO => WeightLayout::Hwio,
        v => return Err(Error::invalid(format!("unknown weight layout code {v}"))),
    };
    let u = |v: u32| v as usize;
    Ok(Conv2dParams {
        batch: u(d.batch),
        in_height: u(d.in_height),
        in_width: u(d.in_width),
        c_in: u(d.in_channels),
        c_out: u(d.out_channels),
        kernel_height: u(d.kernel_height),
        kernel_width: u(d.kernel_width),
        stride_height: u(d.stride_height),
        stride_width: u(d.stride_width),
        dilation_height: u(d.dilation_height),
        dilation_width: u(d.dilation_width),
        pad_top: u(d.pad_top),
        pad_left: u(d.pad_left),
        pad_bottom: u(d.pad_bottom),
        pad_right: u(d.pad_right),
        groups: u(d.groups),
        layout,
        weight_layout,
        output_min: d.output_min,
        output_max: d.output_max,
    })
}

/// # Safety
/// As `simdconv_conv2d_create`; `out` is non-NULL or the call fails before using it.
unsafe fn create(
    desc: *const simdconv_conv2d_desc,
    weights: *const f32,
    bias: *const f32,
    flags: u32,
    out: *mut *mut simdconv_conv2d,
) -> Result<()> {
    if flags & !SIMDCONV_CREATE_WINOGRAD != 0 {
        return Err(Error::invalid(format!("unknown create flags {flags:#x}")));
    }
    check_ptr(desc, "desc")?;
    check_ptr(weights, "weights")?;
    check_ptr(out.cast_const(), "out")?;
    if !bias.is_null() {
        check_ptr(bias, "bias")?;
    }
    // SAFETY: `desc` is non-NULL and aligned, and the caller says it points to a descriptor (plain old data).
    let desc = unsafe { desc.read() };
    let params = params_from_desc(&desc)?;
    let shape = params.validate()?;
    // SAFETY: `weights` is non-NULL and aligned, and holds `weight_len` floats by the caller's contract;
    // `validate` checked that `weight_len * 4` fits `isize`.
    let weights = unsafe { std::slice::from_raw_parts(weights, shape.weight_len) };
    // SAFETY: a non-NULL `bias` is aligned (checked) and holds `c_out` floats by the caller's contract.
    let bias = (!bias.is_null()).then(|| unsafe { std::slice::from_raw_parts(bias, params.c_out) });
    let opts = PlanOptions { winograd: flags & SIMDCONV_CREATE_WINOGRAD != 0, ..PlanOptions::default() };
    let conv = Conv2d::with_options(params, weights, bias, opts)?;
    let handle = Box::into_raw(Box::new(simdconv_conv2d { conv }));
    // SAFETY: `out` is non-NULL, aligned and writable (checked and the caller's contract).
    unsafe { out.write(handle) };
    Ok(())
}

/// The address range `[start, end)` of `len` floats at `p`.
fn range(p: *const f32, len: usize, what: &str) -> Result<(usize, usize)> {
    let start = p.addr();
    // `len * 4` cannot overflow: `Conv2dParams::validate` bounds every buffer's byte size by `isize::MAX`.
    let end = start
        .checked_add(len * size_of::<f32>())
        .ok_or_else(|| Error::invalid(format!("{what} buffer wraps around the address space")))?;
    Ok((start, end))
}

fn overlap(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// # Safety
/// As `simdconv_conv2d_run_residual`; `residual` is `None` for `simdconv_conv2d_run`.
unsafe fn run(
    conv: *const simdconv_conv2d,
    input: *const f32,
    residual: Option<*const f32>,
    output: *mut f32,
    num_threads: u32,
) -> Result<()> {
    check_ptr(conv, "conv")?;
    check_ptr(input, "input")?;
    check_ptr(output.cast_const(), "output")?;
    if let Some(r) = residual {
        check_ptr(r, "residual")?;
    }
    // SAFETY: `conv` is non-NULL and aligned, and the caller says it is a live handle; `run` only reads it.
    let conv = unsafe { &(*conv).conv };
    let x = range(input, conv.input_len(), "input")?;
    let y = range(output, conv.output_len(), "output")?;
    if overlap(x, y) {
        return Err(Error::invalid("input and output overlap"));
    }
    let res = match residual {
        None => ptr::null(),
        Some(r) => {
            let rr = range(r, conv.output_len(), "residual")?;
            if r != output.cast_const() && overlap(rr, y) {
                return Err(Error::invalid("residual partially overlaps output (it may only be output itself)"));
            }
            r
        }
    };
    // SAFETY: the buffers hold `input_len` / `output_len` floats by the caller's contract, `input` and `output` are
    // disjoint and `residual` is NULL, `output` itself or disjoint from it (all checked above).
    unsafe { conv.run_raw(input, res, output, num_threads as usize) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_distinct_codes() {
        let codes = [
            status_of(&Error::InvalidArgument(String::new())),
            status_of(&Error::Unsupported(String::new())),
            status_of(&Error::OutOfMemory),
            status_of(&Error::Internal(String::new())),
        ];
        assert_eq!(
            codes,
            [
                SIMDCONV_STATUS_INVALID_ARGUMENT,
                SIMDCONV_STATUS_UNSUPPORTED,
                SIMDCONV_STATUS_OUT_OF_MEMORY,
                SIMDCONV_STATUS_INTERNAL_ERROR
            ]
        );
        assert_eq!(status(Ok(())), SIMDCONV_STATUS_SUCCESS);
        for c in codes {
            assert_ne!(status_cstr(c), c"unknown status");
        }
    }

    #[test]
    fn isa_names_match() {
        for i in Isa::ALL {
            assert_eq!(isa_cstr(i).to_str().unwrap(), i.name());
        }
    }
}
