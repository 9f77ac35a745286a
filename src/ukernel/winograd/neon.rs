//! aarch64 NEON Winograd F(4x4, 3x3) transforms (`f32_winograd_f4x4_3x3__neon`), 4 channels per vector.

use pulp::aarch64::Neon;

super::generic::wino_entry_points!(Neon, Neon::new_unchecked(), crate::isa::Isa::Neon, 4, "neon");
