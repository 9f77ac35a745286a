//! Micro-kernels: no allocation, no threading, no shape decisions. One folder per kernel family.

pub mod dwconv;
pub mod gemm;
pub mod winograd;
