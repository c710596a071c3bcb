#!/usr/bin/env bash
# make fuzz: every target of crates/fuzz under libFuzzer with coverage, FUZZ_SECONDS each
# (default 120), on the stable toolchain. New corpus entries go to target/fuzz-corpus/TARGET/,
# crashes, hangs (over 10 s) and inputs over 2 GiB of memory to fuzz/artifacts/TARGET/. A failure
# found is made a regression by copying its input to fuzz/regressions/TARGET/ (make test runs
# every one) and fixed. Usage: scripts/fuzz.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-120}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(loader render events harness ecs_answers status_page)
host=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=$PWD/target/fuzz
# What cargo-fuzz passes, less the sanitizer (which needs nightly): SanitizerCoverage's
# counters, PC table and comparison tracing for libFuzzer, and cfg(fuzzing). --target keeps
# the flags off build scripts and proc macros.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
cargo build --release --locked --manifest-path fuzz/Cargo.toml --target "$host" --bins
status=0
for t in "${targets[@]}"; do
  mkdir -p "target/fuzz-corpus/$t" "fuzz/artifacts/$t"
  log="target/fuzz-corpus/$t.log"
  echo "== $t: ${seconds}s"
  if ! "$CARGO_TARGET_DIR/$host/release/$t" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len=1048576 -print_final_stats=1 \
      -artifact_prefix="fuzz/artifacts/$t/" "target/fuzz-corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    status=1
    echo "   FAILED: see $log and fuzz/artifacts/$t/"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
  echo "   ${runs:-?} executions, ${cov:-cov: ?}, corpus $(ls "target/fuzz-corpus/$t" | wc -l) entries"
done
exit $status
