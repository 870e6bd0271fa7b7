#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: the upstream C module and ours in the same kernel and QEMU
# configuration, alternately, BENCH_RUNS (default 5) runs each; BENCH_SIZES
# (GiB, comma-separated) replaces the plug/unplug sizes. The first run also converges after
# pressure in both zones, each guest holding it BENCH_HOLD_S seconds (default 180; 0: not
# at all), unplugs 2 GiB -> 1 GiB with scattered use (case unplug-scattered) and grows a
# 1 GiB guest with memory_hotplug.memmap_on_memory=1 as far as it goes (bench-grow.sh).
# BENCH_ONLY=converge, scattered or grow (comma-separated: BENCH_ONLY=scattered,grow) boots
# only those guests. Writes results/bench/bench.{md,json,svg} and prints the table.
PHASE=bench
source "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-5}
case $RUNS in '' | *[!0-9]* | 0) die "BENCH_RUNS must be a positive number, not '$RUNS'" ;; esac
OPTS=()
[ -n "${BENCH_SIZES:-}" ] && OPTS=(--sizes "$BENCH_SIZES")
[ -n "${BENCH_HOLD_S:-}" ] && OPTS+=(--hold "$BENCH_HOLD_S")
[ -n "${BENCH_ONLY:-}" ] && OPTS+=(--only "$BENCH_ONLY")
RESULTS=$TOP/results/bench
rm -rf "$RESULTS"
prepare_guests "$RESULTS"
"$RUNNER" bench --runs "$RUNS" "${OPTS[@]}" --bzimage "$KBUILD/arch/x86/boot/bzImage" \
	--initramfs "$RESULTS/initramfs.cpio.gz" --logdir "$RESULTS" \
	--ko-c "$KBUILD/drivers/virtio/virtio_mem.ko" --ko-rust "$TOP/rust/virtio_mem_rs.ko"
