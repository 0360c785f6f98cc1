#!/usr/bin/env bash
# Runs every test: formatting and lints, the host unit tests of the
# hardware-independent crates, and the QEMU boot tests (every preset
# topology, under KVM when usable and always under TCG, plus the canaries
# that prove the harness can fail). Installs what a fresh machine lacks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)

./run-qemu.sh --setup
echo "== formatting and lints"
cargo +"$toolchain" fmt --all -- --check
cargo +"$toolchain" clippy --quiet -p kernel -- -D warnings
cargo +"$toolchain" host-clippy --quiet -- -D warnings
echo "== building the kernel"
cargo +"$toolchain" build --release --quiet -p kernel
echo "== host unit tests and QEMU boot tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo +"$toolchain" host-test 2>&1 | tee "$log" || status=$?
# One closing line over every test binary: cargo prints one per binary.
awk '/^test result:/ { p += $4; f += $6; s += $8 }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
