#!/usr/bin/env bash
# Runs every test: formatting and lints, the host unit tests of the
# hardware-independent crates, Miri over the unsafe allocator internals, and the QEMU boot tests (every preset
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
cargo +"$toolchain" build --quiet --target x86_64-unknown-linux-gnu -p bench-report
echo "== host unit tests and QEMU boot tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo +"$toolchain" host-test 2>&1 | tee "$log" || status=$?
echo "== Miri over the unsafe internals (crates/mm/src/raw.rs, pcp.rs, slub.rs)"
# The pinned nightly was published without Miri; the next day's has it.
miri_toolchain=nightly-2026-05-20
if ! rustup component list --toolchain "$miri_toolchain" --installed 2>/dev/null | grep -q '^miri'; then
    echo "run-tests: installing Rust $miri_toolchain with Miri (rustup), needed once" >&2
    rustup toolchain install "$miri_toolchain" --profile minimal --component miri,rust-src
fi
# Some SLUB tests keep slabs with objects on purpose (a double free must
# not return anything); the random-sequence test checks that every slab
# comes back itself. Hence no leak check here.
MIRIFLAGS="-Zmiri-ignore-leaks" cargo +"$miri_toolchain" miri test \
    --target x86_64-unknown-linux-gnu -p mm -- raw:: pcp:: slub:: 2>&1 | tee -a "$log" || status=$?
# One closing line over every test binary: cargo prints one per binary.
awk '/^test result:/ { p += $4; f += $6; s += $8 }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
