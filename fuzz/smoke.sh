#!/usr/bin/env bash
# A short fuzzing run of every target, for CI: each target runs for
# FUZZ_SECONDS (default 60) from the seeds of make-seeds.py, built with
# AddressSanitizer, overflow checks and debug assertions. Exits non-zero on the
# first crash, leak, timeout (10 s for one input) or out-of-memory (2 GiB),
# leaving the input in fuzz/artifacts/TARGET/.
#
# Needs cargo-fuzz (installed here if missing) and python3; runs on stable
# Rust through RUSTC_BOOTSTRAP=1. Takes FUZZ_SECONDS per target (5 targets:
# 5 minutes by default) plus the build (a few minutes the first time).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
seconds=${FUZZ_SECONDS:-60}

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
python3 make-seeds.py
export RUSTC_BOOTSTRAP=1

targets=$(cargo fuzz list)
cargo fuzz build --debug-assertions
for target in $targets; do
    mkdir -p "corpus/$target"
    dict=()
    case $target in
        inspect|inspect_tar|unpack) dict=(-dict=tar.dict) ;;
    esac
    echo "==> fuzz $target for ${seconds}s"
    cargo fuzz run --debug-assertions "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 "${dict[@]}"
done
echo "fuzz smoke: ${targets//$'\n'/ } ran ${seconds}s each without a finding"
