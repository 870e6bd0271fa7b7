#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make run`: set-up, build, boot a guest and show memory being plugged and
# unplugged, with a report per step.
PHASE=run
source "$(dirname "$0")/lib.sh"

# Our driver by default; DRIVER=c shows the upstream C module doing the same.
DRIVER=${DRIVER:-rust}
RESULTS=$TOP/results/run
prepare_guests "$RESULTS"
[ "$DRIVER" = c ] && say "note: DRIVER=c: this demo drives the upstream C module, the control"
"$RUNNER" run --driver "$DRIVER" --bzimage "$KBUILD/arch/x86/boot/bzImage" \
	--initramfs "$RESULTS/initramfs.cpio.gz" --logdir "$RESULTS"
