//! Winograd F(4x4, 3x3) transform bodies, generic over the SIMD backend, with channels in the lanes.
//!
//! The matrices are Lavin and Gray's for the interpolation points 0, 1, -1, 2, -2 and infinity:
//!
//! ```text
//!       | 4  0 -5  0  1  0 |         | 1/4    0     0   |         | 1  1  1  1  1  0 |
//!       | 0 -4 -4  1  1  0 |         | -1/6 -1/6  -1/6  |   A^T = | 0  1 -1  2 -2  0 |
//! B^T = | 0  4 -4 -1  1  0 |     G = | -1/6  1/6  -1/6  |         | 0  1  1  4  4  0 |
//!       | 0 -2 -1  2  1  0 |         | 1/24  1/12  1/6  |         | 0  1 -1  8 -8  1 |
//!       | 0  2 -1 -2  1  0 |         | 1/24 -1/12  1/6  |
//!       | 0  4  0 -5  0  1 |         | 0     0     1    |
//! ```
//!
//! A 6x6 input tile `d` becomes `V = B^T d B` ([`input_tile`]); the plan transforms each 3x3 filter once,
//! `U = G g G^T`, in f64; the GEMMs give `M[e] = sum over c_in of U[e] * V[e]` for each of the 36 positions `e`;
//! [`output_tile`] turns `M` into the 4x4 output tile `Y = A^T M A` and applies the fused epilogue (bias, residual,
//! clamp), writing only the pixels the driver points at. Both transforms run the 1-D transform over the rows of the
//! tile, then over its columns, in a fixed order, so an output's value depends only on its tile's inputs.
//!
//! One body serves every ISA (AVX2, AVX-512, NEON, portable and the 16-lane stand-ins that run the AVX-512 logic on
//! AVX2 or in portable code).

use crate::simd::{load, store};
use pulp::Simd;

/// Side of an input tile.
pub const ALPHA: usize = 6;
/// Side of an output tile.
pub const TILE: usize = 4;
/// Transformed positions per tile (`ALPHA * ALPHA`), one GEMM each.
pub const FREQS: usize = ALPHA * ALPHA;

/// The filter transform matrix `G` (6 x 3), applied in f64 at plan time.
pub const G: [[f64; 3]; ALPHA] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `U = G g G^T` for one 3x3 filter `g` (row-major), in f64; `U[e]` for `e = 6 * i + j`.
pub fn filter_transform(g: &[f64; 9]) -> [f64; FREQS] {
    let mut t = [[0f64; 3]; ALPHA];
    for (i, row) in t.iter_mut().enumerate() {
        for (kx, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|ky| G[i][ky] * g[ky * 3 + kx]).sum();
        }
    }
    let mut u = [0f64; FREQS];
    for i in 0..ALPHA {
        for j in 0..ALPHA {
            u[i * ALPHA + j] = (0..3).map(|kx| t[i][kx] * G[j][kx]).sum();
        }
    }
    u
}

/// One input tile: `V[e] = (B^T d B)[e]` for every channel.
///
/// Pointer contract (checked by the driver, relied on here):
/// - `d[6 * r + col]` points at the `c` channel values of tile position `(r, col)` (channel stride 1); each holds
///   `c` readable floats (a zero row for padding).
/// - Position `e`, channel `ch` of V is written at `v + e * ve + ch` for `ch < c.next_multiple_of(lanes)` (the
///   floats past `c` receive unspecified values).
#[derive(Clone, Copy, Debug)]
pub struct InputTile<'a> {
    pub d: &'a [*const f32; FREQS],
    pub c: usize,
    pub v: *mut f32,
    pub ve: usize,
}

/// One output tile: `Y = A^T M A`, then `clamp(Y + bias + residual)`.
///
/// Pointer contract (checked by the driver, relied on here):
/// - Position `e`, channel `ch` of M is read at `m + e * me + ch` for `ch < c.next_multiple_of(lanes)`.
/// - `bias` (null for none) holds `c` readable floats.
/// - `y[4 * yy + xx]` is null (pixel not written) or points at output pixel `(yy, xx)`'s channel 0; channel `ch` is
///   written at `+ ch * cs` for `ch < c` only.
/// - `res` (`None` for no residual): `res[p]` for each non-null `y[p]` points at the residual of that pixel, read
///   at `+ ch * cs` for `ch < c` only; it is either `y[p]` itself or disjoint from every output.
#[derive(Clone, Copy, Debug)]
pub struct OutputTile<'a> {
    pub m: *const f32,
    pub me: usize,
    pub c: usize,
    pub bias: *const f32,
    pub y: &'a [*mut f32; TILE * TILE],
    pub res: Option<&'a [*const f32; TILE * TILE]>,
    pub cs: usize,
    pub min: f32,
    pub max: f32,
}

/// Signature of an input-transform entry point.
pub type InputFn = unsafe fn(&InputTile<'_>);
/// Signature of an output-transform entry point.
pub type OutputFn = unsafe fn(&OutputTile<'_>);

/// `B^T d` for one column of six values.
#[inline(always)]
fn bt<S: Simd>(simd: S, d: [S::f32s; ALPHA]) -> [S::f32s; ALPHA] {
    let m4 = simd.splat_f32s(-4.0);
    let m5 = simd.splat_f32s(-5.0);
    let p4 = simd.splat_f32s(4.0);
    let two = simd.splat_f32s(2.0);
    let v0 = simd.mul_add_e_f32s(p4, d[0], simd.mul_add_e_f32s(m5, d[2], d[4]));
    let t0 = simd.mul_add_e_f32s(m4, d[2], d[4]);
    let t1 = simd.mul_add_e_f32s(m4, d[1], d[3]);
    let t2 = simd.sub_f32s(d[4], d[2]);
    let t3 = simd.mul_f32s(two, simd.sub_f32s(d[3], d[1]));
    let v5 = simd.mul_add_e_f32s(p4, d[1], simd.mul_add_e_f32s(m5, d[3], d[5]));
    [v0, simd.add_f32s(t0, t1), simd.sub_f32s(t0, t1), simd.add_f32s(t2, t3), simd.sub_f32s(t2, t3), v5]
}

/// `A^T m` for one column of six values.
#[inline(always)]
fn at<S: Simd>(simd: S, m: [S::f32s; ALPHA]) -> [S::f32s; TILE] {
    let two = simd.splat_f32s(2.0);
    let four = simd.splat_f32s(4.0);
    let eight = simd.splat_f32s(8.0);
    let s12 = simd.add_f32s(m[1], m[2]);
    let d12 = simd.sub_f32s(m[1], m[2]);
    let s34 = simd.add_f32s(m[3], m[4]);
    let d34 = simd.sub_f32s(m[3], m[4]);
    [
        simd.add_f32s(simd.add_f32s(m[0], s12), s34),
        simd.mul_add_e_f32s(two, d34, d12),
        simd.mul_add_e_f32s(four, s34, s12),
        simd.add_f32s(simd.mul_add_e_f32s(eight, d34, d12), m[5]),
    ]
}

/// Transforms one input tile, `S::F32_LANES` channels at a time.
///
/// # Safety
/// `t` satisfies the [`InputTile`] contract.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `j` picks a column of the 6x6 array; an iterator would pick rows.
pub unsafe fn input_tile<S: Simd>(simd: S, t: &InputTile<'_>) {
    let lanes = S::F32_LANES;
    let mut c0 = 0;
    while c0 < t.c {
        let n = lanes.min(t.c - c0);
        // Built element by element (no zero-initialised 6x6 array: that became a memset of the stack per vector).
        let w: [[S::f32s; ALPHA]; ALPHA] = core::array::from_fn(|r| {
            let d = core::array::from_fn(|col| {
                // SAFETY: each position holds `c` readable floats (contract); full loads stay below `c`, the tail is
                // masked.
                unsafe {
                    let p = t.d[r * ALPHA + col].add(c0);
                    if n == lanes { load::<S>(p) } else { crate::simd::load_first(simd, n, p) }
                }
            });
            bt(simd, d)
        });
        for j in 0..ALPHA {
            let v = bt(simd, core::array::from_fn(|r| w[r][j]));
            for (i, vi) in v.into_iter().enumerate() {
                // SAFETY: `c0 + lanes <= c.next_multiple_of(lanes)`: inside the writable extent of position `e`.
                unsafe { store::<S>(t.v.add((i * ALPHA + j) * t.ve + c0), vi) };
            }
        }
        c0 += lanes;
    }
}

/// Transforms one output tile and applies the epilogue, `S::F32_LANES` channels at a time.
///
/// # Safety
/// `t` satisfies the [`OutputTile`] contract.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // `xx` picks a column of the 6x4 array; an iterator would pick rows.
pub unsafe fn output_tile<S: Simd>(simd: S, t: &OutputTile<'_>) {
    let lanes = S::F32_LANES;
    let clamp = crate::simd::clamps(t.min, t.max);
    let lo = simd.splat_f32s(t.min);
    let hi = simd.splat_f32s(t.max);
    let mut c0 = 0;
    while c0 < t.c {
        let n = lanes.min(t.c - c0);
        let w: [[S::f32s; TILE]; ALPHA] = core::array::from_fn(|i| {
            // SAFETY: M rows are readable up to `c.next_multiple_of(lanes)` (contract).
            at(simd, core::array::from_fn(|j| unsafe { load::<S>(t.m.add((i * ALPHA + j) * t.me + c0)) }))
        });
        let bias = if t.bias.is_null() {
            None
        } else if n == lanes {
            // SAFETY: `c0 + lanes <= c` floats of bias are readable.
            Some(unsafe { load::<S>(t.bias.add(c0)) })
        } else {
            // SAFETY: `c0 + n == c` floats of bias are readable.
            Some(unsafe { crate::simd::load_first(simd, n, t.bias.add(c0)) })
        };
        for xx in 0..TILE {
            let col = at(simd, core::array::from_fn(|i| w[i][xx]));
            for (yy, mut v) in col.into_iter().enumerate() {
                let p = yy * TILE + xx;
                let y = t.y[p];
                if y.is_null() {
                    continue;
                }
                if let Some(b) = bias {
                    v = simd.add_f32s(v, b);
                }
                // SAFETY: channels `c0..c0 + n` of a non-null pixel are readable (residual) and writable (output).
                unsafe {
                    if let Some(res) = t.res {
                        v = simd.add_f32s(v, read_channels(simd, res[p].add(c0 * t.cs), n, t.cs));
                    }
                    if clamp {
                        v = crate::simd::clamp(simd, v, lo, hi);
                    }
                    write_channels(simd, y.add(c0 * t.cs), n, t.cs, v);
                }
            }
        }
        c0 += lanes;
    }
}

/// Reads `n` channels `cs` apart into lanes `0..n` (the other lanes are zero).
///
/// # Safety
/// `p + ch * cs` is readable for `ch < n`; `n <= S::F32_LANES`.
#[inline(always)]
unsafe fn read_channels<S: Simd>(simd: S, p: *const f32, n: usize, cs: usize) -> S::f32s {
    // SAFETY: forwarded contract.
    unsafe {
        if cs == 1 {
            if n == S::F32_LANES { load::<S>(p) } else { crate::simd::load_first(simd, n, p) }
        } else {
            let mut tmp = [0f32; 16];
            for (ch, v) in tmp.iter_mut().enumerate().take(n) {
                *v = *p.add(ch * cs);
            }
            load::<S>(tmp.as_ptr())
        }
    }
}

/// Writes lanes `0..n` to `n` channels `cs` apart.
///
/// # Safety
/// `p + ch * cs` is writable for `ch < n`; `n <= S::F32_LANES`.
#[inline(always)]
unsafe fn write_channels<S: Simd>(simd: S, p: *mut f32, n: usize, cs: usize, v: S::f32s) {
    // SAFETY: forwarded contract.
    unsafe {
        if cs == 1 {
            if n == S::F32_LANES { store::<S>(p, v) } else { crate::simd::store_first(simd, n, p, v) }
        } else {
            let mut tmp = [0f32; 16];
            store::<S>(tmp.as_mut_ptr(), v);
            for (ch, x) in tmp.iter().enumerate().take(n) {
                *p.add(ch * cs) = *x;
            }
        }
    }
}

/// Declares the entry points of one ISA and its registry entry `KERNEL`.
///
/// `$token` is an expression producing the backend; it runs inside an `unsafe` block whose safety the plan proves
/// by having detected the ISA before any entry point can be reached.
macro_rules! wino_entry_points {
    ($simd:ty, $token:expr, $isa:expr, $lanes:literal, $suffix:literal) => {
        use $crate::ukernel::winograd::generic as g;

        /// Runs the body with the concrete backend `$simd` (a stand-in such as `V3_512b` vectorizes through its host
        /// ISA, which would hand over the 8-lane `V3`).
        struct In<'a, 'b>(&'a g::InputTile<'b>, $simd);
        impl pulp::WithSimd for In<'_, '_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the InputTile contract.
                unsafe { g::input_tile::<$simd>(self.1, self.0) }
            }
        }
        struct Out<'a, 'b>(&'a g::OutputTile<'b>, $simd);
        impl pulp::WithSimd for Out<'_, '_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _host: S) {
                // SAFETY: the entry point's caller upholds the OutputTile contract.
                unsafe { g::output_tile::<$simd>(self.1, self.0) }
            }
        }
        fn token() -> $simd {
            // SAFETY: entry points are reachable only through a plan built for an ISA this CPU has
            // (see `Isa::available`), so the backend token is valid.
            #[allow(unused_unsafe)]
            unsafe {
                $token
            }
        }
        /// # Safety
        /// [`g::InputTile`]'s contract.
        unsafe fn input(t: &g::InputTile<'_>) {
            let simd = token();
            pulp::Simd::vectorize(simd, In(t, simd))
        }
        /// # Safety
        /// [`g::OutputTile`]'s contract.
        unsafe fn output(t: &g::OutputTile<'_>) {
            let simd = token();
            pulp::Simd::vectorize(simd, Out(t, simd))
        }
        /// This ISA's transforms.
        pub static KERNEL: $crate::ukernel::winograd::WinoKernel = $crate::ukernel::winograd::WinoKernel {
            name: concat!("f32_winograd_f4x4_3x3__", $suffix),
            isa: $isa,
            lanes: $lanes,
            input,
            output,
        };
    };
}
pub(crate) use wino_entry_points;
