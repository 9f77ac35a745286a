//! Compiles the C programs in tests/c/ and examples/c/ against include/simdconv.h, links them with the cdylib
//! cargo built next to this test and runs them.
//!
//! The C compiler is `$SIMDCONV_TEST_CC` (default `cc`); a missing compiler fails the test. When cross-testing
//! (e.g. `cargo test --target aarch64-unknown-linux-gnu` under qemu) set `SIMDCONV_TEST_CC=aarch64-linux-gnu-gcc`
//! and `SIMDCONV_TEST_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"` (words split on whitespace; it prefixes the
//! compiled program's command line).

use std::path::{Path, PathBuf};
use std::process::Command;

const LIB_NAME: &str = if cfg!(target_os = "macos") { "libsimdconv.dylib" } else { "libsimdconv.so" };

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding the cdylib: `target/[<triple>/]<profile>/deps/` (beside this test) or its parent.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a directory");
    for dir in [deps, deps.parent().unwrap_or(deps)] {
        if dir.join(LIB_NAME).is_file() {
            return dir.to_path_buf();
        }
    }
    panic!("{LIB_NAME} not found in {} or its parent: the crate's cdylib was not built", deps.display());
}

fn compiler() -> String {
    std::env::var("SIMDCONV_TEST_CC").ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "cc".into())
}

/// How a C program links the library.
#[derive(Clone, Copy)]
enum Link {
    /// `-lsimdconv` with an rpath to the cdylib.
    Shared,
    /// `libsimdconv.a` and the system libraries Rust's standard library needs.
    Static,
}

/// Compiles `src` into an executable in the test's scratch directory and returns its path.
fn compile(src: &str, name: &str, link: Link) -> PathBuf {
    // Named per architecture: native and cross runs share `CARGO_TARGET_TMPDIR`.
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::env::consts::ARCH));
    let lib = lib_dir();
    let cc = compiler();
    let mut cmd = Command::new(&cc);
    cmd.args(["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic", "-o"])
        .arg(&out)
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join(src));
    match link {
        Link::Shared => {
            cmd.arg("-L").arg(&lib).arg(format!("-Wl,-rpath,{}", lib.display())).args(["-lsimdconv", "-lm"]);
        }
        Link::Static => {
            let archive = lib.join("libsimdconv.a");
            assert!(archive.is_file(), "{} not found: the crate's staticlib was not built", archive.display());
            cmd.arg(archive).args(["-lpthread", "-ldl", "-lm"]);
        }
    }
    let result = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run the C compiler `{cc}` ({e}); install one or set SIMDCONV_TEST_CC to a C compiler")
    });
    assert!(
        result.status.success(),
        "`{cc}` failed to compile {src} (cross-testing? set SIMDCONV_TEST_CC to the target's C compiler):\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

/// A command running `exe`, through `$SIMDCONV_TEST_RUNNER` when set.
fn command(exe: &Path) -> Command {
    let runner = std::env::var("SIMDCONV_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(first) => {
            let mut cmd = Command::new(first);
            cmd.args(words).arg(exe);
            cmd
        }
        None => Command::new(exe),
    }
}

fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e} (cross-testing? set SIMDCONV_TEST_RUNNER, e.g. to qemu)"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what} failed ({}):\n{stdout}{}", out.status, String::from_utf8_lossy(&out.stderr));
    stdout
}

/// An ISA that the target this test runs on never has.
fn missing_isa() -> &'static str {
    if cfg!(target_arch = "aarch64") { "avx2" } else { "neon" }
}

#[test]
fn c_program_matches_naive_loop() {
    let exe = compile("tests/c/abi_test.c", "abi_test", Link::Shared);
    let isa = simdconv::isa().expect("the ISA for new plans").name();
    let mut cmd = command(&exe);
    cmd.arg(simdconv::version().to_string()).arg(isa);
    let out = run(cmd, "tests/c/abi_test.c");
    assert!(out.contains("C ABI test passed"), "{out}");

    // An ISA forced through the environment that this CPU lacks: simdconv_isa() says "unavailable" and create
    // fails with SIMDCONV_STATUS_UNSUPPORTED.
    let mut cmd = command(&exe);
    cmd.env("SIMDCONV_ISA", missing_isa()).arg(simdconv::version().to_string()).arg("unavailable");
    run(cmd, "tests/c/abi_test.c with SIMDCONV_ISA set to a missing ISA");
}

#[test]
fn c_example_runs_shared_and_static() {
    for (link, name) in [(Link::Shared, "c_example"), (Link::Static, "c_example_static")] {
        let exe = compile("examples/c/example.c", name, link);
        let out = run(command(&exe), "examples/c/example.c");
        assert!(out.contains("corner = (12.5, 0)"), "{out}");
    }
}

#[test]
fn c_resnet_block_example_runs() {
    let exe = compile("examples/c/resnet_block.c", "c_resnet_block", Link::Shared);
    let mut cmd = command(&exe);
    cmd.args(["14", "64", "1"]);
    let out = run(cmd, "examples/c/resnet_block.c");
    assert!(out.contains("resnet block ok"), "{out}");
}
