//! AVX2+FMA Winograd F(4x4, 3x3) transforms (`f32_winograd_f4x4_3x3__avx2`), 8 channels per vector.

use pulp::x86::V3;

super::generic::wino_entry_points!(V3, V3::new_unchecked(), crate::isa::Isa::Avx2, 8, "avx2");
