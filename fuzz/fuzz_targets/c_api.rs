//! Fuzzes the C ABI: arbitrary descriptors, NULL / misaligned / overlapping buffers and thread counts must give a
//! defined status code and never crash, read past a buffer or panic.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use simdconv::Conv2dParams;
use simdconv::ffi::{
    SIMDCONV_STATUS_INVALID_ARGUMENT, SIMDCONV_STATUS_OUT_OF_MEMORY, SIMDCONV_STATUS_SUCCESS,
    SIMDCONV_STATUS_UNSUPPORTED, simdconv_conv2d, simdconv_conv2d_create, simdconv_conv2d_desc,
    simdconv_conv2d_destroy, simdconv_conv2d_run, simdconv_conv2d_run_residual,
};
use std::ptr;

/// Buffers are allocated only below this many elements; larger valid descriptors get NULL weights.
const MAX_ELEMS: usize = 1 << 20;
/// Valid descriptors above this many FLOPs are created but not run (keeps the fuzzer fast).
const MAX_RUN_FLOPS: u64 = 1 << 24;

/// A `u32` that is mostly small (most descriptors then validate), sometimes an edge value, rarely anything.
fn small_u32(u: &mut Unstructured, typical: u32) -> arbitrary::Result<u32> {
    Ok(match u8::arbitrary(u)? {
        0..=219 => u.int_in_range(0..=typical)?,
        220..=239 => u.int_in_range(0..=4 * typical + 8)?,
        240..=251 => *u.choose(&[0, 1, 2, 1 << 16, 65_537, 1 << 20, 1 << 31, u32::MAX - 1, u32::MAX])?,
        _ => u32::arbitrary(u)?,
    })
}

/// A clamp bound: usually none, sometimes finite, NaN or arbitrary.
fn bound(u: &mut Unstructured, none: f32) -> arbitrary::Result<f32> {
    Ok(match u8::arbitrary(u)? {
        0..=159 => none,
        160..=229 => *u.choose(&[0.0, 6.0, -6.0, 1.0, -1.0, 0.5])?,
        230..=239 => -none,
        240..=247 => f32::NAN,
        _ => f32::arbitrary(u)?,
    })
}

fn desc(u: &mut Unstructured) -> arbitrary::Result<simdconv_conv2d_desc> {
    Ok(simdconv_conv2d_desc {
        batch: small_u32(u, 2)?,
        in_height: small_u32(u, 9)?,
        in_width: small_u32(u, 9)?,
        in_channels: small_u32(u, 12)?,
        out_channels: small_u32(u, 12)?,
        kernel_height: small_u32(u, 4)?,
        kernel_width: small_u32(u, 4)?,
        stride_height: small_u32(u, 3)?,
        stride_width: small_u32(u, 3)?,
        dilation_height: small_u32(u, 3)?,
        dilation_width: small_u32(u, 3)?,
        pad_top: small_u32(u, 3)?,
        pad_left: small_u32(u, 3)?,
        pad_bottom: small_u32(u, 3)?,
        pad_right: small_u32(u, 3)?,
        groups: small_u32(u, 4)?,
        layout: small_u32(u, 2)?,
        weight_layout: small_u32(u, 3)?,
        output_min: bound(u, f32::NEG_INFINITY)?,
        output_max: bound(u, f32::INFINITY)?,
    })
}

/// The Rust parameters of a descriptor the C ABI must accept, or `None` when it must be rejected.
fn params(d: &simdconv_conv2d_desc) -> Option<Conv2dParams> {
    use simdconv::{Layout, WeightLayout};
    let u = |v: u32| v as usize;
    let p = Conv2dParams {
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
        layout: [Layout::Nhwc, Layout::Nchw].get(u(d.layout)).copied()?,
        weight_layout: [WeightLayout::Oihw, WeightLayout::Ohwi, WeightLayout::Hwio].get(u(d.weight_layout)).copied()?,
        output_min: d.output_min,
        output_max: d.output_max,
    };
    p.validate().is_ok().then_some(p)
}

/// A status is one of the defined codes. A caught panic (`SIMDCONV_STATUS_INTERNAL_ERROR`) is a bug: the fuzzer
/// reports it as a crash.
fn check_status(s: i32, what: &str) {
    assert!(
        [
            SIMDCONV_STATUS_SUCCESS,
            SIMDCONV_STATUS_INVALID_ARGUMENT,
            SIMDCONV_STATUS_UNSUPPORTED,
            SIMDCONV_STATUS_OUT_OF_MEMORY
        ]
        .contains(&s),
        "{what} returned status {s}"
    );
}

fn data(u: &mut Unstructured, n: usize) -> Vec<f32> {
    let mut s = u32::arbitrary(u).unwrap_or(1) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// How a run passes its buffers.
#[derive(Debug, Arbitrary)]
enum Buffers {
    /// Right-sized, disjoint.
    Exact,
    /// Input NULL.
    NullInput,
    /// Output NULL.
    NullOutput,
    /// Input misaligned by one byte (inside a buffer one element longer).
    MisalignedInput,
    /// Output and input overlapping inside one buffer large enough for both.
    Overlapping(u8),
}

#[derive(Debug, Arbitrary)]
enum Residual {
    /// `simdconv_conv2d_run`.
    None,
    /// `simdconv_conv2d_run_residual` with a separate buffer.
    Separate,
    /// `simdconv_conv2d_run_residual` with the residual being the output itself.
    InPlace,
    /// `simdconv_conv2d_run_residual` with a NULL residual.
    Null,
    /// `simdconv_conv2d_run_residual` with a residual partially overlapping the output.
    Partial(u8),
}

/// Runs once; every buffer passed holds at least the floats the handle needs from it.
fn run_once(
    u: &mut Unstructured,
    conv: *const simdconv_conv2d,
    in_len: usize,
    out_len: usize,
) -> arbitrary::Result<()> {
    let bufs = Buffers::arbitrary(u)?;
    let res = Residual::arbitrary(u)?;
    let threads = *u.choose(&[0u32, 1, 2, 3])?;
    let x = data(u, in_len + 1);
    let mut y = vec![f32::NAN; out_len];
    // One buffer holding input and output at an offset below `in_len` (overlapping when non-empty).
    let mut shared = data(u, in_len + out_len);
    let mut r = data(u, out_len);
    // Residual partially overlapping the output: a buffer of two outputs, output at 0, residual at 1 + k.
    let mut both = vec![0.0f32; 2 * out_len + 1];
    let (xp, yp): (*const f32, *mut f32) = match bufs {
        Buffers::Exact => (x.as_ptr(), y.as_mut_ptr()),
        Buffers::NullInput => (ptr::null(), y.as_mut_ptr()),
        Buffers::NullOutput => (x.as_ptr(), ptr::null_mut()),
        // SAFETY: `x` has `in_len + 1` floats, so one byte past its start plus `in_len` floats stays inside.
        Buffers::MisalignedInput => (unsafe { x.as_ptr().cast::<u8>().add(1).cast::<f32>() }, y.as_mut_ptr()),
        Buffers::Overlapping(k) => {
            let off = k as usize % in_len.max(1);
            // SAFETY: `off < in_len`, so `off + out_len <= in_len + out_len`, the buffer's length.
            (shared.as_ptr(), unsafe { shared.as_mut_ptr().add(off) })
        }
    };
    // SAFETY (all calls): `conv` is a live handle; every non-NULL pointer addresses at least the floats the call
    // may touch (the misaligned and overlapping ones too), so even a call that failed to reject them stays inside.
    let s = match res {
        Residual::None => unsafe { simdconv_conv2d_run(conv, xp, yp, threads) },
        Residual::Separate => unsafe { simdconv_conv2d_run_residual(conv, xp, r.as_mut_ptr(), yp, threads) },
        Residual::InPlace => unsafe { simdconv_conv2d_run_residual(conv, xp, yp, yp, threads) },
        Residual::Null => unsafe { simdconv_conv2d_run_residual(conv, xp, ptr::null(), yp, threads) },
        Residual::Partial(k) => {
            let off = 1 + k as usize % out_len;
            let bp = both.as_mut_ptr();
            // SAFETY: `off <= out_len`, so the residual's `out_len` floats end inside `both`.
            let rp = unsafe { bp.add(off) };
            let s = unsafe { simdconv_conv2d_run_residual(conv, xp, rp, bp, threads) };
            if off < out_len {
                assert_ne!(s, SIMDCONV_STATUS_SUCCESS, "a partially overlapping residual was accepted");
            }
            s
        }
    };
    check_status(s, "simdconv_conv2d_run");
    let proper = matches!(bufs, Buffers::Exact) && !matches!(res, Residual::Null | Residual::Partial(_));
    if proper {
        assert_eq!(s, SIMDCONV_STATUS_SUCCESS, "a run with valid buffers failed");
    } else if !matches!(res, Residual::Partial(_)) {
        assert_ne!(s, SIMDCONV_STATUS_SUCCESS, "a run with NULL, misaligned or overlapping buffers succeeded");
    }
    Ok(())
}

/// `SIMDCONV_FUZZ_VERBOSE=1` prints each descriptor (for replaying a crashing input).
fn verbose() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var_os("SIMDCONV_FUZZ_VERBOSE").is_some())
}

fn fuzz(u: &mut Unstructured) -> arbitrary::Result<()> {
    let d = desc(u)?;
    if verbose() {
        eprintln!("{d:?}");
    }
    let valid = params(&d);
    let sizes = valid.map(|p| p.validate().expect("validated above"));
    let small = sizes.is_some_and(|s| s.weight_len.max(s.input_len).max(s.output_len) < MAX_ELEMS);
    // Weights: right-sized when the descriptor is valid and small; otherwise a few floats or NULL, which the
    // library must reject before reading (a valid but huge descriptor always gets NULL).
    let weights = match sizes {
        Some(s) if small => Some(data(u, s.weight_len)),
        Some(_) => None,
        None => bool::arbitrary(u)?.then(|| data(u, 4)),
    };
    let bias = match valid {
        Some(p) if small => bool::arbitrary(u)?.then(|| data(u, p.c_out)),
        _ => bool::arbitrary(u)?.then(|| data(u, 4)),
    };
    let null_desc = u.ratio(1, 64)?;
    let null_out = u.ratio(1, 64)?;
    let mut conv: *mut simdconv_conv2d = ptr::null_mut();
    let dp: *const simdconv_conv2d_desc = if null_desc { ptr::null() } else { &d };
    let wp = weights.as_ref().map_or(ptr::null(), |w| w.as_ptr());
    let bp = bias.as_ref().map_or(ptr::null(), |b| b.as_ptr());
    let op = if null_out { ptr::null_mut() } else { &mut conv as *mut _ };
    // SAFETY: every non-NULL pointer is valid; weights and bias are right-sized whenever the descriptor is valid.
    let s = unsafe { simdconv_conv2d_create(dp, wp, bp, op) };
    check_status(s, "simdconv_conv2d_create");
    if s != SIMDCONV_STATUS_SUCCESS {
        assert!(conv.is_null(), "a failed create left a handle");
        return Ok(());
    }
    assert!(!conv.is_null(), "a successful create returned NULL");
    // Success implies a valid descriptor, given weights (so a small one) and all pointers.
    assert!(small && !null_desc && !null_out, "create accepted {d:?}");
    let s = sizes.expect("valid");
    if s.flops <= MAX_RUN_FLOPS {
        for _ in 0..u.int_in_range(1..=3)? {
            if run_once(u, conv, s.input_len, s.output_len).is_err() {
                break;
            }
        }
    }
    // SAFETY: `conv` is the live handle made above and is not used afterwards.
    unsafe { simdconv_conv2d_destroy(conv) };
    Ok(())
}

fuzz_target!(|bytes: &[u8]| {
    let _ = fuzz(&mut Unstructured::new(bytes));
});
