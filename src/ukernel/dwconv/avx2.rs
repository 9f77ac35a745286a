//! AVX2+FMA depthwise kernels (`f32_dwconv_3x3s1_16c__avx2`, `f32_dwconv2d_chw_3x3s1__avx2`, ...), 8 lanes.

use pulp::x86::V3;

super::generic::dw_entry_points!(V3, V3::new_unchecked(), crate::isa::Isa::Avx2, 8, 16, "avx2", 4, 8, false);
