//! AVX2+FMA GEMM micro-kernels: `f32_gemm_6x16__avx2` (12 ymm accumulators) and its mr/nr edge variants.

use pulp::x86::V3;

/// Rows per tile.
pub const MR: usize = 6;
/// Vectors (of 8 lanes) per tile row.
pub const NV: usize = 2;

super::generic::gemm_entry_points!(V3, V3::new_unchecked(), 6, 2, [1, 2, 3, 4, 5, 6], [1, 2]);
