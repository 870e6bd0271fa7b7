#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: the upstream C module and ours in the same kernel and QEMU
# configuration, alternately, BENCH_RUNS (default 5) runs each. Writes
# results/bench/bench.{md,json,svg} and prints the table.
PHASE=bench
source "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-5}
case $RUNS in '' | *[!0-9]* | 0) die "BENCH_RUNS must be a positive number, not '$RUNS'" ;; esac
RESULTS=$TOP/results/bench
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
"$TOP/scripts/setup.sh"
KBUILD=$("$TOP/scripts/kernel.sh")
"$TOP/scripts/module.sh" "$KBUILD"
"$TOP/scripts/initramfs.sh" "$KBUILD" "$RESULTS/initramfs.cpio.gz"
"$(cargo_cmd)" build -q --release --manifest-path "$RUNNER_MANIFEST" ||
	die "building the test runner failed"
"$RUNNER" bench --runs "$RUNS" --bzimage "$KBUILD/arch/x86/boot/bzImage" \
	--initramfs "$RESULTS/initramfs.cpio.gz" --logdir "$RESULTS" \
	--ko-c "$KBUILD/drivers/virtio/virtio_mem.ko" --ko-rust "$TOP/rust/virtio_mem_rs.ko"
