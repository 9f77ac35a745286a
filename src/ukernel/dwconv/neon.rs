//! aarch64 NEON depthwise kernels (`f32_dwconv_3x3s1_8c__neon`, `f32_dwconv2d_chw_3x3s1__neon`, ...), 4 lanes.

use pulp::aarch64::Neon;

super::generic::dw_entry_points!(Neon, Neon::new_unchecked(), crate::isa::Isa::Neon, 4, 8, "neon", 4, 16, false);
