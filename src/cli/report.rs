//! Results of one run: the per-cell record, the stdout table, and the JSON and CSV files.

use super::machine::Machine;
use super::measure::Timing;
use std::fmt::Write as _;
use std::path::Path;

/// One measured (layer, layout, thread count) combination.
#[derive(Debug, Clone)]
pub struct Cell {
    pub name: String,
    pub kind: &'static str,
    pub layout: &'static str,
    pub threads: usize,
    /// batch, h, w, cin, cout, kh, kw, stride, pad, groups as run (batch after any `--batch`).
    pub dims: [usize; 10],
    pub out_h: usize,
    pub out_w: usize,
    pub flops: u64,
    /// Compulsory traffic: input + weights + bias + output, in bytes.
    pub bytes: u64,
    /// `ok`, `FAIL` (wrong output) or `ERROR` (no plan).
    pub check: &'static str,
    pub check_detail: String,
    pub checked_images: usize,
    /// Largest error over its tolerance in the checked outputs (below 1 passes).
    pub err_vs_tol: f64,
    pub algorithm: String,
    pub kernel: String,
    pub isa: String,
    /// None when the check failed (a wrong answer is never timed).
    pub time: Option<Timing>,
    pub peak_gflops: f64,
    pub bw_gbs: f64,
    pub gemm_time: Option<Timing>,
    /// `ok` or `FAIL`: the baseline's own check against the reference.
    pub gemm_check: &'static str,
    /// The naive reference's single-thread time for the whole layer (scaled from the checked images).
    pub naive_s: Option<f64>,
}

/// A field value of the machine-readable outputs.
#[derive(Debug, Clone)]
pub enum Val {
    S(String),
    I(u64),
    F(f64),
    None,
}

impl Cell {
    pub fn gflops(&self) -> Option<f64> {
        self.time.map(|t| self.flops as f64 / t.median / 1e9)
    }
    pub fn gbs(&self) -> Option<f64> {
        self.time.map(|t| self.bytes as f64 / t.median / 1e9)
    }
    pub fn intensity(&self) -> f64 {
        self.flops as f64 / self.bytes as f64
    }
    pub fn speedup_gemm(&self) -> Option<f64> {
        Some(self.gemm_time?.median / self.time?.median).filter(|_| self.gemm_check == "ok")
    }
    pub fn speedup_naive(&self) -> Option<f64> {
        Some(self.naive_s? / self.time?.median)
    }

    /// Every field, in a fixed order (the JSON keys and CSV columns).
    pub fn fields(&self) -> Vec<(&'static str, Val)> {
        let f = |v: Option<f64>| v.filter(|x| x.is_finite()).map_or(Val::None, Val::F);
        let ms = |t: Option<Timing>, g: fn(&Timing) -> f64| f(t.as_ref().map(|t| g(t) * 1e3));
        let names = ["batch", "h", "w", "cin", "cout", "kh", "kw", "stride", "pad", "groups"];
        let mut v = vec![
            ("name", Val::S(self.name.clone())),
            ("kind", Val::S(self.kind.into())),
            ("layout", Val::S(self.layout.into())),
            ("threads", Val::I(self.threads as u64)),
        ];
        v.extend(names.iter().zip(self.dims).map(|(n, d)| (*n, Val::I(d as u64))));
        v.extend([
            ("out_h", Val::I(self.out_h as u64)),
            ("out_w", Val::I(self.out_w as u64)),
            ("mflop", Val::F(self.flops as f64 / 1e6)),
            ("bytes", Val::I(self.bytes)),
            ("intensity_flop_per_byte", Val::F(self.intensity())),
            ("check", Val::S(self.check.into())),
            ("check_detail", Val::S(self.check_detail.clone())),
            ("checked_images", Val::I(self.checked_images as u64)),
            ("max_err_vs_tolerance", f(Some(self.err_vs_tol))),
            ("algorithm", Val::S(self.algorithm.clone())),
            ("kernel", Val::S(self.kernel.clone())),
            ("isa", Val::S(self.isa.clone())),
            ("time_ms_median", ms(self.time, |t| t.median)),
            ("time_ms_min", ms(self.time, |t| t.min)),
            ("time_ms_max", ms(self.time, |t| t.max)),
            ("time_ms_p25", ms(self.time, |t| t.p25)),
            ("time_ms_p75", ms(self.time, |t| t.p75)),
            ("batches", self.time.map_or(Val::None, |t| Val::I(t.batches as u64))),
            ("calls", self.time.map_or(Val::None, |t| Val::I(t.calls as u64))),
            ("gflops", f(self.gflops())),
            ("peak_gflops", f(Some(self.peak_gflops))),
            ("pct_peak", f(self.gflops().map(|g| 100.0 * g / self.peak_gflops))),
            ("gbs", f(self.gbs())),
            ("bandwidth_gbs", f(Some(self.bw_gbs))),
            ("pct_bandwidth", f(self.gbs().map(|g| 100.0 * g / self.bw_gbs))),
            ("gemm_time_ms_median", ms(self.gemm_time, |t| t.median)),
            ("gemm_gflops", f(self.gemm_time.map(|t| self.flops as f64 / t.median / 1e9))),
            ("gemm_check", Val::S(self.gemm_check.into())),
            ("speedup_vs_gemm", f(self.speedup_gemm())),
            ("naive_ms", f(self.naive_s.map(|s| s * 1e3))),
            ("speedup_vs_naive", f(self.speedup_naive())),
        ]);
        v
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_val(v: &Val) -> String {
    match v {
        Val::S(s) => json_str(s),
        Val::I(i) => i.to_string(),
        Val::F(x) => format!("{x}"),
        Val::None => "null".into(),
    }
}

/// The whole run as JSON: `{"machine": {...}, "cells": [{...}, ...]}`.
pub fn to_json(machine: &Machine, meta: &[(&str, Val)], cells: &[Cell]) -> String {
    let mut o = String::from("{\n  \"machine\": {");
    let per_threads = |v: &[(usize, f64)]| {
        let items: Vec<String> = v.iter().map(|(t, x)| format!("\"{t}\": {x}")).collect();
        format!("{{{}}}", items.join(", "))
    };
    let mut m: Vec<String> = meta.iter().map(|(k, v)| format!("{}: {}", json_str(k), json_val(v))).collect();
    m.push(format!("\"fma_lanes\": {}", machine.fma_lanes));
    m.push(format!("\"peak_gflops\": {}", per_threads(&machine.peak_gflops)));
    m.push(format!("\"triad_gbs\": {}", per_threads(&machine.triad_gbs)));
    m.push(format!("\"triad_buffer_bytes\": {}", machine.triad_buffer_bytes));
    o.push_str(&m.join(", "));
    o.push_str("},\n  \"cells\": [\n");
    let rows: Vec<String> = cells
        .iter()
        .map(|c| {
            let kv: Vec<String> = c.fields().iter().map(|(k, v)| format!("{}: {}", json_str(k), json_val(v))).collect();
            format!("    {{{}}}", kv.join(", "))
        })
        .collect();
    o.push_str(&rows.join(",\n"));
    o.push_str("\n  ]\n}\n");
    o
}

fn csv_field(v: &Val) -> String {
    match v {
        Val::S(s) if s.contains([',', '"', '\n']) => format!("\"{}\"", s.replace('"', "\"\"")),
        Val::S(s) => s.clone(),
        Val::None => String::new(),
        other => json_val(other),
    }
}

/// The cells as CSV, one header line then one line per cell.
pub fn to_csv(cells: &[Cell]) -> String {
    let mut o = String::new();
    let Some(first) = cells.first() else {
        return o;
    };
    let names: Vec<&str> = first.fields().iter().map(|(k, _)| *k).collect();
    o.push_str(&names.join(","));
    o.push('\n');
    for c in cells {
        let vals: Vec<String> = c.fields().iter().map(|(_, v)| csv_field(v)).collect();
        o.push_str(&vals.join(","));
        o.push('\n');
    }
    o
}

/// Writes `text` to `path`, with the path in any error.
pub fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The table header (two lines).
pub fn table_header() -> String {
    format!(
        "{:<28} {:<4} {:<6} {:>3} {:>7} {:>9} {:>6} {:>7} {:>5} {:>6} {:>4} {:>6} {:>7} {:<5} {}\n{}",
        "layer",
        "kind",
        "layout",
        "thr",
        "MFLOP",
        "median ms",
        "spread",
        "GFLOP/s",
        "%peak",
        "GB/s",
        "%bw",
        "x gemm",
        "x naive",
        "check",
        "algorithm/kernel",
        "-".repeat(150)
    )
}

/// One table line.
pub fn table_line(c: &Cell) -> String {
    let opt = |v: Option<f64>, prec: usize, suffix: &str| v.map_or("-".to_string(), |x| format!("{x:.prec$}{suffix}"));
    let dw = c.kind == "dw";
    let gbs = c.gbs().filter(|_| dw);
    format!(
        "{:<28} {:<4} {:<6} {:>3} {:>7.1} {:>9} {:>6} {:>7} {:>5} {:>6} {:>4} {:>6} {:>7} {:<5} {}/{}",
        c.name,
        c.kind,
        c.layout,
        c.threads,
        c.flops as f64 / 1e6,
        opt(c.time.map(|t| t.median * 1e3), 3, ""),
        opt(c.time.map(|t| 100.0 * t.spread()), 1, "%"),
        opt(c.gflops(), 1, ""),
        opt(c.gflops().map(|g| 100.0 * g / c.peak_gflops), 0, "%"),
        opt(gbs, 1, ""),
        opt(gbs.map(|g| 100.0 * g / c.bw_gbs), 0, "%"),
        opt(c.speedup_gemm(), 2, "x"),
        c.speedup_naive().map_or("-".to_string(), |x| if x < 10.0 { format!("{x:.2}x") } else { format!("{x:.0}x") }),
        c.check,
        c.algorithm,
        c.kernel
    )
}
