//! The AVX-512 depthwise kernels' 16-lane logic run on stand-in backends: pulp's `V3_512b` (AVX2, 2 ymm per
//! vector) and `Scalar512b` (portable, fused multiply-add per lane). Used to test 16-lane tiles, masks and tails
//! on machines without AVX-512.

/// `V3_512b`: 16-lane vectors on AVX2+FMA.
#[cfg(target_arch = "x86_64")]
pub mod v3_512b {
    use pulp::x86::{V3, V3_512b};
    super::super::generic::dw_entry_points!(
        V3_512b,
        V3_512b(V3::new_unchecked()),
        crate::isa::Isa::Avx512OnAvx2,
        16,
        32,
        "avx512_on_avx2",
        6,
        16,
        true
    );
}

/// `Scalar512b`: 16-lane vectors in portable code.
pub mod scalar512b {
    use pulp::Scalar512b;
    super::super::generic::dw_entry_points!(
        Scalar512b,
        Scalar512b,
        crate::isa::Isa::Avx512Portable,
        16,
        32,
        "avx512_portable",
        6,
        16,
        true
    );
}
