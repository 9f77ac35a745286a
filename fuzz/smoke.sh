#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation on stable Rust (no cargo-fuzz needed) and runs
# each for a short time. Usage: fuzz/smoke.sh [SECONDS_PER_TARGET] [TARGET...]   (default 30 s, all targets)
# A crash, a failed assertion or a mismatch makes it exit non-zero; the input is saved in fuzz/artifacts/TARGET/.
set -euo pipefail

cd "$(dirname "$0")"
secs="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(c_api conv_vs_reference)
fi

host="$(rustc -vV | sed -n 's/^host: //p')"
# The flags cargo-fuzz passes (without a sanitizer); `--target` keeps them off build scripts and proc-macros.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
target_dir="${FUZZ_TARGET_DIR:-target}"
cargo build --release --locked --target "$host" --target-dir "$target_dir" --bins

for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    echo "== fuzz $t for ${secs}s"
    log="artifacts/$t/smoke.log"
    status=0
    "$target_dir/$host/release/$t" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" "corpus/$t" >"$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        tail -n 80 "$log" >&2
        echo "fuzz target $t failed (exit $status); the crashing input is in fuzz/artifacts/$t/" >&2
        exit "$status"
    fi
    # Coverage (cov, ft), corpus size and speed at start and end, then libFuzzer's final statistics.
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|^Done ' "$log" || true
done
