//! End-to-end runs of the `simdconv-bench` binary: a quick suite with every output file, and input errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    // Cross-testing (e.g. aarch64 under qemu without binfmt): `SIMDCONV_TEST_RUNNER` prefixes the command line.
    let exe = env!("CARGO_BIN_EXE_simdconv-bench");
    let runner = std::env::var("SIMDCONV_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut cmd = match words.next() {
        Some(first) => {
            let mut c = Command::new(first);
            c.args(words).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.args(args).output().expect("the binary starts")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simdconv-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn quick_suite_writes_json_csv_and_plot() {
    let dir = scratch("quick");
    let (json, csv, svg) = (dir.join("out.json"), dir.join("out.csv"), dir.join("roofline.svg"));
    let out = bench(&[
        "--quick",
        "--filter",
        "seed,mv2_dw_7_960,mv2_stem_c3",
        "--json",
        json.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{}", out.status, text(&out.stderr));
    assert!(stdout.contains("FMA peak") && stdout.contains("all self-checks passed"), "{stdout}");
    for name in ["seed_pw_28_256to16", "mv2_dw_7_960", "mv2_stem_c3_s2_224_3to32"] {
        assert!(stdout.contains(name), "{name} missing from\n{stdout}");
    }
    let threads = if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 { 2 } else { 1 };
    let cells = 3 * 2 * threads;

    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).expect("valid JSON");
    assert!(v["machine"]["peak_gflops"]["1"].as_f64().unwrap() > 0.0);
    let arr = v["cells"].as_array().unwrap();
    assert_eq!(arr.len(), cells);
    for c in arr {
        assert_eq!(c["check"], "ok", "{c}");
        assert!(c["gflops"].as_f64().unwrap() > 0.0, "{c}");
        assert!(c["kernel"].as_str().unwrap().starts_with("f32_"), "{c}");
        assert!(c["speedup_vs_gemm"].as_f64().is_some() && c["speedup_vs_naive"].as_f64().is_some(), "{c}");
    }
    assert!(arr.iter().any(|c| c["kind"] == "dw" && c["layout"] == "nchw"));

    let csv = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + cells);
    let cols = lines[0].split(',').count();
    assert!(lines[0].starts_with("name,kind,layout,threads,"));
    assert!(lines.iter().all(|l| l.split(',').count() == cols), "ragged CSV:\n{csv}");

    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_shapes_file_is_a_clear_error() {
    let dir = scratch("bad");
    let path = dir.join("shapes.csv");
    std::fs::write(
        &path,
        "# comment\nname,n,h,w,cin,cout,kh,kw,stride,pad,groups\nok,1,8,8,4,4,1,1,1,0,1\nbogus,1,8,x,4\n",
    )
    .unwrap();
    let out = bench(&["--quick", "--shapes", path.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("shapes.csv:4:") && stderr.contains("expected 11"), "{stderr}");

    std::fs::write(&path, "name,n,h,w,cin,cout,kh,kw,stride,pad,groups\nbig_kernel,1,4,4,4,4,9,9,1,0,1\n").unwrap();
    let out = bench(&["--quick", "--shapes", path.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("shapes.csv:2:") && stderr.contains("big_kernel"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn usage_errors_and_help() {
    let out = bench(&["--help"]);
    assert!(out.status.success() && text(&out.stdout).contains("--min-time"));
    for args in
        [&["--layout", "hwcn"][..], &["--isa", "nope"], &["--threads", "0"], &["--frobnicate"], &["--filter", "zzz"]]
    {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("error:"), "{args:?}");
    }
}
