#!/usr/bin/env bash
# Bounded fuzz stage: build every cargo-fuzz target of fuzz/ and run each for
# FUZZ_SECS seconds (default 20). Exits non-zero if any target finds a crash
# (a panic, a failed property assertion, a hang over FUZZ_TIMEOUT seconds, or
# an out-of-memory), printing the saved input and how to replay it.
#
#   bash fuzz/run.sh                        # every target, 20 s each
#   FUZZ_SECS=60 bash fuzz/run.sh           # longer
#   FUZZ_TARGETS="parse_alert roster" bash fuzz/run.sh
#
# Stable Rust is enough: with `--sanitizer none` cargo-fuzz (0.13) passes no
# nightly-only flag (no -Zsanitizer, no -Zbuild-std), so RUSTC_BOOTSTRAP is
# not needed. If a later cargo-fuzz ever needs one, run with RUSTC_BOOTSTRAP=1.
#
# The committed seeds in fuzz/corpus/<target>/ are only read: each run works
# on a scratch copy under fuzz/target/fuzz-corpus/<target>/ (git-ignored, kept
# between local runs so coverage accumulates), and crash inputs go to
# fuzz/target/fuzz-artifacts/<target>/, so a run never dirties the tree.
#
# Measured on the 2-core machine, from nothing (no cargo-fuzz, no fuzz/target):
# cargo-fuzz install 40-65 s, first build of the targets 2m15-2m30, then
# 6 targets x 20 s: 5m25 in all on a busy machine. Later runs rebuild only what
# changed.
set -euo pipefail

cd "$(dirname "$0")"
FUZZ_SECS=${FUZZ_SECS:-20}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
TARGETS=${FUZZ_TARGETS:-"parse_alert parse_formats roster ssml phone outcome"}
CARGO_FUZZ_VERSION=${CARGO_FUZZ_VERSION:-0.13.2}
export CARGO_TARGET_DIR="$PWD/target"
HOST=$(rustc -vV | sed -n 's/^host: //p')
BIN="$CARGO_TARGET_DIR/$HOST/release"

start=$SECONDS
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
    echo "fuzz: cargo-fuzz installed in $((SECONDS - start)) s"
fi

t0=$SECONDS
# Release build with debug assertions and overflow checks (cargo-fuzz's default).
cargo fuzz build --sanitizer none --target "$HOST"
echo "fuzz: targets built in $((SECONDS - t0)) s"

failed=()
for t in $TARGETS; do
    corpus="$CARGO_TARGET_DIR/fuzz-corpus/$t"
    artifacts="$CARGO_TARGET_DIR/fuzz-artifacts/$t"
    log="$CARGO_TARGET_DIR/fuzz-logs/$t.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    if [ -d "corpus/$t" ]; then
        cp -n "corpus/$t"/* "$corpus"/ 2>/dev/null || true
    fi
    dict=()
    case $t in
        parse_alert) dict=(-dict=dict/json.dict) ;;
        roster) dict=(-dict=dict/roster.dict) ;;
    esac
    marker="$artifacts/.run-started"
    touch "$marker"
    t1=$SECONDS
    set +e
    "$BIN/$t" "$corpus" "${dict[@]}" \
        -max_total_time="$FUZZ_SECS" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz: $t: ${execs:-?} runs, ${rate:-?} exec/s, $(ls "$corpus" | wc -l) corpus inputs, $((SECONDS - t1)) s, exit $rc"
    if [ "$rc" -ne 0 ]; then
        failed+=("$t")
        grep -E -A12 "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | head -40 || true
        found=$(find "$artifacts" -type f -newer "$marker" ! -name .run-started)
        for f in $found; do
            echo "fuzz: $t: crash input saved at $f"
            echo "fuzz:   replay: $BIN/$t $f"
        done
        [ -n "$found" ] || echo "fuzz: $t: no input saved; see $log"
    fi
done

echo "fuzz: whole stage took $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}"
    exit 1
fi
echo "fuzz: no crash in: $TARGETS"
