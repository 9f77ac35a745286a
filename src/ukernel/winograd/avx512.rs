//! AVX-512F Winograd F(4x4, 3x3) transforms (`f32_winograd_f4x4_3x3__avx512`), 16 channels per vector.

use pulp::x86::V4;

super::generic::wino_entry_points!(V4, V4::new_unchecked(), crate::isa::Isa::Avx512, 16, "avx512");
