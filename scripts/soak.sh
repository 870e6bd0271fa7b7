#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make soak`: SOAK_OPS (default 1000) random operations (the guest case `soak`) against
# the upstream C module, then ours, on the normal kernel with one seed (VMRS_SEED= replays
# a soak; the seed is printed first). DRIVER=c|rust soaks one driver only. Writes
# results/soak/soak.{md,json} and prints the table.
PHASE=soak
source "$(dirname "$0")/lib.sh"

OPS=${SOAK_OPS:-1000}
case $OPS in '' | *[!0-9]* | 0) die "SOAK_OPS must be a positive number, not '$OPS'" ;; esac
RESULTS=$TOP/results/soak
rm -rf "$RESULTS"
prepare_guests "$RESULTS"
"$RUNNER" soak --ops "$OPS" --bzimage "$KBUILD/arch/x86/boot/bzImage" \
	--initramfs "$RESULTS/initramfs.cpio.gz" --logdir "$RESULTS" \
	${DRIVER:+--driver "$DRIVER"} ${VMRS_SEED:+--seed "$VMRS_SEED"}
