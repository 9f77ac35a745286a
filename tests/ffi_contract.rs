//! The C ABI's contract (include/simdconv.h), checked line by line through the `extern "C"` functions.

use simdconv::ffi::*;
use simdconv::{Conv2dParams, Layout, WeightLayout, reference};
use std::ffi::CStr;
use std::ptr;

fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn desc(p: &Conv2dParams) -> simdconv_conv2d_desc {
    let u = |v: usize| u32::try_from(v).unwrap();
    simdconv_conv2d_desc {
        batch: u(p.batch),
        in_height: u(p.in_height),
        in_width: u(p.in_width),
        in_channels: u(p.c_in),
        out_channels: u(p.c_out),
        kernel_height: u(p.kernel_height),
        kernel_width: u(p.kernel_width),
        stride_height: u(p.stride_height),
        stride_width: u(p.stride_width),
        dilation_height: u(p.dilation_height),
        dilation_width: u(p.dilation_width),
        pad_top: u(p.pad_top),
        pad_left: u(p.pad_left),
        pad_bottom: u(p.pad_bottom),
        pad_right: u(p.pad_right),
        groups: u(p.groups),
        layout: p.layout as u32,
        weight_layout: p.weight_layout as u32,
        output_min: p.output_min,
        output_max: p.output_max,
    }
}

/// A handle owned by a test; destroyed on drop.
struct Handle(*mut simdconv_conv2d);

// SAFETY: the C ABI's contract lets several threads run one handle concurrently; tests never destroy a handle
// while another thread uses it (scoped threads end before the drop).
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful create and is released once.
        unsafe { simdconv_conv2d_destroy(self.0) };
    }
}

/// A non-NULL value to pre-fill `*out` with, so tests see that a failed create resets it.
fn sentinel() -> *mut simdconv_conv2d {
    ptr::dangling_mut()
}

fn opt_ptr(b: Option<&[f32]>) -> *const f32 {
    b.map_or(ptr::null(), <[f32]>::as_ptr)
}

/// Creates through the C ABI; on failure checks that `*out` was set to NULL and returns the status.
fn create_raw(d: *const simdconv_conv2d_desc, w: *const f32, b: *const f32) -> Result<Handle, i32> {
    let mut out = sentinel();
    // SAFETY: the pointers are NULL or point to live buffers of the sizes the descriptor implies (or the call is
    // expected to reject them before reading).
    let st = unsafe { simdconv_conv2d_create(d, w, b, &mut out) };
    if st == SIMDCONV_STATUS_SUCCESS {
        assert!(!out.is_null());
        Ok(Handle(out))
    } else {
        assert!(out.is_null(), "a failed create (status {st}) must set *out to NULL");
        Err(st)
    }
}

fn create(p: &Conv2dParams, w: &[f32], b: Option<&[f32]>) -> Result<Handle, i32> {
    create_raw(&desc(p), w.as_ptr(), opt_ptr(b))
}

fn run(h: &Handle, x: *const f32, y: *mut f32, threads: u32) -> i32 {
    // SAFETY: tests pass buffers holding at least input_len / output_len floats (or expect a rejection first).
    unsafe { simdconv_conv2d_run(h.0, x, y, threads) }
}

fn run_res(h: &Handle, x: *const f32, r: *const f32, y: *mut f32, threads: u32) -> i32 {
    // SAFETY: as `run`, with `r` holding output_len floats.
    unsafe { simdconv_conv2d_run_residual(h.0, x, r, y, threads) }
}

/// One convolution's parameters and data.
struct Case {
    p: Conv2dParams,
    w: Vec<f32>,
    b: Vec<f32>,
    x: Vec<f32>,
    r: Vec<f32>,
}

impl Case {
    fn new(p: Conv2dParams) -> Case {
        let s = p.validate().unwrap();
        Case { p, w: data(s.weight_len, 1), b: data(p.c_out, 2), x: data(s.input_len, 3), r: data(s.output_len, 4) }
    }
    fn ylen(&self) -> usize {
        self.r.len()
    }
    fn want(&self, bias: bool, residual: bool) -> reference::RefOutput {
        let b = bias.then_some(&self.b[..]);
        let r = residual.then_some(&self.r[..]);
        reference::conv2d_f64(&self.p, &self.x, &self.w, b, r).unwrap()
    }
    fn check(&self, got: &[f32], want: &reference::RefOutput, what: &str) {
        reference::compare(&self.p, got, want).unwrap_or_else(|e| panic!("{what} {:?}: {e}", self.p));
    }
}

fn cases() -> Vec<Conv2dParams> {
    use Layout::*;
    use WeightLayout::*;
    vec![
        Conv2dParams::new(6, 5, 4, 7, 3, 3).padding(1, 1, 1, 1).batch(2).clamp(-0.75, 0.5),
        Conv2dParams::new(9, 8, 6, 10, 3, 3)
            .padding(1, 0, 2, 1)
            .stride(2, 1)
            .groups(2)
            .layout(Nchw)
            .weight_layout(Oihw),
        Conv2dParams::new(8, 9, 4, 17, 3, 3).padding(2, 2, 2, 2).dilation(2, 2).weight_layout(Hwio),
        Conv2dParams::new(5, 7, 16, 40, 1, 1).layout(Nchw).weight_layout(Ohwi).clamp(0.0, f32::INFINITY),
        Conv2dParams::new(7, 6, 9, 9, 3, 2).groups(3).layout(Nchw).weight_layout(Hwio).stride(1, 2),
        Conv2dParams::new(4, 4, 3, 5, 1, 1).weight_layout(Oihw).batch(3),
    ]
}

#[test]
fn runs_match_the_reference_in_every_layout() {
    for p in cases() {
        let c = Case::new(p);
        let plain = c.want(true, false);
        let with_res = c.want(true, true);
        let h = create(&p, &c.w, Some(&c.b)).unwrap();
        for threads in [1, 0, 2] {
            let mut y = vec![0.0; c.ylen()];
            assert_eq!(run(&h, c.x.as_ptr(), y.as_mut_ptr(), threads), SIMDCONV_STATUS_SUCCESS);
            c.check(&y, &plain, "run");
            assert_eq!(run_res(&h, c.x.as_ptr(), c.r.as_ptr(), y.as_mut_ptr(), threads), SIMDCONV_STATUS_SUCCESS);
            c.check(&y, &with_res, "run_residual");
            let mut y = c.r.clone();
            let yp = y.as_mut_ptr();
            assert_eq!(run_res(&h, c.x.as_ptr(), yp, yp, threads), SIMDCONV_STATUS_SUCCESS);
            c.check(&y, &with_res, "in-place run_residual");
        }
        // A NULL bias means no bias.
        let h = create(&p, &c.w, None).unwrap();
        let mut y = vec![0.0; c.ylen()];
        assert_eq!(run(&h, c.x.as_ptr(), y.as_mut_ptr(), 1), SIMDCONV_STATUS_SUCCESS);
        c.check(&y, &c.want(false, false), "run without bias");
    }
}

/// Any spin time (0: helpers sleep after every call) leaves every threaded result as it was.
#[test]
fn spin_time_leaves_results_alone() {
    for spin in [0, 50, 2000] {
        simdconv_set_spin_us(spin);
        for p in cases().into_iter().take(3) {
            let c = Case::new(p);
            let want = c.want(true, false);
            let h = create(&p, &c.w, Some(&c.b)).unwrap();
            for threads in [2, 3] {
                let mut y = vec![0.0; c.ylen()];
                assert_eq!(run(&h, c.x.as_ptr(), y.as_mut_ptr(), threads), SIMDCONV_STATUS_SUCCESS);
                c.check(&y, &want, "run with a spin time set");
            }
        }
    }
}

#[test]
fn create_copies_weights_and_bias() {
    let p = cases()[1];
    let c = Case::new(p);
    let want = c.want(true, false);
    let (mut w, mut b) = (c.w.clone(), c.b.clone());
    let h = create(&p, &w, Some(&b)).unwrap();
    w.fill(f32::NAN);
    b.fill(f32::NAN);
    drop((w, b));
    let mut y = vec![0.0; c.ylen()];
    assert_eq!(run(&h, c.x.as_ptr(), y.as_mut_ptr(), 1), SIMDCONV_STATUS_SUCCESS);
    c.check(&y, &want, "run after the caller's weights changed");
}

#[test]
fn concurrent_runs_on_one_handle() {
    // Large enough (about 14 MFLOP) for multi-threaded runs to split the work.
    let p = Conv2dParams::new(28, 28, 32, 32, 3, 3).padding(1, 1, 1, 1);
    let c = Case::new(p);
    let h = create(&p, &c.w, Some(&c.b)).unwrap();
    let mut serial = vec![0.0; c.ylen()];
    assert_eq!(run_res(&h, c.x.as_ptr(), c.r.as_ptr(), serial.as_mut_ptr(), 1), SIMDCONV_STATUS_SUCCESS);
    c.check(&serial, &c.want(true, true), "serial run");
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let (h, c, serial) = (&h, &c, &serial);
            s.spawn(move || {
                for threads in [t % 3, 1, 0] {
                    let mut y = vec![f32::NAN; c.ylen()];
                    assert_eq!(
                        run_res(h, c.x.as_ptr(), c.r.as_ptr(), y.as_mut_ptr(), threads),
                        SIMDCONV_STATUS_SUCCESS
                    );
                    // Bitwise identical for every thread count and caller.
                    assert!(y.iter().zip(serial).all(|(a, b)| a.to_bits() == b.to_bits()), "thread {t}");
                }
            });
        }
    });
}

/// A buffer of `len` floats at a 4-byte-aligned address `offset` floats into a 64-byte-aligned allocation, so
/// `offset` 1..=3 gives addresses that are 4-byte but not 8- or 16-byte aligned.
struct Shifted {
    buf: Vec<f32>,
    start: usize,
    len: usize,
}

impl Shifted {
    fn new(src: &[f32], offset: usize) -> Shifted {
        let mut buf = vec![0.0f32; src.len() + 32];
        let base = buf.as_ptr().addr();
        let start = (16 - (base / 4) % 16) % 16 + offset;
        buf[start..start + src.len()].copy_from_slice(src);
        Shifted { buf, start, len: src.len() }
    }
    fn ptr(&mut self) -> *mut f32 {
        self.buf[self.start..].as_mut_ptr()
    }
    /// The same buffer `bytes` bytes further on (misaligned for `bytes` 1..=3).
    fn byte_shifted(&mut self, bytes: usize) -> *mut f32 {
        self.ptr().cast::<u8>().wrapping_add(bytes).cast()
    }
    fn get(&self) -> &[f32] {
        &self.buf[self.start..self.start + self.len]
    }
}

#[test]
fn any_four_byte_aligned_pointer_is_accepted() {
    let p = cases()[0];
    let c = Case::new(p);
    let want = c.want(true, true);
    for offset in 0..4 {
        let (mut w, mut b) = (Shifted::new(&c.w, offset), Shifted::new(&c.b, (offset + 1) % 4));
        let (mut x, mut r) = (Shifted::new(&c.x, (offset + 2) % 4), Shifted::new(&c.r, (offset + 3) % 4));
        let mut y = Shifted::new(&vec![0.0; c.ylen()], offset);
        let h = create_raw(&desc(&p), w.ptr(), b.ptr()).unwrap();
        assert_eq!(run_res(&h, x.ptr(), r.ptr(), y.ptr(), 1), SIMDCONV_STATUS_SUCCESS, "offset {offset}");
        c.check(y.get(), &want, "4-byte-aligned buffers");
    }
}

#[test]
fn misaligned_pointers_are_invalid() {
    let p = cases()[0];
    let c = Case::new(p);
    let d = desc(&p);
    let (mut w, mut b) = (Shifted::new(&c.w, 0), Shifted::new(&c.b, 0));
    let (mut x, mut r) = (Shifted::new(&c.x, 0), Shifted::new(&c.r, 0));
    let mut y = Shifted::new(&vec![0.0; c.ylen()], 0);
    let h = create_raw(&d, w.ptr(), b.ptr()).unwrap();
    for bytes in 1..4 {
        assert_eq!(create_raw(&d, w.byte_shifted(bytes), b.ptr()).err(), Some(SIMDCONV_STATUS_INVALID_ARGUMENT));
        assert_eq!(create_raw(&d, w.ptr(), b.byte_shifted(bytes)).err(), Some(SIMDCONV_STATUS_INVALID_ARGUMENT));
        assert_eq!(run(&h, x.byte_shifted(bytes), y.ptr(), 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
        assert_eq!(run(&h, x.ptr(), y.byte_shifted(bytes), 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
        assert_eq!(run_res(&h, x.ptr(), r.byte_shifted(bytes), y.ptr(), 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
        assert_eq!(run_res(&h, x.ptr(), r.ptr(), y.byte_shifted(bytes), 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
        let bad_handle = Handle(h.0.cast::<u8>().wrapping_add(bytes).cast());
        assert_eq!(run(&bad_handle, x.ptr(), y.ptr(), 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
        std::mem::forget(bad_handle);

        // A misaligned descriptor.
        let mut raw = vec![0u64; size_of::<simdconv_conv2d_desc>() / 8 + 2];
        let dp = raw.as_mut_ptr().cast::<u8>().wrapping_add(bytes);
        // SAFETY: `raw` has room for a descriptor at `bytes` bytes in; an unaligned write needs no alignment.
        unsafe { dp.cast::<simdconv_conv2d_desc>().write_unaligned(d) };
        assert_eq!(create_raw(dp.cast(), w.ptr(), b.ptr()).err(), Some(SIMDCONV_STATUS_INVALID_ARGUMENT));

        // A misaligned `out`: rejected, and `*out` still reads back as NULL.
        let mut slot = [usize::MAX; 3];
        let out = slot.as_mut_ptr().cast::<u8>().wrapping_add(bytes).cast::<*mut simdconv_conv2d>();
        // SAFETY: `slot` has room for a pointer at `bytes` bytes in.
        let st = unsafe { simdconv_conv2d_create(&d, w.ptr(), b.ptr(), out) };
        assert_eq!(st, SIMDCONV_STATUS_INVALID_ARGUMENT);
        // SAFETY: as above.
        assert!(unsafe { out.read_unaligned() }.is_null());
    }
    // Nothing was written by the rejected runs.
    assert!(y.get().iter().all(|&v| v == 0.0));
}

/// Guard bands around every buffer: NaN where the library reads (a read past the extent would poison the
/// result), a bit pattern where it writes (a write past the extent would change it).
#[test]
fn never_touches_memory_outside_the_extents() {
    const G: usize = 64;
    const MARK: u32 = 0x7fa5_5a5a;
    fn guarded(src: &[f32], guard: f32) -> Vec<f32> {
        let mut v = vec![guard; src.len() + 2 * G];
        v[G..G + src.len()].copy_from_slice(src);
        v
    }
    for p in cases() {
        let c = Case::new(p);
        let (w, b) = (guarded(&c.w, f32::NAN), guarded(&c.b, f32::NAN));
        let (x, r) = (guarded(&c.x, f32::NAN), guarded(&c.r, f32::NAN));
        let h = create_raw(&desc(&p), w[G..].as_ptr(), b[G..].as_ptr()).unwrap();
        let want = c.want(true, true);
        for in_place in [false, true] {
            let mut y = guarded(&if in_place { c.r.clone() } else { vec![0.0; c.ylen()] }, f32::from_bits(MARK));
            let yp = y[G..].as_mut_ptr();
            let rp = if in_place { yp.cast_const() } else { r[G..].as_ptr() };
            assert_eq!(run_res(&h, x[G..].as_ptr(), rp, yp, 0), SIMDCONV_STATUS_SUCCESS);
            c.check(&y[G..G + c.ylen()], &want, "guarded run");
            let n = y.len();
            for i in (0..G).chain(n - G..n) {
                assert_eq!(y[i].to_bits(), MARK, "write outside the output at guard index {i} ({p:?})");
            }
        }
    }
}

#[test]
fn overlap_rules() {
    // input and output have the same length here: 3x3, padding 1, c_in = c_out.
    let p = Conv2dParams::new(5, 6, 4, 4, 3, 3).padding(1, 1, 1, 1);
    let c = Case::new(p);
    let n = c.ylen();
    assert_eq!(c.x.len(), n);
    let h = create(&p, &c.w, Some(&c.b)).unwrap();
    let mut buf = vec![0.0f32; 4 * n];
    let base = buf.as_mut_ptr();
    let at = |i: usize| base.wrapping_add(i);
    let invalid = SIMDCONV_STATUS_INVALID_ARGUMENT;

    // Input and output: any shared element is an overlap.
    for (xo, yo) in [(n, n), (n, n + 1), (n + 1, n), (n, 2 * n - 1), (2 * n - 1, n)] {
        assert_eq!(run(&h, at(xo), at(yo), 1), invalid, "input at {xo}, output at {yo}");
        assert_eq!(run_res(&h, at(xo), at(3 * n), at(yo), 1), invalid, "input at {xo}, output at {yo}");
    }
    // Residual and output: the same pointer or disjoint, nothing in between.
    for ro in [n + 1, 2 * n - 1, 1, n - 1 + n / 2] {
        assert_eq!(run_res(&h, at(3 * n), at(ro), at(n), 1), invalid, "residual at {ro}, output at {n}");
    }
    assert!(buf.iter().all(|&v| v == 0.0), "a rejected run wrote to memory");

    // Adjacent buffers are fine.
    buf[..n].copy_from_slice(&c.x);
    buf[2 * n..3 * n].copy_from_slice(&c.r);
    let base = buf.as_mut_ptr();
    let at = |i: usize| base.wrapping_add(i);
    assert_eq!(run(&h, at(0), at(n), 1), SIMDCONV_STATUS_SUCCESS);
    c.check(&buf[n..2 * n], &c.want(true, false), "adjacent input/output");
    assert_eq!(run_res(&h, at(0), at(2 * n), at(n), 1), SIMDCONV_STATUS_SUCCESS);
    c.check(&buf[n..2 * n], &c.want(true, true), "adjacent residual/output");
    // Residual exactly the output.
    buf.copy_within(2 * n..3 * n, n);
    let base = buf.as_mut_ptr();
    assert_eq!(run_res(&h, base, base.wrapping_add(n), base.wrapping_add(n), 1), SIMDCONV_STATUS_SUCCESS);
    c.check(&buf[n..2 * n], &c.want(true, true), "residual == output");
}

#[test]
fn invalid_descriptors_are_rejected() {
    let p = Conv2dParams::new(6, 5, 4, 6, 3, 3).padding(1, 1, 1, 1).groups(2);
    let c = Case::new(p);
    let base = desc(&p);
    let try_desc = |d: &simdconv_conv2d_desc| create_raw(d, c.w.as_ptr(), c.b.as_ptr()).err();
    assert_eq!(try_desc(&base), None);

    type Edit = fn(&mut simdconv_conv2d_desc);
    let bad: &[(&str, Edit)] = &[
        ("batch 0", |d| d.batch = 0),
        ("in_height 0", |d| d.in_height = 0),
        ("in_width 0", |d| d.in_width = 0),
        ("in_channels 0", |d| d.in_channels = 0),
        ("out_channels 0", |d| d.out_channels = 0),
        ("kernel_height 0", |d| d.kernel_height = 0),
        ("kernel_width 0", |d| d.kernel_width = 0),
        ("stride_height 0", |d| d.stride_height = 0),
        ("stride_width 0", |d| d.stride_width = 0),
        ("dilation_height 0", |d| d.dilation_height = 0),
        ("dilation_width 0", |d| d.dilation_width = 0),
        ("groups 0", |d| d.groups = 0),
        ("groups not dividing in_channels", |d| d.groups = 3),
        ("groups not dividing out_channels", |d| d.groups = 4),
        ("dilated kernel taller than the padded input", |d| d.dilation_height = 5),
        ("dilated kernel wider than the padded input", |d| d.kernel_width = 8),
        ("unknown layout 2", |d| d.layout = 2),
        ("unknown layout u32::MAX", |d| d.layout = u32::MAX),
        ("unknown weight layout 3", |d| d.weight_layout = 3),
        ("NaN output_min", |d| d.output_min = f32::NAN),
        ("NaN output_max", |d| d.output_max = f32::NAN),
        ("output_min > output_max", |d| (d.output_min, d.output_max) = (1.0, -1.0)),
        ("input size overflows", |d| {
            (d.batch, d.in_height, d.in_width, d.in_channels) = (u32::MAX, u32::MAX, u32::MAX, u32::MAX - 1)
        }),
        ("weight size overflows", |d| {
            (d.in_channels, d.out_channels, d.groups) = (u32::MAX - 1, u32::MAX - 1, 1);
            (d.kernel_height, d.kernel_width, d.in_height, d.in_width) = (65536, 65536, 65536, 65536);
        }),
        ("output size overflows", |d| {
            (d.in_height, d.in_width) = (1, 1);
            (d.pad_top, d.pad_left, d.pad_bottom, d.pad_right) = (u32::MAX, u32::MAX, u32::MAX, u32::MAX);
        }),
    ];
    for (what, edit) in bad {
        let mut d = base;
        edit(&mut d);
        assert_eq!(try_desc(&d), Some(SIMDCONV_STATUS_INVALID_ARGUMENT), "{what}");
    }

    // The edges of the valid range stay valid.
    let good: &[(&str, Edit)] = &[
        ("dilated kernel exactly the padded input", |d| {
            (d.pad_bottom, d.dilation_height, d.dilation_width) = (0, 3, 3)
        }),
        ("no padding", |d| (d.pad_top, d.pad_left, d.pad_bottom, d.pad_right) = (0, 0, 0, 0)),
        ("output_min == output_max", |d| (d.output_min, d.output_max) = (0.25, 0.25)),
        ("infinite bounds", |d| (d.output_min, d.output_max) = (f32::NEG_INFINITY, f32::INFINITY)),
        ("all three weight layouts", |d| d.weight_layout = SIMDCONV_WEIGHT_LAYOUT_HWIO),
        ("NCHW", |d| d.layout = SIMDCONV_LAYOUT_NCHW),
    ];
    for (what, edit) in good {
        let mut d = base;
        edit(&mut d);
        assert_eq!(try_desc(&d), None, "{what}");
    }
}

#[test]
fn null_pointers_are_invalid() {
    let p = cases()[0];
    let c = Case::new(p);
    let d = desc(&p);
    let invalid = Some(SIMDCONV_STATUS_INVALID_ARGUMENT);
    assert_eq!(create_raw(ptr::null(), c.w.as_ptr(), c.b.as_ptr()).err(), invalid);
    assert_eq!(create_raw(&d, ptr::null(), c.b.as_ptr()).err(), invalid);
    // SAFETY: `out` is NULL, which the call rejects.
    let st = unsafe { simdconv_conv2d_create(&d, c.w.as_ptr(), c.b.as_ptr(), ptr::null_mut()) };
    assert_eq!(st, SIMDCONV_STATUS_INVALID_ARGUMENT);

    let h = create_raw(&d, c.w.as_ptr(), ptr::null()).expect("a NULL bias means no bias");
    let mut y = vec![0.0; c.ylen()];
    let (x, r, yp) = (c.x.as_ptr(), c.r.as_ptr(), y.as_mut_ptr());
    let null = Handle(ptr::null_mut());
    assert_eq!(run(&null, x, yp, 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
    assert_eq!(run_res(&null, x, r, yp, 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
    assert_eq!(run(&h, ptr::null(), yp, 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
    assert_eq!(run(&h, x, ptr::null_mut(), 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
    assert_eq!(run_res(&h, ptr::null(), r, yp, 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
    assert_eq!(run_res(&h, x, ptr::null(), yp, 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
    assert_eq!(run_res(&h, x, r, ptr::null_mut(), 1), SIMDCONV_STATUS_INVALID_ARGUMENT);
    assert!(y.iter().all(|&v| v == 0.0));
    // Destroying NULL is a no-op (the drop of `null` does it once more).
    // SAFETY: NULL is allowed.
    unsafe { simdconv_conv2d_destroy(ptr::null_mut()) };
    drop(null);
}

#[test]
fn no_panic_crosses_the_boundary() {
    let p = cases()[0];
    let c = Case::new(p);
    let h = create(&p, &c.w, Some(&c.b)).unwrap();
    let mut y = vec![0.0; c.ylen()];

    // The hook makes every entry point panic inside its guard, on this thread only.
    test_hook_inject_panic(true);
    let created = create(&p, &c.w, Some(&c.b)).err();
    let ran = run(&h, c.x.as_ptr(), y.as_mut_ptr(), 1);
    let ran_res = run_res(&h, c.x.as_ptr(), c.r.as_ptr(), y.as_mut_ptr(), 1);
    // SAFETY: `h` is live; the injected panic stops destroy before it frees anything, so `h` stays live.
    unsafe { simdconv_conv2d_destroy(h.0) };
    let isa = simdconv_isa();
    let status = simdconv_status_string(SIMDCONV_STATUS_SUCCESS);
    let version = simdconv_version();
    simdconv_set_spin_us(0);
    test_hook_inject_panic(false);

    assert_eq!(created, Some(SIMDCONV_STATUS_INTERNAL_ERROR));
    assert_eq!(ran, SIMDCONV_STATUS_INTERNAL_ERROR);
    assert_eq!(ran_res, SIMDCONV_STATUS_INTERNAL_ERROR);
    // SAFETY: the returned strings are static and NUL-terminated.
    assert_eq!(unsafe { CStr::from_ptr(isa) }, c"unavailable");
    // SAFETY: as above.
    assert_eq!(unsafe { CStr::from_ptr(status) }, c"internal error");
    assert_eq!(version, 0);

    // The library keeps working, and the handle survived.
    assert_eq!(run(&h, c.x.as_ptr(), y.as_mut_ptr(), 1), SIMDCONV_STATUS_SUCCESS);
    c.check(&y, &c.want(true, false), "run after caught panics");
}

fn cstr(p: *const std::ffi::c_char) -> &'static str {
    assert!(!p.is_null());
    // SAFETY: the library returns static NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap()
}

#[test]
fn isa_status_strings_and_version() {
    let want = simdconv::isa().map_or("unavailable", |i| i.name());
    assert_eq!(cstr(simdconv_isa()), want);
    assert_eq!(simdconv_isa(), simdconv_isa(), "a static string");
    assert_eq!(simdconv_version(), simdconv::version());

    let codes = [
        SIMDCONV_STATUS_SUCCESS,
        SIMDCONV_STATUS_INVALID_ARGUMENT,
        SIMDCONV_STATUS_UNSUPPORTED,
        SIMDCONV_STATUS_OUT_OF_MEMORY,
        SIMDCONV_STATUS_INTERNAL_ERROR,
    ];
    assert_eq!(SIMDCONV_STATUS_SUCCESS, 0);
    let names: Vec<&str> = codes.iter().map(|&c| cstr(simdconv_status_string(c))).collect();
    for (i, n) in names.iter().enumerate() {
        assert!(!n.is_empty() && *n != "unknown status", "{n}");
        assert!(names[i + 1..].iter().all(|m| m != n), "codes and strings are distinct: {names:?}");
        assert!(codes[i + 1..].iter().all(|&c| c != codes[i]));
    }
    for unknown in [-1, 5, 1000, i32::MIN, i32::MAX] {
        assert_eq!(cstr(simdconv_status_string(unknown)), "unknown status");
    }
}
