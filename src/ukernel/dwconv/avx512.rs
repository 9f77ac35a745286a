//! AVX-512F depthwise kernels (`f32_dwconv_3x3s1_32c__avx512`, `f32_dwconv2d_chw_3x3s1__avx512`, ...), 16 lanes.

use pulp::x86::V4;

super::generic::dw_entry_points!(V4, V4::new_unchecked(), crate::isa::Isa::Avx512, 16, 32, "avx512", 6, 16, true);
