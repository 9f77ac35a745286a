//! GEMM micro-kernel family: the registry list that feeds dispatch, edge-sweep tests and benches.
//!
//! Every kernel computes `C[mr x nr] = clamp(bias + A * B + residual)` with A broadcast from row pointers and
//! B read from a packed, zero-padded panel; see [`generic::GemmTile`] for the exact pointer contract.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
pub mod avx512;
pub mod emu512;
pub mod generic;
pub mod lanes;
#[cfg(target_arch = "aarch64")]
pub mod neon;
pub mod scalar;

pub use generic::{GemmFn, GemmRunFn, GemmTile, Prefetch};

use crate::isa::Isa;

/// Tile shape of the AVX-512 kernels, shared with their 16-lane stand-ins.
pub const AVX512_MR: usize = 8;
/// Rows of the tall one-vector AVX-512 tile, shared with its stand-ins.
pub const AVX512_TALL_MR: usize = 16;
/// Vectors per row of the AVX-512 kernels, shared with their 16-lane stand-ins.
pub const AVX512_NV: usize = 2;
/// Rows of the AVX-512 8-lane tile (8 x 24), shared with its stand-ins.
pub const AVX512_YMM_MR: usize = 8;
/// Vectors (of 8 lanes) per row of the AVX-512 8-lane tile, shared with its stand-ins.
pub const AVX512_YMM_NV: usize = 3;
/// Rows of the AVX-512 6 x 64 tile, shared with its stand-ins.
pub const AVX512_X64_MR: usize = 6;
/// Vectors per row of the AVX-512 6 x 64 tile.
pub const AVX512_X64_NV: usize = 4;
/// Rows of the AVX-512 4 x 96 tile, shared with its stand-ins.
pub const AVX512_X96_MR: usize = 4;
/// Vectors per row of the AVX-512 4 x 96 tile.
pub const AVX512_X96_NV: usize = 6;
/// Rows of the AVX-512 8 x 48 tile, shared with its stand-ins.
pub const AVX512_X48_MR: usize = 8;
/// Vectors per row of the AVX-512 8 x 48 tile.
pub const AVX512_X48_NV: usize = 3;

/// One GEMM micro-kernel family member: an ISA's tile shape and its entry points.
#[derive(Clone, Copy, Debug)]
pub struct GemmKernel {
    /// Display name in XNNPACK style, e.g. `f32_gemm_6x16__avx2`.
    pub name: &'static str,
    pub isa: Isa,
    /// Rows of a full tile.
    pub mr: usize,
    /// SIMD lanes per vector.
    pub lanes: usize,
    /// Vectors per full tile row; `nr = nv * lanes`.
    pub nv: usize,
    /// Entry point for a tile of exactly `mr` rows (`1..=self.mr`) and `nv` vectors (`1..=self.nv`).
    pub select: fn(usize, usize) -> GemmFn,
    /// As `select`, with C and the residual transposed (element `(i, j)` at `c + i + j * rsc`): rows of A are
    /// output pixels, columns output channels, written as runs of pixels per channel (NCHW).
    pub select_t: fn(usize, usize) -> GemmFn,
    /// Full-tile entry points with A rows a fixed distance apart, `(floats apart, entry)`, one per
    /// [`generic::STRIDED_ROWS`] value.
    pub strided_entries: &'static [(usize, GemmFn)],
    /// Full-tile entry point with A rows `GemmTile::rsa` floats apart, any spacing ([`generic::RS_ANY`]).
    pub strided_any: GemmFn,
    /// `strided_any` over a run of consecutive full tiles in one call ([`generic::GemmRunFn`]).
    pub strided_any_run: GemmRunFn,
    /// As `strided_any_run`, for tiles of `mr - 1` rows (`GemmTile::mr == mr - 1`): the drivers split a length
    /// that `mr` does not divide into tiles one row short of full (49 rows: 7 x 7 on an 8-row tile).
    pub strided_any_short_run: GemmRunFn,
    /// Full-tile transposed-C entry point with A rows one float apart (NCHW pixel rows, `rsa == 1`).
    pub pixel_rows: GemmFn,
    /// `pixel_rows` over a run of consecutive full tiles in one call ([`generic::GemmRunFn`]).
    pub pixel_rows_run: GemmRunFn,
    /// As `pixel_rows_run`, for tiles of `mr - 1` rows.
    pub pixel_rows_short_run: GemmRunFn,
}

impl GemmKernel {
    /// Columns of a full tile.
    pub const fn nr(&self) -> usize {
        self.nv * self.lanes
    }

    /// Whether `n` columns end in a panel wider than `(nv - 1) * lanes` (or end on a panel boundary), so that the
    /// full-width entry points can take all of them; otherwise the last `n % nr` columns need a narrower entry.
    pub const fn whole_panels(&self, n: usize) -> bool {
        let rem = n % self.nr();
        rem == 0 || rem > (self.nv - 1) * self.lanes
    }

    /// The full-tile entry point whose A rows are `rows_apart` floats apart, if this kernel has one.
    pub fn strided(&self, rows_apart: usize) -> Option<GemmFn> {
        self.strided_entries.iter().find(|&&(rs, _)| rs == rows_apart).map(|&(_, f)| f)
    }
}

/// A registry entry for the GEMM kernel module `$m` (one `gemm_entry_points!` instantiation).
macro_rules! kernel {
    ($name:literal, $isa:ident, $mr:expr, $lanes:literal, $nv:expr, $($m:ident)::+) => {
        GemmKernel {
            name: $name,
            isa: Isa::$isa,
            mr: $mr,
            lanes: $lanes,
            nv: $nv,
            select: $($m)::+::select,
            select_t: $($m)::+::select_t,
            strided_entries: &$($m)::+::STRIDED,
            strided_any: $($m)::+::STRIDED_ANY,
            strided_any_run: $($m)::+::STRIDED_ANY_RUN,
            strided_any_short_run: $($m)::+::STRIDED_ANY_SHORT_RUN,
            pixel_rows: $($m)::+::PIXEL_ROWS,
            pixel_rows_run: $($m)::+::PIXEL_ROWS_RUN,
            pixel_rows_short_run: $($m)::+::PIXEL_ROWS_SHORT_RUN,
        }
    };
}

/// Every GEMM kernel compiled into this build, in preference order: per ISA the general kernel first, then a tall
/// one-vector kernel for narrow outputs where the ISA has one, then (AVX-512 and its stand-ins) the 8-lane tile for
/// output widths that 16-lane vectors pad by a quarter or more, then the wide 6 x 64, 4 x 96 and 8 x 48 tiles.
pub static REGISTRY: &[GemmKernel] = &[
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    kernel!("f32_gemm_8x32__avx512", Avx512, avx512::MR, 16, avx512::NV, avx512),
    #[cfg(target_arch = "x86_64")]
    kernel!("f32_gemm_6x16__avx2", Avx2, avx2::MR, 8, avx2::NV, avx2),
    #[cfg(target_arch = "x86_64")]
    kernel!("f32_gemm_8x32__avx512_on_avx2", Avx512OnAvx2, emu512::MR, 16, emu512::NV, emu512::v3_512b),
    #[cfg(target_arch = "aarch64")]
    kernel!("f32_gemm_8x8__neon", Neon, neon::MR, 4, neon::NV, neon),
    kernel!("f32_gemm_4x8__scalar", Portable, scalar::MR, 1, scalar::NV, scalar),
    kernel!("f32_gemm_8x32__avx512_portable", Avx512Portable, emu512::MR, 16, emu512::NV, emu512::scalar512b),
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    kernel!("f32_gemm_16x16__avx512", Avx512, AVX512_TALL_MR, 16, 1, avx512::tall),
    #[cfg(target_arch = "x86_64")]
    kernel!("f32_gemm_16x16__avx512_on_avx2", Avx512OnAvx2, AVX512_TALL_MR, 16, 1, emu512::v3_512b_tall),
    kernel!("f32_gemm_16x16__avx512_portable", Avx512Portable, AVX512_TALL_MR, 16, 1, emu512::scalar512b_tall),
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    kernel!("f32_gemm_8x24__avx512_ymm", Avx512, AVX512_YMM_MR, 8, AVX512_YMM_NV, avx512::ymm),
    #[cfg(target_arch = "x86_64")]
    kernel!("f32_gemm_8x24__avx512_ymm_on_avx2", Avx512OnAvx2, AVX512_YMM_MR, 8, AVX512_YMM_NV, emu512::v3_ymm),
    kernel!(
        "f32_gemm_8x24__avx512_ymm_portable",
        Avx512Portable,
        AVX512_YMM_MR,
        8,
        AVX512_YMM_NV,
        emu512::scalar256b_ymm
    ),
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    kernel!("f32_gemm_6x64__avx512", Avx512, AVX512_X64_MR, 16, AVX512_X64_NV, avx512::x64),
    #[cfg(target_arch = "x86_64")]
    kernel!("f32_gemm_6x64__avx512_on_avx2", Avx512OnAvx2, AVX512_X64_MR, 16, AVX512_X64_NV, emu512::v3_512b_x64),
    kernel!("f32_gemm_6x64__avx512_portable", Avx512Portable, AVX512_X64_MR, 16, AVX512_X64_NV, emu512::scalar512b_x64),
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    kernel!("f32_gemm_4x96__avx512", Avx512, AVX512_X96_MR, 16, AVX512_X96_NV, avx512::x96),
    #[cfg(target_arch = "x86_64")]
    kernel!("f32_gemm_4x96__avx512_on_avx2", Avx512OnAvx2, AVX512_X96_MR, 16, AVX512_X96_NV, emu512::v3_512b_x96),
    kernel!("f32_gemm_4x96__avx512_portable", Avx512Portable, AVX512_X96_MR, 16, AVX512_X96_NV, emu512::scalar512b_x96),
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    kernel!("f32_gemm_8x48__avx512", Avx512, AVX512_X48_MR, 16, AVX512_X48_NV, avx512::x48),
    #[cfg(target_arch = "x86_64")]
    kernel!("f32_gemm_8x48__avx512_on_avx2", Avx512OnAvx2, AVX512_X48_MR, 16, AVX512_X48_NV, emu512::v3_512b_x48),
    kernel!("f32_gemm_8x48__avx512_portable", Avx512Portable, AVX512_X48_MR, 16, AVX512_X48_NV, emu512::scalar512b_x48),
];

/// The general GEMM kernel for `isa` (every [`Isa`] has one).
pub fn for_isa(isa: Isa) -> Option<GemmKernel> {
    REGISTRY.iter().find(|k| k.isa == isa).copied()
}

/// Reductions up to this length run the tall tile at any width where `tall_for_short_k` says so (CPUs that split a
/// 512-bit FMA in two, and the stand-ins): its 16 A rows (16 x K floats) stay in L1 while it sweeps every panel, and
/// it amortises each call's set-up over twice the rows (measured on Zen 4: +2-10% on K <= 256, e.g. the 3-channel
/// stem; -5-50% from K = 1024 on, where the rows no longer fit).
pub const TALL_MAX_K: usize = 256;

/// Whether kernels for `isa` are chosen as for a CPU that splits a 512-bit FMA into two 256-bit ones (Zen 4): native
/// AVX-512 asks the CPU ([`crate::isa::split_512_fma`]); every other ISA answers yes, so that the stand-ins take,
/// and every host tests, the choices made for such CPUs (the ISAs without 16-lane kernels have no choice it
/// changes).
fn splits_512_fma(isa: Isa) -> bool {
    isa != Isa::Avx512 || crate::isa::split_512_fma()
}

/// Whether `isa` runs reductions up to [`TALL_MAX_K`] on the tall tile at any width. The tall tile loads 17 values
/// per 16 FMAs (16 broadcasts and one vector of B), the 8 x 32 tile 10: a core that retires one 512-bit FMA per
/// cycle (Zen 4) has the load slots to spare, one with two 512-bit FMA units does not (measured on an Intel Xeon
/// with AMX, one thread, 8 x 32 against the tall tile, NHWC: 56x56 64->64 1.19-1.21x, 14x14 256->1024 1.27-1.46x,
/// 35x35 192->64 1.14-1.25x, 28x28 32->192 1.14-1.24x, 28x28 128->512 1.27x; NCHW pixel rows: 14x14 256->1024
/// 1.28-1.45x, 56x56 256->64 1.02-1.14x, 56x56 256->128 1.01-1.11x, 35x35 192->64 1.00-1.04x).
fn tall_for_short_k(isa: Isa) -> bool {
    splits_512_fma(isa)
}

/// The GEMM kernel for `isa`, `n` output columns (per group) and reduction length `k`, with A rows streamed in
/// place: the ISA's tall one-vector kernel when `n` fits one vector (measured on the Xeon above against 8 x 32's
/// one-vector entry: 112x112 32->16 1.30-1.38x, 28x28 256->16 1.21-1.25x) or `k <= TALL_MAX_K` and
/// `tall_for_short_k` (CPUs that split a 512-bit FMA in two, and the stand-ins), else [`for_isa`].
pub fn for_gemm(isa: Isa, n: usize, k: usize) -> Option<GemmKernel> {
    let general = for_isa(isa)?;
    let tall = REGISTRY.iter().find(|g| g.isa == isa && g.nv == 1 && g.mr > general.mr);
    match tall {
        Some(t) if n <= t.lanes || (k <= TALL_MAX_K && tall_for_short_k(isa)) => Some(*t),
        _ => Some(general),
    }
}

/// The GEMM kernel for an NHWC layer of `n` output columns (per group) and reduction length `k`: [`wide_for_nhwc`]'s
/// where it has one; else [`for_gemm`]'s, unless the ISA has a narrower-lane kernel whose one tile covers `n` and pads
/// it to fewer columns by at least an eighth of the 16-lane width (`n` = 1..=8 and 17..=24: a 16-lane tile computes 16
/// or 32), and its narrower FMAs cost no throughput ([`crate::isa::split_512_fma`]; the stand-ins always take it, so
/// every host tests that choice). Measured on Zen 4 (56x56 input, 144 channels, one thread) against the 16 x 16 tile:
/// 24 outputs 1.14-1.26x, 20 outputs 1.25x, 8 outputs 1.04-1.24x; 40 outputs (a 24-wide tile and a 16-wide tail) 0.75x,
/// hence one tile at most.
pub fn for_nhwc(isa: Isa, n: usize, k: usize) -> Option<GemmKernel> {
    if let Some(g) = wide_for_nhwc(isa, n, k) {
        return Some(g);
    }
    let base = for_gemm(isa, n, k)?;
    let narrow = REGISTRY.iter().find(|g| g.isa == isa && g.lanes > 1 && g.lanes < base.lanes);
    match narrow {
        Some(g) if splits_512_fma(isa) && n <= g.nr() && narrow_pays(n, base.lanes, g.lanes) => Some(*g),
        _ => Some(base),
    }
}

/// Outputs from which NHWC layers take the wide AVX-512 tiles ([`wide_for_nhwc`]).
pub const WIDE_MIN_N: usize = 48;

/// The wide AVX-512 tile for an NHWC layer of `n` output columns (per group) and reduction length `k`, on CPUs with
/// two 512-bit FMA units (not [`crate::isa::split_512_fma`]), where loads, not FMAs, bound the 8 x 32 tile (10 per
/// 16 FMAs; the wide tiles load 10 per 24): 4 x 96 for multiples of 96 outputs over reductions of at most 64, 6 x 64
/// from [`WIDE_MIN_N`] outputs on; `None` elsewhere. Measured on an Intel Xeon with AMX, one thread, against 8 x 32
/// (per-round ratios, three rounds): 1x1 56x56 64->64 1.03-1.07x, 56x56 256->64 1.02-1.06x, 28x28 128->512
/// 1.03-1.09x, 14x14 384->64 1.03-1.07x, 17x17 768->192 1.01-1.11x, 7x7 320->1280 1.05-1.10x, 7x7 512->2048
/// 0.97-1.08x, 35x35 192->64 0.95-1.02x; 3x3 (indirect) 56x56 64->64 1.10-1.14x, 28x28 128->128 1.11-1.23x, 7x7
/// 512->512 0.96-0.98x; 4 x 96: 112x112 16->96 1.02-1.10x (6 x 64 there: 0.76-0.88x), 28x28 32->192 1.02-1.07x.
pub fn wide_for_nhwc(isa: Isa, n: usize, k: usize) -> Option<GemmKernel> {
    if !wide_tiles_pay(isa) || n < WIDE_MIN_N {
        return None;
    }
    let (mr, nv) =
        if n.is_multiple_of(96) && k <= 64 { (AVX512_X96_MR, AVX512_X96_NV) } else { (AVX512_X64_MR, AVX512_X64_NV) };
    tile16(isa, mr, nv)
}

/// Output channels (per group) from which NCHW pixel rows take the 8 x 48 tile ([`for_pixel_rows`]).
pub const PIXEL_ROWS_X48_MIN_N: usize = 96;

/// The GEMM kernel for NCHW pixel rows (output pixels as A rows, `n` output channels per group in the lanes, C
/// stored transposed) over reductions of length `k`: [`for_gemm`]'s, except on CPUs with two 512-bit FMA units
/// (native AVX-512, not [`crate::isa::split_512_fma`]), where layers of at least [`PIXEL_ROWS_X48_MIN_N`] output
/// channels take the 8 x 48 tile in place of the 8 x 32 one (11 loads per 24 FMAs against 10 per 16; its 8-row
/// tiles keep the 8 x 32 tile's transposed store). Measured on an Intel Xeon with AMX, one thread, three rounds,
/// per-round ratios against 8 x 32: 14x14 1024->256 0.94-1.16x, 14x14 256->1024 1.01-1.21x, 28x28 512->128
/// 1.01-1.25x, 17x17 768->192 1.02-1.14x, 8x8 1280->320 1.00-1.15x, 7x7 2048->512 1.04-1.16x, 7x7 512->2048
/// 0.94-1.14x, 7x7 960->160 0.94-1.09x, 56x56 256->128 0.93-1.02x, and off the suite 56x56 256->96 1.02-1.18x, 14x14
/// 512->192 1.03-1.20x, 14x14 1024->240 1.04-1.25x; but 64 outputs (a full panel and a one-vector one) 0.85-0.98x
/// (56x56 256->64, 35x35 192->64, 14x14 384->64) and 32 outputs 0.90-0.99x, hence the bound. The 6 x 64 tile in the
/// same place: 0.86-1.06x of 8 x 48.
pub fn for_pixel_rows(isa: Isa, n: usize, k: usize) -> Option<GemmKernel> {
    let base = for_gemm(isa, n, k)?;
    if wide_tiles_pay(isa) && base.mr == AVX512_MR && base.nv == AVX512_NV && n >= PIXEL_ROWS_X48_MIN_N {
        return tile16(isa, AVX512_X48_MR, AVX512_X48_NV);
    }
    Some(base)
}

/// Whether the wide tiles can pay on `isa` here: native AVX-512 on a CPU with two 512-bit FMA units (not
/// [`crate::isa::split_512_fma`]), where loads, not FMAs, bound the 8 x 32 tile. The stand-ins (other [`Isa`]s)
/// never take them at the layer level; the kernel sweeps run them on every host.
fn wide_tiles_pay(isa: Isa) -> bool {
    isa == Isa::Avx512 && !crate::isa::split_512_fma()
}

/// The 16-lane registry kernel of `isa` with `mr` rows of `nv` vectors.
fn tile16(isa: Isa, mr: usize, nv: usize) -> Option<GemmKernel> {
    REGISTRY.iter().find(|g| g.isa == isa && g.mr == mr && g.nv == nv && g.lanes == 16).copied()
}

/// The wide 6 x 64 tile for an NCHW layer with pixels in the lanes (1x1 pixel lanes and im2col: `c_out` output
/// channels per group as the tile's rows, pixels of a `plane` in its 64 columns, reduction length `k`) on CPUs with
/// two 512-bit FMA units: from 24 output channels on (fewer leave its 6-row tiles ragged) and planes of 512 pixels
/// (fewer make too few 64-pixel panels to split between threads: im2col 14x14 256->256 ran 1.39x one thread on two
/// against 8 x 32's 1.94x, 7x7 512->512 0.76x against 1.17x), except short reductions over planes under 1024 pixels.
/// Measured on an Intel Xeon with AMX, one thread, three rounds, against 8 x 32 (per-round
/// ratios): 1x1 56x56 64->64 0.96-1.08x, 56x56 64->256 0.97-1.10x, 56x56 256->512 stride 2 0.99-1.16x, 28x28
/// 128->512 1.04-1.17x, 112x112 16->96 1.03-1.12x, 56x56 144->24 1.05-1.15x; 28x28 32->192 0.89-0.99x and 112x112
/// 32->16 0.89-1.09x (excluded); im2col 3x3 56x56 64->64 1.01-1.15x, 28x28 128->128 0.96-1.14x, 14x14 256->256
/// 1.00-1.14x, 7x7 512->512 0.91-1.22x, stride 2 1.02-1.08x, the 3x3 stem 1.10-1.25x, the 7x7 stem 1.10-1.26x.
/// Pixel rows (C transposed) stay on 8 x 32: its transposed 6-row stores ran 0.22-0.36x; a later check with the
/// current transposed store, one run each on 64-output rows (35x35 192->64, 14x14 384->64, 56x56 256->64), found
/// 1.01-1.03x, too little to switch.
pub fn wide_for_nchw_lanes(isa: Isa, c_out: usize, k: usize, plane: usize) -> Option<GemmKernel> {
    if !wide_tiles_pay(isa) || c_out < 24 || plane < 512 || (k <= 32 && plane < 1024) {
        return None;
    }
    tile16(isa, AVX512_X64_MR, AVX512_X64_NV)
}

/// Whether padding `n` columns to `narrow`-lane vectors instead of `wide`-lane ones saves at least an eighth of the
/// wide padding.
fn narrow_pays(n: usize, wide: usize, narrow: usize) -> bool {
    let (w, s) = (n.next_multiple_of(wide), n.next_multiple_of(narrow));
    n > 0 && 8 * (w - s) >= w
}
