//! Benchmark CLI placeholder.
fn main() {}
