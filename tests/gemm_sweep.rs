//! Edge sweeps of every GEMM micro-kernel in `ukernel::gemm::REGISTRY` (called directly, with guard zones around
//! every buffer), and a channel-count sweep of the whole 1x1 path through the API.

mod common;

use common::{Clamp, GUARD, GUARD_BITS, Residual, check_isas, data, isas};
use simdconv::ukernel::gemm::{GemmKernel, GemmTile, Prefetch, REGISTRY};
use simdconv::{Conv2dParams, Isa, Layout, WeightLayout, reference};

const KS: [usize; 8] = [1, 2, 3, 7, 16, 17, 64, 257];

/// How A's rows lie in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ARows {
    /// Separate rows, `csa = 1`.
    Contiguous,
    /// Separate rows, `csa = 3`, NaN between the elements.
    Strided,
    /// Rows interleaved as in a packed weight panel: `a[i] = base + i`, `csa = kernel.mr` (the NCHW path).
    Interleaved,
    /// Overlapping rows a fixed number of floats apart through a strided entry point (one pointer, `csa = 1`;
    /// the 3-channel stems): row `i` starts `i * rs` floats after row 0.
    Apart(usize),
    /// As `Apart`, through the any-spacing entry point (`strided_any`, the spacing in `GemmTile::rsa`).
    Spaced(usize),
    /// NCHW pixel rows through the pixel-row entry (`pixel_rows`, transposed C): row `i` starts `i` floats after
    /// row 0, its elements `csa` apart, NaN in the rest of each `csa` stretch.
    Pixels(usize),
}

/// One combination of the optional tile features.
#[derive(Debug, Clone, Copy)]
struct Opts {
    bias_col: bool,
    bias_row: bool,
    residual: Residual,
    clamp: Option<(f32, f32)>,
    a_rows: ARows,
    /// Extra elements per C row beyond `n` (`rsc = n + rsc_extra`).
    rsc_extra: usize,
    /// Whether B's row stride is the kernel's full `nr` (else exactly the `nv` vectors read).
    ldb_full: bool,
    /// Through the transposed-C entry points: C and the residual stored column after column (`c + i + j * rsc`).
    transposed: bool,
}

fn all_opts() -> Vec<Opts> {
    let mut v = Vec::new();
    for bias_col in [false, true] {
        for bias_row in [false, true] {
            for residual in [Residual::None, Residual::Separate, Residual::InPlace] {
                for clamp in [None, Some((-0.3, 0.4)), Some((0.1, 0.1))] {
                    for a_rows in [ARows::Contiguous, ARows::Strided, ARows::Interleaved] {
                        for rsc_extra in [0, 5] {
                            for ldb_full in [false, true] {
                                v.push(Opts {
                                    bias_col,
                                    bias_row,
                                    residual,
                                    clamp,
                                    a_rows,
                                    rsc_extra,
                                    ldb_full,
                                    transposed: false,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    v
}

fn nan() -> f32 {
    f32::from_bits(0x7fc0_0bad)
}

/// Runs one `m x n x k` call through `kern`'s entry point and checks every written value and every guard.
/// `n <= nr` is one panel through the entry with `ceil(n / lanes)` vectors; a wider `n` spans several panels of
/// the full-width entry (`b_stride` apart, the last one wider than `(nv - 1) * lanes`).
fn run_tile(kern: &GemmKernel, m: usize, n: usize, k: usize, o: Opts, seed: u64) -> Result<(), String> {
    let lanes = kern.lanes;
    let nv = if n <= kern.nr() { n.div_ceil(lanes) } else { kern.nv };
    let width = nv * lanes;
    let panels = n.div_ceil(width);
    let ldb = if o.ldb_full { kern.nr() } else { width };
    let b_stride = k * ldb + 3;
    let ctx = format!("{} m {m} n {n} k {k} {o:?}", kern.name);

    // A: logical a[i][kk]; every element the kernel must not read is NaN.
    let mut av = data(m * k, seed);
    let (abuf, a_off, csa): (Vec<f32>, Vec<usize>, usize) = match o.a_rows {
        ARows::Contiguous | ARows::Strided => {
            let csa = if o.a_rows == ARows::Strided { 3 } else { 1 };
            let row_len = (k - 1) * csa + 1 + 2;
            let mut buf = vec![nan(); m * row_len + 1];
            let offs: Vec<usize> = (0..m).map(|i| 1 + i * row_len).collect();
            for i in 0..m {
                for kk in 0..k {
                    buf[offs[i] + kk * csa] = av[i * k + kk];
                }
            }
            (buf, offs, csa)
        }
        ARows::Interleaved => {
            let csa = kern.mr;
            let mut buf = vec![nan(); k * csa + 1];
            for i in 0..m {
                for kk in 0..k {
                    buf[1 + i + kk * csa] = av[i * k + kk];
                }
            }
            (buf, (0..m).map(|i| 1 + i).collect(), csa)
        }
        ARows::Pixels(csa) => {
            let mut buf = vec![nan(); k * csa + 1];
            for i in 0..m {
                for kk in 0..k {
                    buf[1 + i + kk * csa] = av[i * k + kk];
                }
            }
            (buf, vec![1], csa)
        }
        ARows::Apart(rs) | ARows::Spaced(rs) => {
            let len = (m - 1) * rs + k;
            let vals = data(len, seed);
            let mut buf = vec![nan(); len + 2];
            buf[1..1 + len].copy_from_slice(&vals);
            for i in 0..m {
                for kk in 0..k {
                    av[i * k + kk] = vals[i * rs + kk];
                }
            }
            (buf, vec![1], 1)
        }
    };
    let a: Vec<*const f32> = a_off.iter().map(|&off| abuf[off..].as_ptr()).collect();

    // B: panels `b_stride` apart of k rows of `ldb`: the real columns, then zeros to `width` (the packing
    // contract), NaN in every gap. Column biases likewise, panel q's at `q * b_stride`.
    let bv = data(k * n, seed + 1);
    let bcv = data(n, seed + 2);
    let mut b = vec![nan(); panels * b_stride];
    let mut bias_col = vec![nan(); panels * b_stride];
    for q in 0..panels {
        for jj in 0..width {
            let j = q * width + jj;
            bias_col[q * b_stride + jj] = if j < n { bcv[j] } else { 0.0 };
            for kk in 0..k {
                b[q * b_stride + kk * ldb + jj] = if j < n { bv[kk * n + j] } else { 0.0 };
            }
        }
    }
    let bias_row = data(m, seed + 3);

    // C with guard zones; the residual either separate (its own stride, NaN off the tile) or C itself.
    // C's storage: `outer` runs of `inner` elements, `rsc` apart (rows, or columns when transposed).
    let (outer, inner) = if o.transposed { (n, m) } else { (m, n) };
    let rsc = inner + o.rsc_extra;
    let c_len = GUARD + (outer - 1) * rsc + inner + GUARD;
    let mut c = vec![f32::from_bits(GUARD_BITS); c_len];
    let rv = data(m * n, seed + 4);
    let rsr = match o.residual {
        Residual::InPlace => rsc,
        _ => inner + 2,
    };
    let at = |i: usize, j: usize, stride: usize| if o.transposed { i + j * stride } else { i * stride + j };
    let mut r = vec![nan(); outer * rsr];
    match o.residual {
        Residual::None => {}
        Residual::Separate => {
            for i in 0..m {
                for j in 0..n {
                    r[at(i, j, rsr)] = rv[i * n + j];
                }
            }
        }
        Residual::InPlace => {
            for i in 0..m {
                for j in 0..n {
                    c[GUARD + at(i, j, rsc)] = rv[i * n + j];
                }
            }
        }
    }
    let (min, max) = o.clamp.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
    let c_ptr = c[GUARD..].as_mut_ptr();
    let tile = GemmTile {
        mr: m,
        nr: n,
        k,
        segs: 1,
        a: &a,
        csa,
        rsa: match o.a_rows {
            ARows::Apart(rs) | ARows::Spaced(rs) => rs,
            ARows::Pixels(_) => 1,
            _ => 0,
        },
        b: b.as_ptr(),
        ldb,
        b_stride,
        bias_col: if o.bias_col { bias_col.as_ptr() } else { core::ptr::null() },
        bias_row: if o.bias_row { bias_row.as_ptr() } else { core::ptr::null() },
        c: c_ptr,
        rsc,
        res: match o.residual {
            Residual::None => core::ptr::null(),
            Residual::Separate => r.as_ptr(),
            Residual::InPlace => c_ptr,
        },
        rsr,
        min,
        max,
        // With and without each prefetch: pixel rows (elements a plane apart) A a few k steps ahead, contiguous
        // rows through the any-spacing entry the next tile's rows, rows one float apart (NCHW pixel lanes) the
        // next panel of B.
        prefetch: match o.a_rows {
            ARows::Pixels(_) if seed.is_multiple_of(2) => Prefetch::Columns,
            ARows::Spaced(rs) if rs == k && seed.is_multiple_of(2) => Prefetch::NextTile,
            ARows::Apart(1) if !o.transposed && seed.is_multiple_of(2) => Prefetch::NextPanel,
            _ => Prefetch::None,
        },
    };
    let f = match o.a_rows {
        ARows::Apart(rs) => {
            assert!(m == kern.mr && nv == kern.nv, "{ctx}: strided entries are full-tile only");
            kern.strided(rs).unwrap_or_else(|| panic!("{ctx}: no strided entry"))
        }
        ARows::Spaced(_) => {
            assert!(m == kern.mr && nv == kern.nv, "{ctx}: strided entries are full-tile only");
            kern.strided_any
        }
        ARows::Pixels(_) => {
            assert!(m == kern.mr && nv == kern.nv && o.transposed, "{ctx}: the pixel-row entry is full-tile, C^T");
            kern.pixel_rows
        }
        _ if o.transposed => (kern.select_t)(m, nv),
        _ => (kern.select)(m, nv),
    };
    // SAFETY: the test's CPU runs `kern.isa` (filtered by `available`); A rows hold `k` elements `csa` apart
    // (strided entry: rows `rs` apart from the one pointer, `(m - 1) * rs + k` floats in all), B
    // and bias_col hold `panels` panels `b_stride` apart of `k` rows (one row) of `ldb >= nv * lanes` floats,
    // bias_row `m` floats, C and the residual `m` rows of their stride with `n` columns each, all inside the
    // vectors above.
    unsafe { f(&tile) };

    // Guards: nothing outside the m x n tile changed (C rows' gaps included).
    for (idx, v) in c.iter().enumerate() {
        let in_tile = idx >= GUARD && {
            let off = idx - GUARD;
            off / rsc < outer && off % rsc < inner
        };
        if in_tile {
            continue;
        }
        if v.to_bits() != GUARD_BITS {
            return Err(format!("{ctx}: C[{idx}] outside the tile (guard {GUARD}, rsc {rsc}) was written: {v}"));
        }
    }
    // Values against a naive f64 loop.
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0f64;
            let mut mag = 0f64;
            if o.bias_col {
                acc += bcv[j] as f64;
                mag += (bcv[j] as f64).abs();
            }
            if o.bias_row {
                acc += bias_row[i] as f64;
                mag += (bias_row[i] as f64).abs();
            }
            for kk in 0..k {
                let t = av[i * k + kk] as f64 * bv[kk * n + j] as f64;
                acc += t;
                mag += t.abs();
            }
            if o.residual != Residual::None {
                acc += rv[i * n + j] as f64;
                mag += (rv[i * n + j] as f64).abs();
            }
            let want = reference::clamp_nan(acc, min, max);
            let got = c[GUARD + at(i, j, rsc)];
            let ok = (got as f64 - want).abs() <= reference::tolerance(k + 3, mag);
            if !ok {
                return Err(format!("{ctx}: C[{i}][{j}] = {got}, expected {want} (magnitude {mag})"));
            }
            if let Some((lo, hi)) = o.clamp
                && !(got >= lo && got <= hi)
            {
                return Err(format!("{ctx}: C[{i}][{j}] = {got} outside the clamp [{lo}, {hi}]"));
            }
        }
    }
    Ok(())
}

fn kernels() -> Vec<&'static GemmKernel> {
    let want = isas();
    let ks: Vec<_> = REGISTRY.iter().filter(|k| k.isa.available() && want.contains(&k.isa)).collect();
    for isa in &want {
        assert!(ks.iter().any(|k| k.isa == *isa), "no GEMM kernel registered for available ISA {isa}");
    }
    ks
}

/// Whether a call over `n` columns is allowed: a last panel narrower than the full width takes the narrower
/// entry only when `n` fits one panel (the drivers split wider calls so the tail is wide enough).
fn width_allowed(kern: &GemmKernel, n: usize) -> bool {
    n <= kern.nr() || kern.whole_panels(n)
}

/// Every m = 1..=MR, n = 1..=NR, k in KS; the optional features rotate through all combinations.
#[test]
fn gemm_edge_sweep() {
    let opts = all_opts();
    for kern in kernels() {
        assert_eq!(kern.nr(), kern.nv * kern.lanes);
        let mut case = 0usize;
        for m in 1..=kern.mr {
            for n in 1..=kern.nr() {
                for (ki, &k) in KS.iter().enumerate() {
                    let o = opts[(case * 97 + ki) % opts.len()];
                    run_tile(kern, m, n, k, o, case as u64).unwrap_or_else(|e| panic!("{e}"));
                    case += 1;
                }
            }
        }
    }
}

/// Calls spanning several panels of the full-width entry: n up to 3 * nr wherever the last panel is wide enough.
#[test]
fn gemm_multi_panel_sweep() {
    let opts = all_opts();
    for kern in kernels() {
        let nr = kern.nr();
        let mut case = 0usize;
        for m in 1..=kern.mr {
            for n in (nr + 1..=3 * nr).filter(|&n| width_allowed(kern, n)) {
                let k = KS[case % 6];
                let o = opts[(case * 89) % opts.len()];
                run_tile(kern, m, n, k, o, 5000 + case as u64).unwrap_or_else(|e| panic!("{e}"));
                case += 1;
            }
        }
        assert!(case > 0);
    }
}

/// The strided full-tile entries (A rows a fixed distance apart, one pointer): every listed spacing, reductions
/// around the unroll and prefetch lengths, one to three panels with every allowed tail, rotating the options.
#[test]
fn gemm_strided_rows_sweep() {
    use simdconv::ukernel::gemm::generic::STRIDED_ROWS;
    for kern in kernels() {
        let spacings: Vec<usize> = kern.strided_entries.iter().map(|e| e.0).collect();
        assert_eq!(spacings, STRIDED_ROWS, "{}", kern.name);
    }
    full_tile_sweep(&STRIDED_ROWS, &[1, 2, 3, 9, 21, 33], ARows::Apart, false, (89, 9000));
}

/// The any-spacing strided entry (1x1 NHWC rows read in place, `c_in` floats apart): spacings from overlapping
/// rows to rows far apart, odd and even, reductions around the unroll and prefetch lengths, one to three panels
/// with every allowed tail, rotating the options.
#[test]
fn gemm_spaced_rows_sweep() {
    full_tile_sweep(&[1, 2, 5, 16, 17, 33, 64, 300], &[1, 2, 3, 9, 21, 33, 100], ARows::Spaced, false, (97, 30000));
}

/// The pixel-row entry (NCHW pixel rows: A rows one float apart, elements a plane apart, C transposed): planes
/// from just over a tile to past the prefetch threshold, reductions around the unroll and prefetch lengths, one to
/// three panels with every allowed tail, rotating the options.
#[test]
fn gemm_pixel_rows_entry_sweep() {
    // Planes (`csa`) from the 16-row tile's height on.
    full_tile_sweep(&[16, 19, 49, 600], &[1, 2, 3, 9, 33, 40], ARows::Pixels, true, (101, 40000));
}

/// Full tiles of every kernel through an entry chosen by `a_rows(param)`, for each parameter, reduction length and
/// width from just over `(nv - 1)` vectors to three panels; the options rotate by `step`, seeds from `seed`.
fn full_tile_sweep(
    params: &[usize],
    ks: &[usize],
    a_rows: fn(usize) -> ARows,
    transposed: bool,
    (step, seed): (usize, u64),
) {
    let opts = all_opts();
    for kern in kernels() {
        let (nr, l) = (kern.nr(), kern.lanes);
        let mut case = 0usize;
        for &param in params {
            for n in ((kern.nv - 1) * l + 1..=3 * nr).filter(|&n| width_allowed(kern, n)) {
                for &k in ks {
                    let o = Opts { a_rows: a_rows(param), transposed, ..opts[(case * step) % opts.len()] };
                    run_tile(kern, kern.mr, n, k, o, seed + case as u64).unwrap_or_else(|e| panic!("{e}"));
                    case += 1;
                }
            }
        }
    }
}

/// The transposed-C entry points (NCHW pixel rows): every m = 1..=MR, n from one column to three panels, the
/// options rotating, C and the residual stored column after column with guards between the columns.
#[test]
fn gemm_transposed_sweep() {
    let opts = all_opts();
    for kern in kernels() {
        let nr = kern.nr();
        let mut case = 0usize;
        for m in 1..=kern.mr {
            for n in (1..=3 * nr).filter(|&n| width_allowed(kern, n)) {
                let k = KS[case % KS.len()];
                let o = Opts { transposed: true, ..opts[(case * 83) % opts.len()] };
                run_tile(kern, m, n, k, o, 20000 + case as u64).unwrap_or_else(|e| panic!("{e}"));
                case += 1;
            }
        }
    }
}

/// The transposed-C entry points store bitwise what the normal entry points store, transposed: every m = 1..=MR,
/// n from one column to three panels, every residual and clamp choice, NaN in one A row and in one residual
/// element (NaN must survive the residual add and the clamp), guards around and between C's columns.
#[test]
fn gemm_transposed_matches_normal_bitwise() {
    let clamps = [None, Some((-0.3f32, 0.4f32)), Some((0.1, 0.1)), Some((0.0, f32::INFINITY))];
    for kern in kernels() {
        let (nr, l) = (kern.nr(), kern.lanes);
        let mut case = 0u64;
        for m in 1..=kern.mr {
            for n in (1..=3 * nr).filter(|&n| width_allowed(kern, n)) {
                let nv = if n <= nr { n.div_ceil(l) } else { kern.nv };
                let (width, k) = (nv * l, KS[case as usize % 6]);
                let panels = n.div_ceil(width);
                let residual = [Residual::None, Residual::Separate, Residual::InPlace][case as usize % 3];
                let (min, max) =
                    clamps[(case as usize / 3) % clamps.len()].unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
                let ctx = format!("{} m {m} n {n} k {k} {residual:?} clamp [{min}, {max}]", kern.name);
                let mut av = data(m * k, case);
                let nan_row = case as usize % m;
                av[nan_row * k + k / 2] = f32::NAN;
                let a: Vec<*const f32> = (0..m).map(|i| av[i * k..].as_ptr()).collect();
                // Panels of k rows of `width` floats (zero past column n), column bias first.
                let (bv, bias) = (data(k * n, case + 1), data(n, case + 2));
                let b_stride = (k + 1) * width;
                let mut b = vec![0f32; panels * b_stride];
                for j in 0..n {
                    let (q, jj) = (j / width, j % width);
                    b[q * b_stride + jj] = bias[j];
                    for kk in 0..k {
                        b[q * b_stride + (kk + 1) * width + jj] = bv[kk * n + j];
                    }
                }
                let mut rv = data(m * n, case + 3);
                rv[(m * n) / 2] = f32::NAN;
                // Normal: m rows of n (stride n + 3); transposed: n columns of m (stride m + 2), guards around.
                let (rs_n, rs_t) = (n + 3, m + 2);
                let mut c_n = vec![f32::from_bits(GUARD_BITS); 2 * GUARD + (m - 1) * rs_n + n];
                let mut c_t = vec![f32::from_bits(GUARD_BITS); 2 * GUARD + (n - 1) * rs_t + m];
                let (mut r_n, mut r_t) = (vec![f32::NAN; m * rs_n], vec![f32::NAN; n * rs_t]);
                for i in 0..m {
                    for j in 0..n {
                        r_n[i * rs_n + j] = rv[i * n + j];
                        r_t[i + j * rs_t] = rv[i * n + j];
                        if residual == Residual::InPlace {
                            c_n[GUARD + i * rs_n + j] = rv[i * n + j];
                            c_t[GUARD + i + j * rs_t] = rv[i * n + j];
                        }
                    }
                }
                for (transposed, c, r, rs) in [(false, &mut c_n, &r_n, rs_n), (true, &mut c_t, &r_t, rs_t)] {
                    let cp = c[GUARD..].as_mut_ptr();
                    let tile = GemmTile {
                        mr: m,
                        nr: n,
                        k,
                        segs: 1,
                        a: &a,
                        csa: 1,
                        rsa: 0,
                        b: b[width..].as_ptr(),
                        ldb: width,
                        b_stride,
                        bias_col: b.as_ptr(),
                        bias_row: core::ptr::null(),
                        c: cp,
                        rsc: rs,
                        res: match residual {
                            Residual::None => core::ptr::null(),
                            Residual::Separate => r.as_ptr(),
                            Residual::InPlace => cp,
                        },
                        rsr: rs,
                        min,
                        max,
                        prefetch: Prefetch::None,
                    };
                    let f = if transposed { (kern.select_t)(m, nv) } else { (kern.select)(m, nv) };
                    // SAFETY: A rows of k floats; `panels` panels `b_stride` apart of a bias row and k rows of `width`
                    // floats; C and the residual hold m x n elements at the strides above (rows, or columns when
                    // transposed), inside the vectors; the CPU runs `kern.isa`.
                    unsafe { f(&tile) };
                }
                for i in 0..m {
                    for j in 0..n {
                        let (x, y) = (c_n[GUARD + i * rs_n + j], c_t[GUARD + i + j * rs_t]);
                        assert_eq!(x.to_bits(), y.to_bits(), "{ctx}: C[{i}][{j}] normal {x} transposed {y}");
                        if i == nan_row || (residual != Residual::None && i * n + j == (m * n) / 2) {
                            assert!(y.is_nan(), "{ctx}: C[{i}][{j}] = {y}, expected NaN");
                        }
                    }
                }
                for (idx, v) in c_t.iter().enumerate() {
                    let off = idx.wrapping_sub(GUARD);
                    let in_tile = idx >= GUARD && off / rs_t < n && off % rs_t < m;
                    assert!(in_tile || v.to_bits() == GUARD_BITS, "{ctx}: C[{idx}] outside the tile written: {v}");
                }
                case += 1;
            }
        }
    }
}

/// Every option combination on the corner tiles (full, single row/column, one past a vector).
#[test]
fn gemm_all_options_on_corner_tiles() {
    let opts = all_opts();
    for kern in kernels() {
        let l = kern.lanes;
        let mut tiles = vec![(kern.mr, kern.nr()), (1, 1), (kern.mr, 1), (1, kern.nr()), (kern.mr - 1, l.max(2) - 1)];
        if kern.nv > 1 {
            tiles.push((kern.mr, l + 1));
        }
        for (t, &(m, n)) in tiles.iter().enumerate() {
            for (oi, &o) in opts.iter().enumerate() {
                let k = KS[(t + oi) % 5];
                run_tile(kern, m, n, k, o, (t * 1000 + oi) as u64).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

/// NaN handling inside a tile: a NaN in A row `i` reaches exactly row `i` and survives the clamp.
#[test]
fn gemm_nan_stays_in_its_row() {
    for kern in kernels() {
        let (m, n, k) = (kern.mr, kern.nr() - 1, 5);
        let lanes = kern.lanes;
        let nv = n.div_ceil(lanes);
        let ldb = kern.nr();
        let mut av = data(m * k, 1);
        av[(m / 2) * k + 2] = f32::NAN;
        let a: Vec<*const f32> = (0..m).map(|i| av[i * k..].as_ptr()).collect();
        let mut b = vec![0.0; k * ldb];
        for kk in 0..k {
            b[kk * ldb..kk * ldb + n].copy_from_slice(&data(n, 2 + kk as u64));
        }
        let mut c = vec![0.0f32; m * n];
        let tile = GemmTile {
            mr: m,
            nr: n,
            k,
            segs: 1,
            a: &a,
            csa: 1,
            rsa: 0,
            b: b.as_ptr(),
            ldb,
            b_stride: 0,
            bias_col: core::ptr::null(),
            bias_row: core::ptr::null(),
            c: c.as_mut_ptr(),
            rsc: n,
            res: core::ptr::null(),
            rsr: 0,
            min: 0.0,
            max: 6.0,
            prefetch: Prefetch::None,
        };
        // SAFETY: rows of `k` contiguous floats, B `k` rows of `ldb = nr` floats, C `m x n` contiguous.
        unsafe { (kern.select)(m, nv)(&tile) };
        for i in 0..m {
            for j in 0..n {
                let v = c[i * n + j];
                assert_eq!(v.is_nan(), i == m / 2, "{} C[{i}][{j}] = {v}", kern.name);
            }
        }
    }
}

/// The 1x1 path through the API: channel counts around every vector width, odd spatial sizes (3 x 21: full 16- and
/// 8-row tiles across output rows, through the strided entries, and a shorter last tile), both layouts.
#[test]
fn pointwise_channel_sweep() {
    let list = isas();
    let mut case = 0u64;
    for c_in in [1, 3, 7, 17, 257] {
        for c_out in [1, 7, 8, 9, 15, 16, 17, 31, 33] {
            for (h, w, batch) in [(3, 5, 1), (7, 1, 2), (1, 9, 1), (3, 21, 1)] {
                for layout in [Layout::Nhwc, Layout::Nchw] {
                    let wl = [WeightLayout::Ohwi, WeightLayout::Oihw, WeightLayout::Hwio][case as usize % 3];
                    let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).batch(batch).layout(layout).weight_layout(wl);
                    let bias = case.is_multiple_of(2);
                    let residual = [Residual::None, Residual::Separate, Residual::InPlace][case as usize % 3];
                    let clamp = [Clamp::None, Clamp::Relu6, Clamp::Range(-0.2, 0.3), Clamp::Relu][case as usize % 4];
                    let threads = 1 + (case as usize % 2);
                    check_isas(&p, &list, bias, residual, clamp, threads, case).unwrap_or_else(|e| panic!("{e}"));
                    case += 1;
                }
            }
        }
    }
}

/// Reductions long enough for the drivers' K and N blocking (weight panels past L1/L2), both layouts.
#[test]
fn long_reduction_sweep() {
    let list = isas();
    let cases = [
        Conv2dParams::new(5, 5, 300, 70, 3, 3).padding(1, 1, 1, 1),
        Conv2dParams::new(4, 6, 256, 40, 3, 3).groups(2).stride(2, 1),
        Conv2dParams::new(7, 3, 1100, 20, 1, 1),
        Conv2dParams::new(3, 3, 2048, 35, 1, 1).batch(2),
    ];
    for (i, p) in cases.into_iter().enumerate() {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            let p = p.layout(layout);
            let residual = [Residual::None, Residual::Separate, Residual::InPlace][i % 3];
            check_isas(&p, &list, true, residual, Clamp::None, 1 + i % 2, i as u64).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// NCHW 1x1 layers read in place over the shortest reductions (K <= 16) take pixel blocks of up to 32 panels: planes
/// longer than one and several such blocks, a ragged last block, one and two threads, against the reference.
#[test]
fn nchw_short_reduction_long_blocks() {
    let list = isas();
    let cases = [(40, 41, 16, 40), (33, 70, 9, 96), (64, 40, 16, 33)];
    for (i, (h, w, c_in, c_out)) in cases.into_iter().enumerate() {
        let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).layout(Layout::Nchw);
        let residual = [Residual::Separate, Residual::InPlace, Residual::None][i % 3];
        for threads in [1, 2] {
            check_isas(&p, &list, true, residual, Clamp::Relu6, threads, i as u64).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// Contiguous NHWC 1x1 layers whose weight panels outgrow L1 over short reductions run in column strips of one
/// panel (every tile on a panel, then the next panel; 8 x 32 tiles): full tiles and tiles one row short, a last
/// panel of 24 columns, bias, residual and clamp, one and two threads; checked against the reference.
#[test]
fn panel_strips_sweep() {
    let list = isas();
    let cases = [(7, 9, 64, 184), (5, 13, 200, 256), (8, 8, 256, 192), (3, 5, 130, 120)];
    for (i, (h, w, c_in, c_out)) in cases.into_iter().enumerate() {
        let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).layout(Layout::Nhwc);
        let residual = [Residual::None, Residual::Separate, Residual::InPlace][i % 3];
        let clamp = [Clamp::Relu6, Clamp::None, Clamp::Range(-0.2, 0.3)][i % 3];
        for threads in [1, 2] {
            check_isas(&p, &list, i % 2 == 0, residual, clamp, threads, i as u64).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// 1x1 layers of at most 32 outputs whose input and output pass 1 MiB a thread prefetch the input they read next:
/// NHWC the next tile's rows during each tile (full tiles and tiles one row short: an odd pixel count), NCHW the
/// next panel of pixels during each panel's first channel tile; 16, 24 and 32 outputs, bias, residual and clamp, one
/// thread (prefetching) and two (the second layer below 1 MiB a thread, not prefetching; the others above); checked
/// against the reference.
#[test]
fn narrow_layers_past_l2_prefetch_their_next_input() {
    let list = isas();
    let cases = [(127, 129, 32, 16), (80, 80, 56, 24), (128, 128, 32, 32)];
    for (i, (h, w, c_in, c_out)) in cases.into_iter().enumerate() {
        for layout in [Layout::Nhwc, Layout::Nchw] {
            let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).layout(layout);
            let bytes = 4 * h * w * (c_in + c_out);
            assert!(bytes >= 1 << 20, "{p:?}: {bytes} bytes, too few to prefetch on one thread");
            assert_eq!(i == 1, bytes / 2 < 1 << 20, "{p:?}: two threads should prefetch all but the second layer");
            let residual = [Residual::Separate, Residual::None, Residual::InPlace][i % 3];
            let clamp = [Clamp::None, Clamp::Relu6, Clamp::Range(-0.2, 0.3)][i % 3];
            for threads in [1, 2] {
                let seed = i as u64;
                check_isas(&p, &list, i != 1, residual, clamp, threads, seed).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

/// NHWC layers with at most one vector of output channels, or short reductions on CPUs that split 512-bit FMAs,
/// run the ISA's tall one-vector kernel (where it has one), the others the general kernel, and outputs that 16
/// lanes pad by a quarter the 8 x 24 tile (AVX-512 family); all through the whole API, checked against the
/// reference.
#[test]
fn narrow_outputs_and_short_reductions_use_the_tall_kernel() {
    use simdconv::ukernel::gemm::TALL_MAX_K;
    use simdconv::{Conv2d, PlanOptions};
    for isa in isas() {
        for c_in in [19, TALL_MAX_K, TALL_MAX_K + 1] {
            for c_out in [1, 9, 16, 17, 24, 40] {
                let p = Conv2dParams::new(9, 7, c_in, c_out, 1, 1).batch(2);
                let w = data(p.validate().unwrap().weight_len, 4);
                let opts = PlanOptions { isa: Some(isa), ..Default::default() };
                let conv = Conv2d::with_options(p, &w, None, opts).unwrap();
                let name = conv.kernel_choice().kernel;
                let tall = REGISTRY.iter().find(|k| k.isa == isa && k.nv == 1 && k.mr > 8);
                // The 8-lane tile of the AVX-512 family takes 1-8 and 17-24 outputs where 8-lane FMAs cost no
                // throughput (the stand-ins always).
                let narrow = REGISTRY.iter().find(|k| k.isa == isa && k.lanes == 8 && k.nv == 3);
                let split = isa != Isa::Avx512 || simdconv::isa::split_512_fma();
                match (tall, narrow) {
                    (_, Some(g)) if split && c_out <= g.nr() && (1..=8).contains(&(c_out % 16)) => {
                        assert_eq!(name, g.name, "{isa} c_in {c_in} c_out {c_out}")
                    }
                    // Short reductions at any width where 512-bit FMAs are split (the 8 x 32 tile's fewer loads per
                    // FMA win where they are not).
                    (Some(t), _) if c_out <= t.lanes || (c_in <= TALL_MAX_K && split) => {
                        assert_eq!(name, t.name, "{isa} c_in {c_in} c_out {c_out}")
                    }
                    _ => assert!(!name.starts_with("f32_gemm_16x16"), "{isa} c_in {c_in} c_out {c_out}: {name}"),
                }
                check_isas(&p, &[isa], true, Residual::Separate, Clamp::Relu6, 1, c_out as u64)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
    // Grouped and spatial NHWC layers whose groups have 17-24 (or at most 8) outputs take the 8 x 24 tile too
    // (per-group panels, indirect rows, padding, strides), on two threads.
    let list = isas();
    for (case, (c_in, c_out, groups, k, stride)) in
        [(48, 48, 2, 3, 1), (40, 40, 2, 1, 2), (18, 60, 3, 3, 2), (64, 8, 1, 3, 1), (7, 24, 1, 5, 1)]
            .into_iter()
            .enumerate()
    {
        let p = Conv2dParams::new(11, 9, c_in, c_out, k, k)
            .groups(groups)
            .stride(stride, stride)
            .padding(k / 2, k / 2, k / 2, k / 2)
            .batch(2);
        check_isas(&p, &list, true, Residual::InPlace, Clamp::Relu6, 2, 500 + case as u64)
            .unwrap_or_else(|e| panic!("{e}"));
        let w = data(p.validate().unwrap().weight_len, 5);
        let opts = PlanOptions { isa: Some(Isa::Avx512Portable), ..Default::default() };
        let name = Conv2d::with_options(p, &w, None, opts).unwrap().kernel_choice().kernel;
        assert_eq!(name, "f32_gemm_8x24__avx512_ymm_portable", "{p:?}");
    }
}

/// NHWC layers of at least `WIDE_MIN_N` outputs on native AVX-512 with two 512-bit FMA units take the wide tiles
/// (4 x 96 for multiples of 96 outputs over reductions of at most 64, else 6 x 64), every other ISA or CPU what it
/// took before; the layers (1x1 read in place, strided, 3x3 through indirect rows with padding, grouped) with
/// ragged last panels and tiles, every epilogue and one to three threads, against the reference.
#[test]
fn wide_outputs_take_the_wide_tiles() {
    use simdconv::ukernel::gemm::{WIDE_MIN_N, for_nhwc, wide_for_nhwc};
    use simdconv::{Conv2d, PlanOptions};
    let list = isas();
    let mut case = 700u64;
    for isa in list.iter().copied() {
        for c_in in [16, 64, 65, 300] {
            for c_out in [WIDE_MIN_N - 1, WIDE_MIN_N, 64, 96, 100, 160, 192] {
                let p = Conv2dParams::new(7, 9, c_in, c_out, 1, 1).batch(2);
                let w = data(p.validate().unwrap().weight_len, 6);
                let opts = PlanOptions { isa: Some(isa), ..Default::default() };
                let name = Conv2d::with_options(p, &w, None, opts).unwrap().kernel_choice().kernel;
                let wide = wide_for_nhwc(isa, c_out, c_in);
                let native = isa == Isa::Avx512 && !simdconv::isa::split_512_fma();
                assert_eq!(wide.is_some(), native && c_out >= WIDE_MIN_N, "{isa} {c_in}->{c_out}");
                assert_eq!(name, for_nhwc(isa, c_out, c_in).unwrap().name, "{isa} {c_in}->{c_out}");
                if let Some(g) = wide {
                    let shape = if c_out.is_multiple_of(96) && c_in <= 64 { "4x96" } else { "6x64" };
                    assert_eq!(name, g.name, "{isa} {c_in}->{c_out}");
                    assert!(name.contains(shape), "{isa} {c_in}->{c_out}: {name}");
                }
                let residual = [Residual::None, Residual::Separate, Residual::InPlace][case as usize % 3];
                let clamp = [Clamp::None, Clamp::Relu6, Clamp::Range(-0.2, 0.3)][case as usize % 3];
                check_isas(&p, &[isa], case.is_multiple_of(2), residual, clamp, 1 + case as usize % 3, case)
                    .unwrap_or_else(|e| panic!("{e}"));
                case += 1;
            }
        }
    }
    // Spatial, strided and grouped layers through the same tiles (indirect rows, padding), two threads.
    for (c_in, c_out, groups, k, stride) in
        [(24, 64, 1, 3, 1), (16, 96, 1, 3, 2), (40, 200, 1, 1, 2), (32, 192, 2, 3, 1), (3, 64, 1, 7, 2)]
    {
        let p = Conv2dParams::new(13, 11, c_in, c_out, k, k)
            .groups(groups)
            .stride(stride, stride)
            .padding(k / 2, k / 2, k / 2, k / 2)
            .batch(2);
        check_isas(&p, &list, true, Residual::Separate, Clamp::Relu6, 2, case).unwrap_or_else(|e| panic!("{e}"));
        case += 1;
    }
}

/// NCHW 1x1 layers in pixel lanes take the wide 6 x 64 tile where `wide_for_nchw_lanes` says (native AVX-512 with two
/// FMA units, 24 or more output channels, planes of 512 pixels, not a short reduction over one under 1024): planes
/// that 64 does not divide, output channels that 6 does not, reductions read in place and packed, every epilogue,
/// one to three threads, against the reference; the choice per host; spatial layers (im2col) by the same rule.
#[test]
fn nchw_pixel_lanes_take_the_wide_tile() {
    use simdconv::ukernel::gemm::wide_for_nchw_lanes;
    use simdconv::{Conv2d, PlanOptions};
    let mut case = 900u64;
    for isa in isas() {
        for (h, w) in [(33, 33), (9, 13), (32, 32)] {
            for c_in in [16, 33, 64, 130] {
                for c_out in [23, 24, 50, 64] {
                    let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).layout(Layout::Nchw);
                    let wts = data(p.validate().unwrap().weight_len, 7);
                    let opts = PlanOptions { isa: Some(isa), ..Default::default() };
                    let conv = Conv2d::with_options(p, &wts, None, opts).unwrap();
                    let choice = conv.kernel_choice();
                    if choice.algorithm == "pointwise-nchw" {
                        let plane = h * w;
                        let want = wide_for_nchw_lanes(isa, c_out, c_in, plane);
                        let native = isa == Isa::Avx512 && !simdconv::isa::split_512_fma();
                        let rule = c_out >= 24 && plane >= 512 && (c_in > 32 || plane >= 1024);
                        assert_eq!(want.is_some(), native && rule, "{p:?}");
                        if let Some(g) = want {
                            assert_eq!(choice.kernel, g.name, "{isa} {p:?}");
                        }
                    }
                    let residual = [Residual::None, Residual::Separate, Residual::InPlace][case as usize % 3];
                    let clamp = [Clamp::None, Clamp::Relu6, Clamp::Range(-0.2, 0.3)][case as usize % 3];
                    check_isas(&p, &[isa], !case.is_multiple_of(4), residual, clamp, 1 + case as usize % 3, case)
                        .unwrap_or_else(|e| panic!("{e}"));
                    case += 1;
                }
            }
        }
        // Spatial layers (im2col panels) by the same rule: padding, strides, groups, two threads.
        for (c_in, c_out, groups, k, stride, h) in [
            (3, 32, 1, 3, 2, 45),
            (16, 24, 1, 3, 1, 24),
            (8, 64, 2, 3, 1, 23),
            (3, 64, 1, 7, 2, 64),
            (40, 50, 1, 3, 2, 45),
        ] {
            let p = Conv2dParams::new(h, h + 1, c_in, c_out, k, k)
                .groups(groups)
                .stride(stride, stride)
                .padding(k / 2, k / 2, k / 2, k / 2)
                .layout(Layout::Nchw);
            let s = p.validate().unwrap();
            let wts = data(s.weight_len, 8);
            let opts = PlanOptions { isa: Some(isa), ..Default::default() };
            let conv = Conv2d::with_options(p, &wts, None, opts).unwrap();
            let choice = conv.kernel_choice();
            let plane = s.out_height * s.out_width;
            if let Some(g) = wide_for_nchw_lanes(isa, c_out / groups, c_in / groups * k * k, plane) {
                assert_eq!((choice.algorithm, choice.kernel), ("im2col-gemm-nchw", g.name), "{isa} {p:?}");
            }
            check_isas(&p, &[isa], true, Residual::Separate, Clamp::Relu6, 2, case).unwrap_or_else(|e| panic!("{e}"));
            case += 1;
        }
    }
}

/// NCHW pixel rows take the 8 x 48 tile where `for_pixel_rows` says (native AVX-512 with two FMA units, at least
/// `PIXEL_ROWS_X48_MIN_N` output channels per group), else the tile they took before: output channel counts around
/// the bound and around the 48-wide panels (ragged last panels of one and two vectors, run apart from the full
/// ones over short reductions), planes that 8 does not divide, batches and groups, every epilogue, one to three
/// threads, against the reference; the choice per host.
#[test]
fn nchw_pixel_rows_take_the_8x48_tile() {
    use simdconv::ukernel::gemm::{PIXEL_ROWS_X48_MIN_N, for_gemm, for_pixel_rows};
    use simdconv::{Conv2d, PlanOptions};
    let mut case = 1100u64;
    for isa in isas() {
        let native = isa == Isa::Avx512 && !simdconv::isa::split_512_fma();
        // Reductions up to 256 run a narrow last panel apart from the full ones; longer ones every panel per tile.
        for (c_in, groups) in [(200, 1), (300, 1), (520, 2)] {
            for c_out in [64, PIXEL_ROWS_X48_MIN_N - 1, PIXEL_ROWS_X48_MIN_N, 112, 144, 161, 256] {
                for (h, w, batch) in [(7, 7, 1), (5, 3, 2)] {
                    let c_out = c_out * groups;
                    let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).batch(batch).groups(groups).layout(Layout::Nchw);
                    let wts = data(p.validate().unwrap().weight_len, 9);
                    let opts = PlanOptions { isa: Some(isa), ..Default::default() };
                    let conv = Conv2d::with_options(p, &wts, None, opts).unwrap();
                    let choice = conv.kernel_choice();
                    let (n, k) = (c_out / groups, c_in / groups);
                    let want = for_pixel_rows(isa, n, k).unwrap();
                    let x48 = want.mr == 8 && want.nv == 3 && want.lanes == 16;
                    assert_eq!(x48, native && n >= PIXEL_ROWS_X48_MIN_N, "{isa} {p:?}");
                    if !x48 {
                        assert_eq!(want.name, for_gemm(isa, n, k).unwrap().name, "{isa} {p:?}");
                    }
                    // Pixel rows (16-lane kernels only) on every one of these shapes.
                    if want.lanes == 16 {
                        assert_eq!((choice.algorithm, choice.kernel), ("pointwise-nchw-rows", want.name), "{p:?}");
                    }
                    let residual = [Residual::None, Residual::Separate, Residual::InPlace][case as usize % 3];
                    let clamp = [Clamp::None, Clamp::Relu6, Clamp::Range(-0.2, 0.3), Clamp::Relu][case as usize % 4];
                    check_isas(&p, &[isa], !case.is_multiple_of(3), residual, clamp, 1 + case as usize % 3, case)
                        .unwrap_or_else(|e| panic!("{e}"));
                    case += 1;
                }
            }
        }
        if native {
            // The suite's 14x14 1024->256 takes it; 64 outputs keep the 8 x 32 tile.
            let name = |h: usize, c_in: usize, c_out: usize| {
                let p = Conv2dParams::new(h, h, c_in, c_out, 1, 1).layout(Layout::Nchw);
                let wts = data(p.validate().unwrap().weight_len, 1);
                let opts = PlanOptions { isa: Some(isa), ..Default::default() };
                Conv2d::with_options(p, &wts, None, opts).unwrap().kernel_choice().kernel
            };
            assert_eq!(name(14, 1024, 256), "f32_gemm_8x48__avx512");
            assert_eq!(name(56, 256, 64), "f32_gemm_8x32__avx512");
        }
    }
}

/// NCHW 1x1 layers chosen for pixel rows on 16-lane kernels (by reduction length and idle lanes; output channels in
/// the lanes, C stored transposed): channel counts around the vector widths, odd planes, batches and groups, every
/// epilogue, against the reference on every ISA under test; and the choice itself on canonical shapes.
#[test]
fn nchw_pixel_rows_sweep() {
    use simdconv::{Conv2d, PlanOptions};
    let list = isas();
    let mut case = 0u64;
    for (c_in, groups) in [(64, 1), (130, 1), (200, 1), (257, 1), (300, 1), (600, 2)] {
        for c_out in [1, 9, 16, 17, 40, 64] {
            for (h, w, batch) in [(7, 7, 1), (3, 5, 2), (1, 1, 2), (14, 13, 1)] {
                let c_out = c_out * groups;
                let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).batch(batch).groups(groups).layout(Layout::Nchw);
                let residual = [Residual::None, Residual::Separate, Residual::InPlace][case as usize % 3];
                let clamp = [Clamp::None, Clamp::Relu6, Clamp::Range(-0.2, 0.3), Clamp::Relu][case as usize % 4];
                let threads = 1 + (case as usize % 2);
                check_isas(&p, &list, case % 3 != 2, residual, clamp, threads, case).unwrap_or_else(|e| panic!("{e}"));
                case += 1;
            }
        }
    }
    // Planes of at least 512 pixels: A prefetched a plane per k step ahead (the last rows' lines past the input's
    // end are only prefetched, never read).
    for (c_in, c_out, h, w) in [(200, 48, 23, 23), (300, 64, 24, 22), (257, 32, 32, 16)] {
        let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).layout(Layout::Nchw);
        let residual = [Residual::None, Residual::Separate, Residual::InPlace][case as usize % 3];
        check_isas(&p, &list, true, residual, Clamp::Relu6, 1, case).unwrap_or_else(|e| panic!("{e}"));
        case += 1;
    }
    for &isa in &list {
        // Pixel rows are chosen for 16-lane kernels (AVX-512 and its stand-ins) only.
        let sixteen = REGISTRY.iter().any(|k| k.isa == isa && k.lanes == 16);
        let rows = if sixteen { "pointwise-nchw-rows" } else { "pointwise-nchw" };
        let plane_name = |h: usize, w: usize, c_in: usize, c_out: usize| {
            let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).layout(Layout::Nchw);
            let w = data(p.validate().unwrap().weight_len, 1);
            let opts = PlanOptions { isa: Some(isa), ..Default::default() };
            Conv2d::with_options(p, &w, None, opts).unwrap().kernel_choice().algorithm
        };
        let name = |h: usize, c_in: usize, c_out: usize| plane_name(h, h, c_in, c_out);
        assert_eq!(name(7, 512, 2048), rows, "{isa}");
        assert_eq!(name(56, 64, 64), "pointwise-nchw", "{isa}");
        // Shorter reductions take pixel rows only where the pixel lanes idle more (by reduction length, idle lanes
        // and output channels).
        assert_eq!(name(56, 256, 64), rows, "{isa}");
        // 48 outputs fill three 16-lane rows of the tall tile, but two 32-wide panels of the 8 x 32 tile only by
        // three quarters: the latter (short reductions where 512-bit FMAs are not split) keeps the pixel lanes.
        let tall_short = isa != Isa::Avx512 || simdconv::isa::split_512_fma();
        assert_eq!(name(23, 200, 48), if tall_short { rows } else { "pointwise-nchw" }, "{isa}");
        assert_eq!(name(17, 128, 128), rows, "{isa}");
        assert_eq!(name(28, 128, 512), "pointwise-nchw", "{isa}");
        assert_eq!(name(7, 64, 256), rows, "{isa}");
        assert_eq!(name(14, 64, 256), "pointwise-nchw", "{isa}");
        // Planes a multiple of 4 KiB apart (32x32, 64x64) keep the pixel lanes; 16x16 planes (1 KiB) take rows.
        assert_eq!(name(32, 512, 128), "pointwise-nchw", "{isa}");
        assert_eq!(name(64, 256, 64), "pointwise-nchw", "{isa}");
        assert_eq!(name(16, 512, 128), rows, "{isa}");
        // 2 KiB apart (16x32): pixel lanes from a reduction of 1024 on.
        assert_eq!(plane_name(16, 32, 1024, 256), "pointwise-nchw", "{isa}");
        assert_eq!(plane_name(16, 32, 512, 128), rows, "{isa}");
    }
    // The shapes that choice moves, against the reference (batches and groups keep the planes' spacing).
    for (c_in, c_out, h, w, batch, groups) in
        [(512, 128, 32, 32, 1, 1), (300, 72, 16, 64, 2, 1), (256, 96, 32, 32, 1, 2), (1030, 40, 8, 64, 1, 1)]
    {
        let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).batch(batch).groups(groups).layout(Layout::Nchw);
        let residual = [Residual::None, Residual::Separate, Residual::InPlace][case as usize % 3];
        check_isas(&p, &list, true, residual, Clamp::Relu6, 1 + case as usize % 2, case)
            .unwrap_or_else(|e| panic!("{e}"));
        case += 1;
    }
}

/// NCHW 1x1 layers over packed pixel-lane panels, whose reduction runs in blocks on 16-lane kernels (from 129 rows on
/// with the 6 x 64 tile, partial sums through the output): stride 2, padding, planes 4 KiB apart, groups and batches;
/// reductions one row past a block, split evenly, unevenly and long; output channels past and short of a tile; against
/// the reference with bias, residual (separate and in place) and clamps (a clamp of a partial sum would show), one and
/// two threads, on every ISA under test.
#[test]
fn nchw_reduction_blocks_sweep() {
    let list = isas();
    let mut case = 0u64;
    for c_in in [129, 256, 300, 1030] {
        for (h, w, stride, pad, batch, groups) in
            [(13, 11, 2, 0, 1, 1), (9, 9, 1, 1, 2, 1), (32, 32, 1, 0, 1, 1), (10, 12, 2, 1, 1, 2)]
        {
            for c_out in [7, 70] {
                let layer = (h, w, c_in * groups, c_out * groups, 1, stride, pad, batch, groups);
                check_nchw_case(&list, layer, 1 + (case as usize % 2), case);
                case += 1;
            }
        }
    }
}

/// NCHW pixel-lane layers whose pixel blocks several channel blocks share (small planes, many output channels, two
/// to four threads) pack every block once, up front, into one shared buffer: im2col 3x3 (padded, stride 1 and 2),
/// 5x5 and 1x1 stride 2, planes of one and several blocks (and a ragged last panel), groups and batches, against the
/// reference with bias, residual (separate and in place) and clamps, on every ISA under test.
#[test]
fn nchw_shared_pack_sweep() {
    let list = isas();
    let mut case = 0u64;
    let layers: [NchwLayer; 6] = [
        (7, 7, 64, 256, 3, 1, 1, 1, 1),
        (9, 9, 33, 130, 3, 2, 1, 1, 1),
        (14, 14, 200, 256, 1, 2, 0, 1, 1),
        (5, 6, 24, 256, 5, 1, 2, 2, 1),
        (7, 7, 64, 256, 3, 1, 1, 1, 2),
        (12, 10, 48, 160, 3, 1, 0, 1, 1),
    ];
    for layer in layers {
        for threads in [2, 3, 4] {
            check_nchw_case(&list, layer, threads, case);
            case += 1;
        }
    }
}

/// An NCHW layer for [`check_nchw_case`]: `(h, w, c_in, c_out, kernel, stride, pad, batch, groups)`, square kernel,
/// stride and padding.
type NchwLayer = (usize, usize, usize, usize, usize, usize, usize, usize, usize);

/// Checks `layer` on every ISA in `list` against the reference, on `threads` threads, bias, residual and clamp cycled
/// by `case`.
fn check_nchw_case(
    list: &[Isa],
    (h, w, c_in, c_out, kernel, stride, pad, batch, groups): NchwLayer,
    threads: usize,
    case: u64,
) {
    let p = Conv2dParams::new(h, w, c_in, c_out, kernel, kernel)
        .stride(stride, stride)
        .padding(pad, pad, pad, pad)
        .batch(batch)
        .groups(groups)
        .layout(Layout::Nchw);
    let residual = [Residual::None, Residual::Separate, Residual::InPlace][case as usize % 3];
    let clamp = [Clamp::Range(-0.2, 0.3), Clamp::Relu6, Clamp::None, Clamp::Relu][case as usize % 4];
    check_isas(&p, list, case % 5 != 4, residual, clamp, threads, case).unwrap_or_else(|e| panic!("{e}"));
}

/// The run entries of every kernel (consecutive tiles in one call) write bitwise what the single-tile entries
/// write tile by tile: the any-spacing entry (NHWC rows) and the pixel-row entry (A rows one float apart, elements a
/// plane apart, C transposed), for full tiles and for tiles one row short (against the pointer-table entry for that
/// many rows); one to five tiles, widths from the narrowest full-tile width to two panels, reductions around the
/// unroll, row spacings equal to and past the reduction, with and without bias, residual and clamp; nothing past
/// the run's rows is written.
#[test]
fn gemm_runs_match_single_tiles() {
    let mut case = 0u64;
    let guard = f32::from_bits(GUARD_BITS);
    for kern in kernels() {
        let (mr_full, nr) = (kern.mr, kern.nr());
        for (transposed, short) in [(false, false), (true, false), (false, true), (true, true)] {
            let mr = mr_full - usize::from(short);
            for count in [1, 2, 5] {
                // Full-tile entries take widths whose last panel is wider than `(nv - 1)` vectors.
                for n in [(kern.nv - 1) * kern.lanes + 1, nr, 2 * nr - 1, 2 * nr]
                    .into_iter()
                    .filter(|&n| kern.whole_panels(n))
                {
                    for (k, spacing) in [(1, 1), (16, 19), (33, 33), (40, 64)] {
                        case += 1;
                        let rows = count * mr;
                        // (csa, rsa, A floats, rsc, C floats, A and C offsets of tile i)
                        let (csa, rsa, alen, rsc) = if transposed {
                            (rows + spacing % 7, 1, (rows + spacing % 7) * k, rows + 3)
                        } else {
                            (1, spacing, rows * spacing, n)
                        };
                        let clen = if transposed { n * rsc } else { rows * n };
                        let (a_step, c_step) = if transposed { (mr, mr) } else { (mr * spacing, mr * n) };
                        let past_run =
                            |idx: usize| if transposed { idx >= clen || idx % rsc >= rows } else { idx >= clen };
                        let panels = n.div_ceil(nr);
                        let (ldb, b_stride) = (nr, nr * (k + 1));
                        let b = data(panels * b_stride, case);
                        let a = data(alen + 3, case + 1000);
                        let res = data(clen + GUARD, case + 2000);
                        let with_res = case.is_multiple_of(2);
                        let (min, max) =
                            if case.is_multiple_of(3) { (-0.25, 0.5) } else { (f32::NEG_INFINITY, f32::INFINITY) };
                        macro_rules! tile {
                            ($c:expr, $r:expr, $seg:expr) => {
                                GemmTile {
                                    mr,
                                    nr: n,
                                    k,
                                    segs: 1,
                                    a: &$seg[..],
                                    csa,
                                    rsa,
                                    b: b[nr..].as_ptr(),
                                    ldb,
                                    b_stride,
                                    bias_col: if case % 4 == 1 { std::ptr::null() } else { b.as_ptr() },
                                    bias_row: std::ptr::null(),
                                    c: $c,
                                    rsc,
                                    res: if with_res { $r } else { std::ptr::null() },
                                    rsr: rsc,
                                    min,
                                    max,
                                    // Pixel rows: A a few k steps ahead; contiguous rows: the next tile.
                                    prefetch: match (transposed, case % 2) {
                                        (true, 1) => Prefetch::Columns,
                                        (false, 1) if spacing == k => Prefetch::NextTile,
                                        _ => Prefetch::None,
                                    },
                                }
                            };
                        }
                        let (single, run) = match (transposed, short) {
                            (false, false) => (kern.strided_any, kern.strided_any_run),
                            (true, false) => (kern.pixel_rows, kern.pixel_rows_run),
                            (false, true) => ((kern.select)(mr, kern.nv), kern.strided_any_short_run),
                            (true, true) => ((kern.select_t)(mr, kern.nv), kern.pixel_rows_short_run),
                        };
                        let mut want = vec![guard; clen + GUARD];
                        for i in 0..count {
                            // Full tiles: the strided entries' one pointer; short ones: a pointer per row.
                            let seg: Vec<*const f32> = if short {
                                (0..mr).map(|r| a[i * a_step + r * rsa..].as_ptr()).collect()
                            } else {
                                vec![a[i * a_step..].as_ptr()]
                            };
                            let t = tile!(want[i * c_step..].as_mut_ptr(), res[i * c_step..].as_ptr(), seg);
                            // SAFETY: one tile inside the buffers above.
                            unsafe { single(&t) };
                        }
                        let mut got = vec![guard; clen + GUARD];
                        let seg = [a.as_ptr()];
                        let t = tile!(got.as_mut_ptr(), res.as_ptr(), seg);
                        // SAFETY: `count` consecutive tiles inside the same buffers.
                        unsafe { run(&t, count) };
                        let ctx =
                            format!("{}: transposed {transposed}, {count} tiles of {mr}, n {n}, k {k}", kern.name);
                        assert!(got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()), "{ctx}");
                        let untouched = got.iter().enumerate().filter(|&(i, _)| past_run(i));
                        assert!(untouched.into_iter().all(|(_, g)| g.to_bits() == GUARD_BITS), "{ctx}: past the run");
                    }
                }
            }
        }
    }
}

/// NCHW pixel-lane layers whose input and output start at the same offset within a vector (numpy and `malloc` give
/// 16 bytes past a cache line) run a head block up to the next vector boundary and aligned blocks after it: every
/// offset, planes of whole vectors (and one that is not, which keeps the plain blocking), few and many output
/// channels, reductions read in place and packed, a residual at another offset, one and three threads; all bitwise
/// equal to the first run, which matches the reference.
#[test]
fn nchw_pointwise_at_every_offset_within_a_vector() {
    for isa in isas() {
        for (h, w, c_in, c_out, batch) in
            [(8, 8, 16, 24, 2), (16, 12, 48, 64, 1), (8, 6, 96, 40, 1), (4, 8, 9, 7, 2), (5, 7, 20, 33, 1)]
        {
            let p = Conv2dParams::new(h, w, c_in, c_out, 1, 1).batch(batch).layout(Layout::Nchw).clamp(-0.5, 0.75);
            // Output at the input's offset (the head applies), and once at another one (it does not).
            let placements: Vec<_> =
                (0..16).flat_map(|off| [(off, (off * 7) % 16, off), (off, (off * 7) % 16, (off + 5) % 16)]).collect();
            common::check_placements(&p, isa, 31, &placements, &[1, 3]).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
