#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: the upstream C module and ours in the same kernel and QEMU
# configuration, alternately, BENCH_RUNS (default 5) runs each; BENCH_SIZES
# (GiB, comma-separated) replaces the plug/unplug sizes. Writes
# results/bench/bench.{md,json,svg} and prints the table.
PHASE=bench
source "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-5}
case $RUNS in '' | *[!0-9]* | 0) die "BENCH_RUNS must be a positive number, not '$RUNS'" ;; esac
SIZES=()
[ -n "${BENCH_SIZES:-}" ] && SIZES=(--sizes "$BENCH_SIZES")
RESULTS=$TOP/results/bench
rm -rf "$RESULTS"
prepare_guests "$RESULTS"
"$RUNNER" bench --runs "$RUNS" "${SIZES[@]}" --bzimage "$KBUILD/arch/x86/boot/bzImage" \
	--initramfs "$RESULTS/initramfs.cpio.gz" --logdir "$RESULTS" \
	--ko-c "$KBUILD/drivers/virtio/virtio_mem.ko" --ko-rust "$TOP/rust/virtio_mem_rs.ko"
