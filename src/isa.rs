//! Instruction-set detection, the forced-ISA switch (`SIMDCONV_ISA` and [`force_isa`]) and ISA names.

use crate::error::{Error, Result};
use std::sync::Mutex;

/// A SIMD code path. Every plan is built for exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust, no SIMD intrinsics.
    Portable,
    /// x86-64 AVX2 + FMA.
    Avx2,
    /// x86-64 AVX-512F.
    Avx512,
    /// aarch64 NEON (Advanced SIMD).
    Neon,
    /// The AVX-512 kernels' 16-lane logic executed with AVX2 instructions (a test path).
    Avx512OnAvx2,
    /// The AVX-512 kernels' 16-lane logic executed in portable code (a test path, any CPU).
    Avx512Portable,
}

impl Isa {
    /// Every ISA this library knows, in preference order for detection.
    pub const ALL: [Isa; 6] =
        [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Portable, Isa::Avx512OnAvx2, Isa::Avx512Portable];

    /// The short name used by `SIMDCONV_ISA`, `--isa` and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
            Isa::Avx512OnAvx2 => "avx512-on-avx2",
            Isa::Avx512Portable => "avx512-portable",
        }
    }

    /// Parses a name produced by [`Isa::name`].
    pub fn from_name(s: &str) -> Result<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == s.trim().to_ascii_lowercase()).ok_or_else(|| {
            Error::invalid(format!(
                "unknown ISA '{s}' (expected one of portable, avx2, avx512, neon, avx512-on-avx2, avx512-portable)"
            ))
        })
    }

    /// Whether this build has the ISA's kernels and this CPU can run them.
    pub fn available(self) -> bool {
        match self {
            Isa::Portable | Isa::Avx512Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512OnAvx2 => pulp::x86::V3::is_available(),
            #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
            Isa::Avx512 => pulp::x86::V4::is_available(),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => pulp::aarch64::Neon::is_available(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Why [`Isa::available`] is false, or `Ok`.
    pub fn check_available(self) -> Result<Isa> {
        if self.available() {
            return Ok(self);
        }
        let why = match self {
            Isa::Avx512 if cfg!(all(target_arch = "x86_64", not(feature = "x86-v4"))) => {
                "this build lacks the `x86-v4` feature"
            }
            _ => "this CPU or target lacks it",
        };
        Err(Error::Unsupported(format!("ISA '{}' was requested but {why}", self.name())))
    }

    /// The best production ISA this CPU can run (test paths are never detected).
    pub fn detect() -> Isa {
        [Isa::Avx512, Isa::Avx2, Isa::Neon].into_iter().find(|i| i.available()).unwrap_or(Isa::Portable)
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

static FORCED: Mutex<Option<Isa>> = Mutex::new(None);

/// Forces the ISA of plans built from now on (`None` returns to the environment / detection).
/// Forcing an ISA this CPU cannot run is an error and changes nothing.
pub fn force_isa(isa: Option<Isa>) -> Result<()> {
    if let Some(i) = isa {
        i.check_available()?;
    }
    *FORCED.lock().unwrap_or_else(|e| e.into_inner()) = isa;
    Ok(())
}

/// The ISA new plans use: [`force_isa`]'s choice, else `SIMDCONV_ISA`, else [`Isa::detect`].
/// An unknown or unavailable `SIMDCONV_ISA` is an error, never a silent fallback.
pub fn isa() -> Result<Isa> {
    if let Some(i) = *FORCED.lock().unwrap_or_else(|e| e.into_inner()) {
        return Ok(i);
    }
    match std::env::var("SIMDCONV_ISA") {
        Ok(s) if !s.trim().is_empty() => Isa::from_name(&s)?.check_available(),
        _ => Ok(Isa::detect()),
    }
}

/// Whether this CPU executes a 512-bit FMA as two 256-bit halves (AMD Zen 4: family 0x19 with AVX-512), so that
/// 8-lane FMAs under AVX-512VL reach the same FLOP rate as 16-lane ones. Detected once.
pub fn split_512_fma() -> bool {
    static SPLIT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SPLIT.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use core::arch::x86_64::__cpuid;
            // SAFETY: CPUID leaves 0 and 1 exist on every x86-64 CPU.
            #[allow(unused_unsafe)]
            let (l0, l1) = unsafe { (__cpuid(0), __cpuid(1)) };
            let amd = (l0.ebx, l0.edx, l0.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163); // "AuthenticAMD"
            let family = ((l1.eax >> 8) & 0xf) + if (l1.eax >> 8) & 0xf == 0xf { (l1.eax >> 20) & 0xff } else { 0 };
            amd && family == 0x19
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}
