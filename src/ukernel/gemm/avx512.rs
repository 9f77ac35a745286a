//! AVX-512F GEMM micro-kernels: `f32_gemm_8x32__avx512` (16 zmm accumulators) and its mr/nr edge variants.

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

    /// Rows per tile.
    pub const MR: usize = 16;

    super::super::generic::gemm_entry_points!(
        V4,
        V4::new_unchecked(),
        16,
        1,
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        [1]
    );
}
