//! AVX-512F GEMM micro-kernels: `f32_gemm_8x32__avx512` (16 zmm accumulators) and its mr/nr edge variants.

use pulp::x86::V4;

/// Rows per tile.
pub const MR: usize = 8;
/// Vectors (of 16 lanes) per tile row.
pub const NV: usize = 2;

super::generic::gemm_entry_points!(V4, V4::new_unchecked(), 8, 2, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2]);
