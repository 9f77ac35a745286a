//! Portable depthwise kernels (`f32_dwconv_3x3s1_2c__scalar`, ...): one-lane vectors, unfused multiply-add.

use pulp::Scalar;

super::generic::dw_entry_points!(Scalar, Scalar, crate::isa::Isa::Portable, 1, 2, "scalar", 4, 16, true);
