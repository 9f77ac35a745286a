//! Shared test helpers: seeded data, the ISAs under test (`SIMDCONV_TEST_ISA`), and `check`, which plans, runs
//! (with guard zones around every buffer) and compares with `simdconv::reference`.
#![allow(dead_code)]

use simdconv::{Conv2d, Conv2dParams, Isa, PlanOptions, reference};

/// Deterministic values in `[-1, 1)` (splitmix64), a different stream per `seed`.
pub fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x1234_5678);
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            // 24 random bits: exactly representable, uniform in [-1, 1).
            ((z >> 40) as f32) / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// The ISAs under test: every ISA this machine runs, or exactly the one `SIMDCONV_TEST_ISA` names. A named ISA
/// that is unknown or cannot run here fails loudly (CI uses it to demand a path), it never skips.
pub fn isas() -> Vec<Isa> {
    try_isas().unwrap_or_else(|e| panic!("{e}"))
}

/// [`isas`] without the panic.
pub fn try_isas() -> Result<Vec<Isa>, String> {
    match std::env::var("SIMDCONV_TEST_ISA") {
        Ok(s) if !s.trim().is_empty() => {
            let isa = Isa::from_name(&s).map_err(|e| format!("SIMDCONV_TEST_ISA={s}: {e}"))?;
            isa.check_available()
                .map_err(|e| format!("SIMDCONV_TEST_ISA={s} demands an ISA this machine cannot run: {e}"))?;
            Ok(vec![isa])
        }
        _ => Ok(Isa::ALL.into_iter().filter(|i| i.available()).collect()),
    }
}

/// `PROPTEST_CASES` if set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The fused clamp of a test case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clamp {
    None,
    Relu,
    Relu6,
    Range(f32, f32),
}

impl Clamp {
    pub fn apply(self, p: Conv2dParams) -> Conv2dParams {
        match self {
            Clamp::None => p.clamp(f32::NEG_INFINITY, f32::INFINITY),
            Clamp::Relu => p.clamp(0.0, f32::INFINITY),
            Clamp::Relu6 => p.clamp(0.0, 6.0),
            Clamp::Range(lo, hi) => p.clamp(lo, hi),
        }
    }
}

/// How a test case supplies the residual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Residual {
    None,
    /// A separate output-shaped tensor (`run_with`).
    Separate,
    /// The output buffer itself (`run_residual_in_place`).
    InPlace,
}

/// Elements of guard zone placed before and after every buffer handed to the library.
pub const GUARD: usize = 37;
/// Bit pattern of the guard zones (a NaN with a recognisable payload).
pub const GUARD_BITS: u32 = 0x7fa5_a5a5;
/// Bit pattern pre-filled into outputs that the run must overwrite.
pub const UNWRITTEN_BITS: u32 = 0x7fc0_dead;

/// A buffer with guard zones: the library sees only `inner()`.
pub struct Guarded {
    buf: Vec<f32>,
    len: usize,
}

impl Guarded {
    pub fn new(values: &[f32]) -> Guarded {
        let mut buf = vec![f32::from_bits(GUARD_BITS); values.len() + 2 * GUARD];
        buf[GUARD..GUARD + values.len()].copy_from_slice(values);
        Guarded { buf, len: values.len() }
    }
    pub fn filled(len: usize, bits: u32) -> Guarded {
        Guarded::new(&vec![f32::from_bits(bits); len])
    }
    pub fn inner(&self) -> &[f32] {
        &self.buf[GUARD..GUARD + self.len]
    }
    pub fn inner_mut(&mut self) -> &mut [f32] {
        &mut self.buf[GUARD..GUARD + self.len]
    }
    /// Err if anything outside `inner()` changed.
    pub fn check_guards(&self, what: &str) -> Result<(), String> {
        let (pre, rest) = self.buf.split_at(GUARD);
        let post = &rest[self.len..];
        for (i, v) in pre.iter().enumerate() {
            if v.to_bits() != GUARD_BITS {
                return Err(format!("{what}: element {} before the buffer was overwritten with {v}", GUARD - i));
            }
        }
        for (i, v) in post.iter().enumerate() {
            if v.to_bits() != GUARD_BITS {
                return Err(format!("{what}: element {i} past the end of the buffer was overwritten with {v}"));
            }
        }
        Ok(())
    }
}

/// One test case's tensors, generated from a seed.
pub struct Tensors {
    pub weights: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    pub input: Vec<f32>,
    pub residual: Option<Vec<f32>>,
}

impl Tensors {
    pub fn new(p: &Conv2dParams, bias: bool, residual: Residual, seed: u64) -> Result<Tensors, String> {
        let s = p.validate().map_err(|e| format!("invalid test parameters {p:?}: {e}"))?;
        Ok(Tensors {
            weights: data(s.weight_len, seed.wrapping_mul(4).wrapping_add(1)),
            bias: bias.then(|| data(p.c_out, seed.wrapping_mul(4).wrapping_add(2))),
            input: data(s.input_len, seed.wrapping_mul(4).wrapping_add(3)),
            residual: (residual != Residual::None).then(|| data(s.output_len, seed.wrapping_mul(4).wrapping_add(4))),
        })
    }
    pub fn reference(&self, p: &Conv2dParams) -> reference::RefOutput {
        reference::conv2d_f64(p, &self.input, &self.weights, self.bias.as_deref(), self.residual.as_deref())
            .expect("reference accepts valid parameters")
    }
}

/// Plans `p` for `isa`, runs it once on `t` with guard zones around every buffer, and returns the output.
/// Checks that nothing outside the output was written, the input and residual were not modified, and (without
/// an in-place residual) that every output element was written.
pub fn run_guarded(
    p: &Conv2dParams,
    isa: Isa,
    t: &Tensors,
    residual: Residual,
    threads: usize,
) -> Result<Vec<f32>, String> {
    let conv =
        Conv2d::with_options(*p, &t.weights, t.bias.as_deref(), PlanOptions { isa: Some(isa), ..Default::default() })
            .map_err(|e| format!("plan failed: {e}"))?;
    if conv.isa() != isa {
        return Err(format!("plan for {isa} reports ISA {}", conv.isa()));
    }
    let choice = conv.kernel_choice();
    let who = format!("{} / {}", choice.algorithm, choice.kernel);
    let x = Guarded::new(&t.input);
    let out_len = conv.output_len();
    let res = t.residual.as_ref().map(|r| Guarded::new(r));
    let mut y = match residual {
        Residual::InPlace => Guarded::new(t.residual.as_ref().expect("residual tensor")),
        _ => Guarded::filled(out_len, UNWRITTEN_BITS),
    };
    let r = match residual {
        Residual::None => conv.run_with(x.inner(), y.inner_mut(), threads, None),
        Residual::Separate => conv.run_with(x.inner(), y.inner_mut(), threads, Some(res.as_ref().unwrap().inner())),
        Residual::InPlace => conv.run_residual_in_place(x.inner(), y.inner_mut(), threads),
    };
    r.map_err(|e| format!("{who}: run failed: {e}"))?;
    let fail = |e: String| format!("{who}: {e}");
    y.check_guards("output").map_err(fail)?;
    x.check_guards("input").map_err(fail)?;
    if x.inner().iter().zip(&t.input).any(|(a, b)| a.to_bits() != b.to_bits()) {
        return Err(fail("the input was modified".into()));
    }
    if let Some(r) = &res {
        r.check_guards("residual").map_err(fail)?;
        if r.inner().iter().zip(t.residual.as_ref().unwrap()).any(|(a, b)| a.to_bits() != b.to_bits()) {
            return Err(fail("the residual was modified".into()));
        }
    }
    if residual != Residual::InPlace
        && let Some(i) = y.inner().iter().position(|v| v.to_bits() == UNWRITTEN_BITS)
    {
        return Err(fail(format!("output[{i}] was never written")));
    }
    Ok(y.inner().to_vec())
}

/// Plans, runs and compares `params` (with `clamp` applied) on every ISA in `isas`, computing the reference once.
#[allow(clippy::too_many_arguments)]
pub fn check_isas(
    params: &Conv2dParams,
    isas: &[Isa],
    bias: bool,
    residual: Residual,
    clamp: Clamp,
    threads: usize,
    seed: u64,
) -> Result<(), String> {
    let p = clamp.apply(*params);
    let t = Tensors::new(&p, bias, residual, seed)?;
    let want = t.reference(&p);
    for &isa in isas {
        let ctx =
            || format!("isa {isa}, bias {bias}, residual {residual:?}, clamp {clamp:?}, threads {threads}, {p:?}");
        let got = run_guarded(&p, isa, &t, residual, threads).map_err(|e| format!("{}: {e}", ctx()))?;
        reference::compare(&p, &got, &want)
            .map_err(|e| format!("{}: {} (plan: {:?})", ctx(), e, plan_name(&p, isa, &t)))?;
    }
    Ok(())
}

/// [`check_isas`] for one ISA with a fixed seed.
pub fn check(
    params: &Conv2dParams,
    isa: Isa,
    bias: bool,
    residual: Residual,
    clamp: Clamp,
    threads: usize,
) -> Result<(), String> {
    check_isas(params, &[isa], bias, residual, clamp, threads, 7)
}

/// Plans and runs `p` with `threads` threads, no residual, and returns the output (panics on errors).
pub fn run_plain(conv: &Conv2d, input: &[f32], threads: usize) -> Vec<f32> {
    let mut y = vec![f32::from_bits(UNWRITTEN_BITS); conv.output_len()];
    conv.run_with(input, &mut y, threads, None).expect("run");
    y
}

/// Bitwise equality of two outputs, with the first difference in the message.
pub fn same_bits(a: &[f32], b: &[f32]) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("lengths differ: {} vs {}", a.len(), b.len()));
    }
    match a.iter().zip(b).position(|(x, y)| x.to_bits() != y.to_bits()) {
        None => Ok(()),
        Some(i) => Err(format!("element {i} differs: {} vs {}", a[i], b[i])),
    }
}

/// `algorithm / kernel` of the plan for `p` on `isa`, for failure messages.
pub fn plan_name(p: &Conv2dParams, isa: Isa, t: &Tensors) -> String {
    match Conv2d::with_options(*p, &t.weights, t.bias.as_deref(), PlanOptions { isa: Some(isa), ..Default::default() })
    {
        Ok(c) => format!("{} / {}", c.kernel_choice().algorithm, c.kernel_choice().kernel),
        Err(e) => format!("no plan: {e}"),
    }
}

/// Plans `p` for `isa` with `seed`-derived weights, bias, input and residual, and runs it from buffers that start
/// `(input, residual, output)` floats past a 64-byte boundary, for every placement and thread count: the first
/// output must match the reference, every later one it bitwise.
pub fn check_placements(
    p: &Conv2dParams,
    isa: Isa,
    seed: u64,
    placements: &[(usize, usize, usize)],
    threads: &[usize],
) -> Result<(), String> {
    let s = p.validate().map_err(|e| e.to_string())?;
    let (w, b) = (data(s.weight_len, seed), data(p.c_out, seed + 1));
    let conv = Conv2d::with_options(*p, &w, Some(&b), PlanOptions { isa: Some(isa), ..Default::default() })
        .map_err(|e| e.to_string())?;
    let (x0, r0) = (data(s.input_len, seed + 2), data(s.output_len, seed + 3));
    let want = reference::conv2d_f64(p, &x0, &w, Some(&b), Some(&r0)).map_err(|e| e.to_string())?;
    let mut first: Option<Vec<f32>> = None;
    let mut xb = vec![0.0f32; s.input_len + 32];
    let mut rb = vec![0.0f32; s.output_len + 32];
    let mut yb = vec![f32::NAN; s.output_len + 32];
    let (xa, ra, ya) = (xb.as_ptr().align_offset(64), rb.as_ptr().align_offset(64), yb.as_ptr().align_offset(64));
    for &(xoff, roff, yoff) in placements {
        let (xo, ro, yo) = (xa + xoff, ra + roff, ya + yoff);
        xb[xo..xo + s.input_len].copy_from_slice(&x0);
        rb[ro..ro + s.output_len].copy_from_slice(&r0);
        for &t in threads {
            let y = &mut yb[yo..yo + s.output_len];
            y.fill(f32::NAN);
            conv.run_with(&xb[xo..xo + s.input_len], y, t, Some(&rb[ro..ro + s.output_len]))
                .map_err(|e| e.to_string())?;
            let y = &yb[yo..yo + s.output_len];
            match &first {
                None => {
                    reference::compare(p, y, &want).map_err(|e| format!("{isa} {p:?}: {e}"))?;
                    first = Some(y.to_vec());
                }
                Some(f) if !f.iter().zip(y).all(|(a, b)| a.to_bits() == b.to_bits()) => {
                    return Err(format!(
                        "{isa} {p:?}: input at +{xoff}, residual at +{roff}, output at +{yoff}, {t} threads differ \
                         from the first run"
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}
