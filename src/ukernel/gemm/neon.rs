//! aarch64 NEON GEMM micro-kernels: `f32_gemm_8x8__neon` (16 q-register accumulators) and its edge variants.

use pulp::aarch64::Neon;

/// Rows per tile.
pub const MR: usize = 8;
/// Vectors (of 4 lanes) per tile row.
pub const NV: usize = 2;

super::generic::gemm_entry_points!(Neon, Neon::new_unchecked(), 8, 2, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2]);
