#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds virtio_mem_rs.ko out of tree against the kernel build tree $1,
# through clippy (CLIPPY=1): a clippy warning fails the build like any other.
PHASE=module
source "$(dirname "$0")/lib.sh"
KBUILD=${1:?usage: module.sh KBUILD_DIR}
LOG=$CACHE_DIR/module.log
mkdir -p "$CACHE_DIR"
# Objects built against another kernel (the normal one and the debug one take turns) would be
# kept: Kbuild does not see that the kernel changed.
make -C "$KBUILD" M="$TOP" "${KMAKE_ARGS[@]}" clean >/dev/null 2>&1 || true
if ! make -C "$KBUILD" M="$TOP" "${KMAKE_ARGS[@]}" CLIPPY=1 -j"$JOBS" modules >"$LOG" 2>&1; then
	show_tail "$LOG" 60
	die "building virtio_mem_rs.ko failed (log: $LOG)"
fi
# Warnings fail the build: the driver is meant to be warning-free.
if grep -E '^(warning|error)(\[|:)|^WARNING: modpost' "$LOG" >/dev/null; then
	grep -E -A8 '^(warning|error)(\[|:)|^WARNING: modpost' "$LOG" | head -n 60 >&2
	die "virtio_mem_rs.ko built with warnings (log: $LOG)"
fi
say "built rust/virtio_mem_rs.ko ($(stat -c %s "$TOP/rust/virtio_mem_rs.ko") bytes) and tests/kmod/contig_pageblock_test.ko"
