//! Portable GEMM micro-kernels (`f32_gemm_4x8__scalar`): one-lane vectors, unfused multiply-add.

use pulp::Scalar;

/// Rows per tile.
pub const MR: usize = 4;
/// Vectors (of 1 lane) per tile row.
pub const NV: usize = 8;

super::generic::gemm_entry_points!(Scalar, Scalar, 4, 8, [1, 2, 3, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
