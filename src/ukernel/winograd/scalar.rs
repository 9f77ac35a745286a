//! Portable Winograd F(4x4, 3x3) transforms (`f32_winograd_f4x4_3x3__scalar`): one-lane vectors.

use pulp::Scalar;

super::generic::wino_entry_points!(Scalar, Scalar, crate::isa::Isa::Portable, 1, "scalar");
