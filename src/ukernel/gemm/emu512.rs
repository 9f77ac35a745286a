//! The AVX-512 tile logic (8 x 32, the tall 16 x 16, the wide 6 x 64, 4 x 96 and 8 x 48; 16 lanes) run on stand-in
//! backends: pulp's `V3_512b` (AVX2, 2 ymm per vector) and `Scalar512b` (portable, fused multiply-add per lane).
//! Used to test the AVX-512 kernels' index math, tails and blocking on machines without AVX-512; likewise the 8 x 24
//! ymm tile on AVX2 and `Scalar256b`.

/// Rows per tile (same as the AVX-512 kernel).
pub const MR: usize = super::AVX512_MR;
/// Vectors (of 16 lanes) per tile row (same as the AVX-512 kernel).
pub const NV: usize = super::AVX512_NV;

/// `V3_512b`: 16-lane vectors on AVX2+FMA.
#[cfg(target_arch = "x86_64")]
pub mod v3_512b {
    use pulp::x86::{V3, V3_512b};
    super::super::generic::gemm_entry_points!(
        V3_512b,
        V3_512b(V3::new_unchecked()),
        8,
        2,
        [1, 2, 3, 4, 5, 6, 7, 8],
        [1, 2]
    );
}

/// `Scalar512b`: 16-lane vectors in portable code.
pub mod scalar512b {
    use pulp::Scalar512b;
    super::super::generic::gemm_entry_points!(Scalar512b, Scalar512b, 8, 2, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2]);
}

/// The tall one-vector AVX-512 tile (16 x 16) on `V3_512b`.
#[cfg(target_arch = "x86_64")]
pub mod v3_512b_tall {
    use pulp::x86::{V3, V3_512b};

    super::super::generic::gemm_entry_points!(
        V3_512b,
        V3_512b(V3::new_unchecked()),
        16,
        1,
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        [1]
    );
}

/// The tall one-vector AVX-512 tile (16 x 16) on `Scalar512b`.
pub mod scalar512b_tall {
    use pulp::Scalar512b;

    super::super::generic::gemm_entry_points!(
        Scalar512b,
        Scalar512b,
        16,
        1,
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        [1]
    );
}

/// The 8 x 24 ymm tile of the AVX-512 kernels (8-lane vectors) on AVX2 alone: same body, 16 registers.
#[cfg(target_arch = "x86_64")]
pub mod v3_ymm {
    use pulp::x86::V3;

    super::super::generic::gemm_entry_points!(V3, V3::new_unchecked(), 8, 3, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3]);
}

/// The 8 x 24 ymm tile of the AVX-512 kernels in portable code (`Scalar256b`, 8 lanes).
pub mod scalar256b_ymm {
    use pulp::Scalar256b;

    super::super::generic::gemm_entry_points!(Scalar256b, Scalar256b, 8, 3, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3]);
}

/// The 6 x 64 AVX-512 tile on `V3_512b`.
#[cfg(target_arch = "x86_64")]
pub mod v3_512b_x64 {
    use pulp::x86::{V3, V3_512b};

    super::super::generic::gemm_entry_points!(
        V3_512b,
        V3_512b(V3::new_unchecked()),
        6,
        4,
        [1, 2, 3, 4, 5, 6],
        [1, 2, 3, 4]
    );
}

/// The 6 x 64 AVX-512 tile on `Scalar512b`.
pub mod scalar512b_x64 {
    use pulp::Scalar512b;

    super::super::generic::gemm_entry_points!(Scalar512b, Scalar512b, 6, 4, [1, 2, 3, 4, 5, 6], [1, 2, 3, 4]);
}

/// The 4 x 96 AVX-512 tile on `V3_512b`.
#[cfg(target_arch = "x86_64")]
pub mod v3_512b_x96 {
    use pulp::x86::{V3, V3_512b};

    super::super::generic::gemm_entry_points!(
        V3_512b,
        V3_512b(V3::new_unchecked()),
        4,
        6,
        [1, 2, 3, 4],
        [1, 2, 3, 4, 5, 6]
    );
}

/// The 4 x 96 AVX-512 tile on `Scalar512b`.
pub mod scalar512b_x96 {
    use pulp::Scalar512b;

    super::super::generic::gemm_entry_points!(Scalar512b, Scalar512b, 4, 6, [1, 2, 3, 4], [1, 2, 3, 4, 5, 6]);
}

/// The 8 x 48 AVX-512 tile on `V3_512b`.
#[cfg(target_arch = "x86_64")]
pub mod v3_512b_x48 {
    use pulp::x86::{V3, V3_512b};

    super::super::generic::gemm_entry_points!(
        V3_512b,
        V3_512b(V3::new_unchecked()),
        8,
        3,
        [1, 2, 3, 4, 5, 6, 7, 8],
        [1, 2, 3]
    );
}

/// The 8 x 48 AVX-512 tile on `Scalar512b`.
pub mod scalar512b_x48 {
    use pulp::Scalar512b;

    super::super::generic::gemm_entry_points!(Scalar512b, Scalar512b, 8, 3, [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3]);
}
