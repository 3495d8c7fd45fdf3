#!/usr/bin/env bash
# Runs every test: the host tests, the illumos type-check, a build of the fuzz
# targets and the VM suite against real OpenZFS. On a fresh Debian 12 machine, as root, it installs what
# it needs first (the first run takes ~10 minutes, most of it building the ZFS
# module; later runs reuse it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

step() { printf '\n==> %s\n' "$*"; }

step "formatting (cargo fmt --check)"
if ! cargo fmt --version >/dev/null 2>&1; then
    rustup component add rustfmt
fi
cargo fmt --all --check

step "brand XML against illumos's DTDs (brand/validate.sh)"
brand/validate.sh

step "lints (cargo clippy -D warnings)"
if ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add clippy
fi
cargo clippy --workspace --all-targets -- -D warnings

step "man pages (mandoc -Tlint)"
if ! command -v mandoc >/dev/null 2>&1; then
    # A fresh machine may have no package lists yet.
    apt-get install -y mandoc >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq mandoc >/dev/null; }
fi
# Warnings and errors fail; style notes (manuals not installed on this
# host, such as zoneadm(8)) do not.
mandoc -Tlint -W warning brand/omicron1.7 brand/omicron1.8

step "host tests (cargo test)"
cargo test --workspace --exclude omicron1-vm-tests

step "illumos type-check (cargo check --target x86_64-unknown-illumos)"
if ! rustup target list --installed | grep -qx x86_64-unknown-illumos; then
    rustup target add x86_64-unknown-illumos
fi
cargo check --workspace --all-targets --target x86_64-unknown-illumos --quiet

step "fuzz targets build (cargo build --manifest-path fuzz/Cargo.toml; not run)"
# Built, not run, so that they keep compiling against the library's API. A plain
# build needs no nightly flags or cargo-fuzz (running them does: README, Fuzzing).
# libfuzzer-sys compiles libFuzzer, which is C++.
if ! command -v c++ >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends g++ >/dev/null
fi
cargo build --manifest-path fuzz/Cargo.toml --bins --quiet

step "VM suite against real OpenZFS (vm-tests/run.sh)"
vm-tests/run.sh
