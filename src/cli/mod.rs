//! The benchmark command: measure the machine, then check and time every (layer, layout, thread count) cell.

mod args;
mod baseline;
mod check;
mod machine;
mod measure;
mod plot;
mod report;
pub mod shapes;

use args::{Args, USAGE};
use baseline::{Baseline, Pools};
use check::Reference;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use machine::Machine;
use report::{Cell, Val};
use shapes::Row;
use simdconv::{Conv2d, Isa, Layout, PlanOptions};
use std::io::{IsTerminal, Write};
use std::time::Instant;

/// `println!` that ignores a closed stdout (e.g. piped into `head`): the run goes on, writes its files and still
/// reports failures through the exit status.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Runs the command with the process arguments; returns the exit status.
pub fn main() -> i32 {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => return usage_error(&e),
    };
    if args.help {
        let _ = write!(std::io::stdout(), "{USAGE}");
        return 0;
    }
    match run(&args) {
        Ok(all_ok) => {
            if all_ok {
                0
            } else {
                1
            }
        }
        Err(e) => usage_error(&e),
    }
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("simdconv-bench: error: {msg}");
    2
}

/// Deterministic values in [-1, 1] (xorshift32).
fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(0x9e37_79b9) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn load_rows(args: &Args) -> Result<(Vec<Row>, String), String> {
    let (text, source) = match &args.shapes {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        None => (shapes::BUILTIN.to_string(), "built-in shapes.csv".to_string()),
    };
    let mut rows = shapes::parse(&text, &source)?;
    if let Some(f) = &args.filter {
        rows.retain(|r| r.matches(f));
    }
    if rows.is_empty() {
        return Err(format!("no layer of {source} matches the filter"));
    }
    if let Some(b) = args.batch {
        for r in &mut rows {
            r.n = b;
        }
    }
    Ok((rows, source))
}

fn layout_name(l: Layout) -> &'static str {
    match l {
        Layout::Nhwc => "nhwc",
        Layout::Nchw => "nchw",
    }
}

/// Everything one run shares between its cells.
struct Ctx<'a> {
    args: &'a Args,
    isa: Isa,
    machine: Machine,
    pools: Pools,
    bar: ProgressBar,
    cells: Vec<Cell>,
    failures: Vec<String>,
    /// Seconds spent in the reference and the self-checks (the rest is timing).
    check_s: f64,
}

impl Ctx<'_> {
    fn say(&self, line: &str) {
        self.bar.suspend(|| out!("{line}"));
    }

    fn fail(&mut self, what: String) {
        self.bar.suspend(|| eprintln!("simdconv-bench: FAIL: {what}"));
        self.failures.push(what);
    }

    /// Checks and times one layer in one layout, for every thread count; pushes one cell per thread count.
    fn layer(&mut self, row: &Row, layout: Layout) {
        let p = row.params(layout, row.n);
        let s = p.validate().expect("rows are validated when parsed");
        let seed = row.name.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        let w = data(s.weight_len, seed);
        let b = data(p.c_out, seed ^ 0x5555);
        let x = data(s.input_len, seed ^ 0xaaaa);
        let mut y = vec![0f32; s.output_len];
        let bytes = 4 * (s.input_len + s.weight_len + p.c_out + s.output_len) as u64;
        let min_batches = if self.args.quick { 3 } else { 5 };
        let mut base = Cell {
            name: row.name.clone(),
            kind: row.kind(),
            layout: layout_name(layout),
            threads: 0,
            dims: [row.n, row.h, row.w, row.cin, row.cout, row.kh, row.kw, row.stride, row.pad, row.groups],
            out_h: s.out_height,
            out_w: s.out_width,
            flops: s.flops,
            bytes,
            check: "ERROR",
            check_detail: String::new(),
            checked_images: 0,
            err_vs_tol: f64::NAN,
            algorithm: "-".into(),
            kernel: "-".into(),
            isa: self.isa.name().into(),
            time: None,
            peak_gflops: f64::NAN,
            bw_gbs: f64::NAN,
            gemm_time: None,
            gemm_check: "-",
            naive_s: None,
        };
        let what = format!("{} ({})", row.name, layout_name(layout));
        let check_started = Instant::now();
        let planned = Conv2d::with_options(p, &w, Some(&b), PlanOptions { isa: Some(self.isa), ..Default::default() });
        let reference = Reference::new(&p, &x, &w, &b);
        let (conv, reference) = match (planned, reference) {
            (Ok(c), Ok(r)) => (c, r),
            (Err(e), _) => return self.error_cells(base, format!("{what}: cannot plan: {e}")),
            (_, Err(e)) => return self.error_cells(base, format!("{what}: reference failed: {e}")),
        };
        let choice = conv.kernel_choice();
        base.algorithm = choice.algorithm.into();
        base.kernel = choice.kernel.into();
        base.isa = choice.isa.name().into();
        base.checked_images = reference.images;
        base.naive_s = Some(reference.seconds * p.batch as f64 / reference.images as f64);

        // Check every thread count's output (results must not depend on it), before any timing.
        let mut verdict = check::Verdict { ok: true, detail: String::new(), worst: 0.0 };
        for &t in &self.args.threads {
            y.fill(f32::NAN);
            let v = match conv.run_with(&x, &mut y, t, None) {
                Ok(()) => reference.verdict(&y),
                Err(e) => check::Verdict { ok: false, detail: format!("run failed: {e}"), worst: f64::NAN },
            };
            verdict.worst = verdict.worst.max(v.worst);
            if !v.ok {
                verdict.ok = false;
                verdict.detail = format!("{what}, {t} thread(s): {}", v.detail);
                self.fail(format!("output differs from the reference: {}", verdict.detail));
                break;
            }
        }
        base.check = if verdict.ok { "ok" } else { "FAIL" };
        base.check_detail = verdict.detail;
        base.err_vs_tol = verdict.worst;

        let mut gemm = self.args.baseline.then(|| Baseline::new(&p, &w, &b));
        if let Some(g) = gemm.as_mut() {
            y.fill(f32::NAN);
            g.run(&x, &mut y, 1, &mut self.pools);
            let v = reference.verdict(&y);
            base.gemm_check = if v.ok { "ok" } else { "FAIL" };
            if !v.ok {
                self.say(&format!(
                    "warning: the im2col + gemm baseline disagrees with the reference on {what}: {}",
                    v.detail
                ));
            }
        }

        self.check_s += check_started.elapsed().as_secs_f64();
        for &t in &self.args.threads {
            let mut cell = Cell {
                threads: t,
                peak_gflops: self.machine.peak(t),
                bw_gbs: self.machine.bandwidth(t),
                ..base.clone()
            };
            if verdict.ok {
                cell.time = Some(measure::time(self.args.min_time, min_batches, || {
                    conv.run_with(&x, &mut y, t, None).expect("checked above");
                }));
                if let Some(g) = gemm.as_mut() {
                    let pools = &mut self.pools;
                    cell.gemm_time =
                        Some(measure::time(self.args.min_time, min_batches, || g.run(&x, &mut y, t, pools)));
                }
            }
            self.say(&report::table_line(&cell));
            self.cells.push(cell);
            self.bar.inc(1);
        }
    }

    fn error_cells(&mut self, base: Cell, msg: String) {
        self.fail(msg.clone());
        for &t in &self.args.threads {
            let cell = Cell { threads: t, check_detail: msg.clone(), ..base.clone() };
            self.say(&report::table_line(&cell));
            self.cells.push(cell);
            self.bar.inc(1);
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let started = Instant::now();
    let (rows, source) = load_rows(args)?;
    let isa = match args.isa {
        Some(i) => i,
        None => simdconv::isa().map_err(|e| e.to_string())?,
    };
    let detected = Isa::detect();
    let cores = args::available_cores();
    let probe_started = Instant::now();
    let machine = Machine::measure(&args.threads, args.quick, isa);
    let probe_s = probe_started.elapsed().as_secs_f64();

    let per = |v: &[(usize, f64)], unit: &str| {
        v.iter().map(|(t, x)| format!("{x:.1} {unit} on {t} thread(s)")).collect::<Vec<_>>().join(", ")
    };
    out!(
        "simdconv-bench {}: ISA {isa}{}, {cores} core(s){}",
        env!("CARGO_PKG_VERSION"),
        if isa == detected { " (detected)".to_string() } else { format!(" (forced; detected {detected})") },
        if args.quick { ", quick mode (probes and timings too short to trust)" } else { "" }
    );
    out!("FMA peak ({} chains of {}-lane FMAs): {}", 12, machine.fma_lanes, per(&machine.peak_gflops, "GFLOP/s"));
    out!(
        "memory bandwidth (triad over 3 x {} MiB): {}",
        machine.triad_buffer_bytes >> 20,
        per(&machine.triad_gbs, "GB/s")
    );
    let layouts: Vec<&str> = args.layouts.iter().map(|&l| layout_name(l)).collect();
    let threads: Vec<String> = args.threads.iter().map(|t| t.to_string()).collect();
    out!(
        "{} layer(s) from {source}, layouts {}, threads {}, min time {} s per cell\n",
        rows.len(),
        layouts.join(","),
        threads.join(","),
        args.min_time
    );
    out!("{}", report::table_header());

    let cells = rows.len() * args.layouts.len() * args.threads.len();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(cells as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} cells, {elapsed} elapsed, ~{eta} left  {msg}")
            .expect("valid template"),
    );
    let mut ctx =
        Ctx { args, isa, machine, pools: Pools::default(), bar, cells: Vec::new(), failures: Vec::new(), check_s: 0.0 };
    for row in &rows {
        for &layout in &args.layouts {
            ctx.bar.set_message(format!("{} {}", row.name, layout_name(layout)));
            ctx.layer(row, layout);
        }
    }
    ctx.bar.finish_and_clear();

    let elapsed = started.elapsed().as_secs_f64();
    out!(
        "\n{} cell(s) in {elapsed:.1} s ({:.1} s measuring the machine, {:.1} s in self-checks).",
        ctx.cells.len(),
        probe_s,
        ctx.check_s
    );
    let meta = [
        ("version", Val::S(env!("CARGO_PKG_VERSION").into())),
        ("isa", Val::S(isa.name().into())),
        ("detected_isa", Val::S(detected.name().into())),
        ("cores", Val::I(cores as u64)),
        ("shapes", Val::S(source.clone())),
        ("min_time_s", Val::F(args.min_time)),
        ("quick", Val::S(args.quick.to_string())),
        ("elapsed_s", Val::F(elapsed)),
    ];
    if let Some(path) = &args.json {
        report::write(path, &report::to_json(&ctx.machine, &meta, &ctx.cells))?;
        out!("wrote {}", path.display());
    }
    if let Some(path) = &args.csv {
        report::write(path, &report::to_csv(&ctx.cells))?;
        out!("wrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        let title = format!("simdconv roofline ({isa}, {source})");
        plot::roofline(path, &ctx.machine, &ctx.cells, &title)?;
        out!("wrote {}", path.display());
    }
    if ctx.failures.is_empty() {
        out!("all self-checks passed.");
        Ok(true)
    } else {
        out!("\n*** {} FAILURE(S): ***", ctx.failures.len());
        for f in &ctx.failures {
            out!("*** FAIL: {f}");
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::shapes::{BUILTIN, parse};

    #[test]
    fn builtin_suite_parses() {
        let rows = parse(BUILTIN, "shapes.csv").unwrap();
        assert!(rows.len() > 30);
        assert_eq!(rows[0].kind(), "pw");
        assert!(rows.iter().any(|r| r.kind() == "dw") && rows.iter().any(|r| r.kind() == "conv"));
        assert!(rows[0].matches("seed") && rows[0].matches("dw,pw") && !rows[0].matches("conv"));
    }

    #[test]
    fn shape_errors_name_the_line() {
        let e = parse("name,n,h,w,cin,cout,kh,kw,stride,pad,groups\nx,1,2,3\n", "f.csv").unwrap_err();
        assert!(e.starts_with("f.csv:2:"), "{e}");
        let e = parse("name,n,h,w,cin,cout,kh,kw,stride,pad,groups\nx,1,8,8,4,4,3,3,1,0,3\n", "f.csv").unwrap_err();
        assert!(e.contains("groups"), "{e}");
        assert!(parse("a,b\n", "f.csv").is_err());
    }
}
