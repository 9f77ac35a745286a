//! AVX-512F GEMM micro-kernels: `f32_gemm_8x32__avx512` (16 zmm accumulators), the tall 16 x 16 tile, the wide
//! 6 x 64, 4 x 96 and 8 x 48 tiles and the 8 x 24 ymm tile, with their mr/nr edge variants.

use pulp::x86::V4;

/// Rows per tile.
pub const MR: usize = 8;
/// Vectors (of 16 lanes) per tile row.
pub const NV: usize = 2;

super::generic::gemm_entry_points!(V4, V4::new_unchecked(), 8, 2, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2]);

/// `f32_gemm_16x16__avx512`: 16 rows of one vector (16 zmm accumulators), for outputs of at most 16 channels,
/// where the 8 x 32 tile would leave half its columns (and accumulators) idle.
pub mod tall {
    use pulp::x86::V4;

    super::super::generic::gemm_entry_points!(
        V4,
        V4::new_unchecked(),
        16,
        1,
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        [1]
    );
}

/// `f32_gemm_8x24__avx512_ymm`: 8 rows of three 8-lane vectors (24 ymm accumulators, AVX-512VL's 32 registers),
/// for outputs of 1-8 or 17-24 channels, which 16-lane vectors pad by a quarter or more. Picked only where a
/// 512-bit FMA costs two 256-bit ones ([`crate::isa::split_512_fma`]), so that 8-lane FMAs lose no throughput.
pub mod ymm {
    use pulp::x86::{V3, V4};

    super::super::generic::gemm_entry_points!(
        V3,
        V3::new_unchecked(),
        on V4::new_unchecked(),
        8,
        3,
        [1, 2, 3, 4, 5, 6, 7, 8],
        [1, 2, 3]
    );
}

/// `f32_gemm_6x64__avx512`: 6 rows of four vectors (24 zmm accumulators; 6 broadcasts and 4 vectors of B, 10 loads,
/// per 24 FMAs against the 8 x 32 tile's 10 per 16). NHWC layers of at least 48 outputs take it on CPUs with two
/// 512-bit FMA units, whose load slots, not FMAs, bound the 8 x 32 tile ([`super::for_nhwc`]).
pub mod x64 {
    use pulp::x86::V4;

    super::super::generic::gemm_entry_points!(V4, V4::new_unchecked(), 6, 4, [1, 2, 3, 4, 5, 6], [1, 2, 3, 4]);
}

/// `f32_gemm_4x96__avx512`: 4 rows of six vectors (24 zmm accumulators, 10 loads per 24 FMAs), one tile across 96
/// outputs: NHWC layers of a multiple of 96 outputs over short reductions (MobileNet's expansions), whose
/// per-tile work is short and whose 6 x 64 panels would end in a half-empty one ([`super::for_nhwc`]).
pub mod x96 {
    use pulp::x86::V4;

    super::super::generic::gemm_entry_points!(V4, V4::new_unchecked(), 4, 6, [1, 2, 3, 4], [1, 2, 3, 4, 5, 6]);
}

/// `f32_gemm_8x48__avx512`: 8 rows of three vectors (24 zmm accumulators; 8 broadcasts and 3 vectors of B, 11 loads,
/// per 24 FMAs). NCHW pixel rows take it on CPUs with two 512-bit FMA units ([`super::for_pixel_rows`]): its 8-row
/// tiles keep the transposed store of the 8 x 32 tile (two vectors of columns per 16 x 16 transpose, 8-pixel runs).
pub mod x48 {
    use pulp::x86::V4;

    super::super::generic::gemm_entry_points!(V4, V4::new_unchecked(), 8, 3, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3]);
}
