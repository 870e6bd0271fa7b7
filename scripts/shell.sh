#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make shell`: boots the test guest with our driver (DRIVER=c: the C module) loaded, the
# virtio-mem device empty and debugfs mounted, and leaves you at its shell on this terminal.
# QEMU's monitor is multiplexed on the console: Ctrl-a c switches between the guest's shell
# and the monitor, where
#     qom-set vm0 requested-size 1G
# resizes the device (info memory-devices shows it). Ctrl-a x quits QEMU; so does `poweroff`
# in the guest.
PHASE=shell
source "$(dirname "$0")/lib.sh"

DRIVER=${DRIVER:-rust}
case $DRIVER in c | rust) ;; *) die "DRIVER=$DRIVER: the drivers are c and rust" ;; esac
RESULTS=$TOP/results/shell
prepare_guests "$RESULTS"
[ -t 0 ] || die "make shell needs a terminal"
say "booting the guest with the $DRIVER driver (TCG: about a minute); Ctrl-a c: QEMU monitor, Ctrl-a x: quit"
# The same machine as the cases' (tests/runner/src/harness/qemu.rs): 1 GiB of boot memory,
# an 8 GiB device region, online_movable.
exec qemu-system-x86_64 -accel "${VMRS_ACCEL:-tcg}" -nodefaults -display none -no-reboot -smp 2 \
	-m 1024M,maxmem=9216M \
	-object memory-backend-ram,id=vmem0,size=8G,reserve=off \
	-device virtio-mem-pci,id=vm0,memdev=vmem0,requested-size=0 \
	-kernel "$KBUILD/arch/x86/boot/bzImage" -initrd "$RESULTS/initramfs.cpio.gz" \
	-append "console=ttyS0 memhp_default_state=online_movable panic=-1 vmrs.case=shell vmrs.driver=$DRIVER" \
	-serial mon:stdio
