//! Command-line options of `simdconv-bench` and their parser.

use simdconv::{Isa, Layout};
use std::path::PathBuf;

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
simdconv-bench: checks and times simdconv on a list of convolution layers, against an im2col + GEMM baseline
(the `gemm` crate) and the naive reference, next to the machine's measured FMA peak and memory bandwidth.

USAGE:
    cargo run --release [-- OPTIONS]

OPTIONS:
    --shapes FILE      layer list (CSV: name,n,h,w,cin,cout,kh,kw,stride,pad,groups; '#' lines are comments)
                       [default: the built-in suite, benches/shapes.csv]
    --filter LIST      keep rows whose name contains one of the comma-separated substrings, or whose kind
                       (pw, dw, conv) is one of them
    --batch N          override every row's batch size
    --layout L         nhwc, nchw or both [default: both]
    --threads LIST     comma-separated thread counts [default: 1,<available cores>]
    --isa NAME         force an ISA (portable, avx2, avx512, neon, avx512-on-avx2, avx512-portable);
                       an ISA this CPU cannot run is an error
    --min-time SECS    measured time per cell [default: 0.15]
    --quick            tiny probes and timings (smoke tests, CI)
    --no-baseline      skip the im2col + GEMM baseline
    --json FILE        write every cell with all its fields as JSON
    --csv FILE         write every cell with all its fields as CSV
    --plot FILE.svg    write a roofline chart (GFLOP/s against FLOP/byte, log-log)
    -h, --help         print this help

Exit status: 0 when every self-check passed, 1 when a layer failed its check, 2 on a usage or input error.
";

/// Parsed options.
#[derive(Debug, Clone)]
pub struct Args {
    pub shapes: Option<PathBuf>,
    pub filter: Option<String>,
    pub batch: Option<usize>,
    pub layouts: Vec<Layout>,
    pub threads: Vec<usize>,
    pub isa: Option<Isa>,
    pub min_time: f64,
    pub quick: bool,
    pub baseline: bool,
    pub json: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    pub help: bool,
}

/// Number of cores this process may use.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_list(s: &str, what: &str) -> Result<Vec<usize>, String> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let t: usize = part.parse().map_err(|_| format!("{what}: '{part}' is not a positive integer"))?;
        if t == 0 {
            return Err(format!("{what}: counts must be at least 1"));
        }
        if !v.contains(&t) {
            v.push(t);
        }
    }
    if v.is_empty() {
        return Err(format!("{what}: empty list"));
    }
    Ok(v)
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let cores = available_cores();
        let mut a = Args {
            shapes: None,
            filter: None,
            batch: None,
            layouts: vec![Layout::Nhwc, Layout::Nchw],
            threads: if cores > 1 { vec![1, cores] } else { vec![1] },
            isa: None,
            min_time: 0.15,
            quick: false,
            baseline: true,
            json: None,
            csv: None,
            plot: None,
            help: false,
        };
        let mut min_time_set = false;
        let mut it = argv.into_iter();
        while let Some(arg) = it.next() {
            let (key, inline) = match arg.split_once('=') {
                Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                inline.clone().or_else(|| it.next()).ok_or_else(|| format!("{name} needs a value (see --help)"))
            };
            match key.as_str() {
                "-h" | "--help" => a.help = true,
                "--quick" => a.quick = true,
                "--no-baseline" => a.baseline = false,
                "--shapes" => a.shapes = Some(PathBuf::from(value("--shapes")?)),
                "--filter" => a.filter = Some(value("--filter")?),
                "--batch" => {
                    let v = value("--batch")?;
                    a.batch = Some(
                        v.parse()
                            .ok()
                            .filter(|&b: &usize| b > 0)
                            .ok_or(format!("--batch: '{v}' is not a positive integer"))?,
                    );
                }
                "--layout" => {
                    a.layouts = match value("--layout")?.to_ascii_lowercase().as_str() {
                        "nhwc" => vec![Layout::Nhwc],
                        "nchw" => vec![Layout::Nchw],
                        "both" => vec![Layout::Nhwc, Layout::Nchw],
                        other => return Err(format!("--layout: '{other}' is not one of nhwc, nchw, both")),
                    }
                }
                "--threads" => a.threads = parse_list(&value("--threads")?, "--threads")?,
                "--isa" => {
                    let isa = Isa::from_name(&value("--isa")?).map_err(|e| format!("--isa: {e}"))?;
                    a.isa = Some(isa.check_available().map_err(|e| format!("--isa: {e}"))?);
                }
                "--min-time" => {
                    let v = value("--min-time")?;
                    a.min_time = v
                        .parse::<f64>()
                        .ok()
                        .filter(|t| t.is_finite() && *t >= 0.0)
                        .ok_or(format!("--min-time: '{v}' is not a non-negative number of seconds"))?;
                    min_time_set = true;
                }
                "--json" => a.json = Some(PathBuf::from(value("--json")?)),
                "--csv" => a.csv = Some(PathBuf::from(value("--csv")?)),
                "--plot" => a.plot = Some(PathBuf::from(value("--plot")?)),
                other => return Err(format!("unknown argument '{other}' (see --help)")),
            }
        }
        if a.quick && !min_time_set {
            a.min_time = 0.002;
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Args, String> {
        Args::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_options() {
        let a = p("--filter seed,dw --batch 4 --layout nchw --threads 1,3,3 --min-time=0.5 --json x.json").unwrap();
        assert_eq!(a.filter.as_deref(), Some("seed,dw"));
        assert_eq!(a.batch, Some(4));
        assert_eq!(a.layouts, vec![Layout::Nchw]);
        assert_eq!(a.threads, vec![1, 3]);
        assert_eq!(a.min_time, 0.5);
        assert!(a.json.is_some() && a.csv.is_none());
        assert!(p("--quick").unwrap().min_time < 0.01);
    }

    #[test]
    fn rejects_bad_input() {
        for bad in ["--layout x", "--threads 0", "--threads", "--batch 0", "--batch 1,2", "--isa nope", "--what"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
