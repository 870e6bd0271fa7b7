#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Packs the test guest's initramfs: busybox, the guest test scripts and
# helpers, the upstream C module and ours; and for the kdump case, the
# kernel's bzImage and a copy of the same initramfs without them
# (/boot/capture.cpio.gz), which the guest loads as its crash kernel.
#   initramfs.sh KBUILD_DIR OUTPUT.cpio.gz
PHASE=initramfs
source "$(dirname "$0")/lib.sh"
KBUILD=${1:?usage: initramfs.sh KBUILD_DIR OUTPUT}
OUT=${2:?usage: initramfs.sh KBUILD_DIR OUTPUT}
GUEST=$TOP/tests/guest
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

C_MODULE=$KBUILD/drivers/virtio/virtio_mem.ko
RUST_MODULE=$TOP/rust/virtio_mem_rs.ko
TEST_MODULE=$TOP/tests/kmod/contig_pageblock_test.ko
[ -f "$C_MODULE" ] || die "no $C_MODULE: the kernel must be built with CONFIG_VIRTIO_MEM=m"
[ -f "$RUST_MODULE" ] || die "no $RUST_MODULE: build it first (make module)"
[ -f "$TEST_MODULE" ] || die "no $TEST_MODULE: build it first (make module)"

# gen_init_cpio writes device nodes without root; use the kernel's own.
GEN=$KBUILD/usr/gen_init_cpio
if [ ! -x "$GEN" ]; then
	GEN=$WORK/gen_init_cpio
	src=$KBUILD/source/usr/gen_init_cpio.c
	[ -f "$src" ] || src=$KBUILD/usr/gen_init_cpio.c
	gcc -O2 -o "$GEN" "$src" || die "cannot build gen_init_cpio from $src"
fi
BZIMAGE=$KBUILD/arch/x86/boot/bzImage
[ -f "$BZIMAGE" ] || die "no $BZIMAGE: the kernel is not built"
for helper in memhog kexec_crash; do
	gcc -static -O2 -Wall -Wextra -Werror -I"$GUEST" -o "$WORK/$helper" "$GUEST/$helper.c" ||
		die "cannot build the guest helper $helper (static, needs libc6-dev)"
done

{
	for d in /bin /dev /proc /sys /tmp /tests /tests/cases /lib /lib/modules; do
		echo "dir $d 0755 0 0"
	done
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "file /bin/busybox /bin/busybox 0755 0 0"
	echo "slink /bin/sh busybox 0777 0 0"
	echo "file /bin/memhog $WORK/memhog 0755 0 0"
	echo "file /bin/kexec_crash $WORK/kexec_crash 0755 0 0"
	echo "file /init $GUEST/init 0755 0 0"
	echo "file /tests/lib.sh $GUEST/lib.sh 0644 0 0"
	for f in "$GUEST"/cases/*.sh; do
		echo "file /tests/cases/$(basename "$f") $f 0644 0 0"
	done
	echo "file /lib/modules/virtio_mem.ko $C_MODULE 0644 0 0"
	echo "file /lib/modules/virtio_mem_rs.ko $RUST_MODULE 0644 0 0"
	echo "file /lib/modules/contig_pageblock_test.ko $TEST_MODULE 0644 0 0"
} >"$WORK/spec"
mkdir -p "$(dirname "$OUT")"
"$GEN" "$WORK/spec" | gzip -1 >"$WORK/capture.cpio.gz" || die "packing the capture initramfs failed"
{
	cat "$WORK/spec"
	echo "dir /boot 0755 0 0"
	echo "file /boot/bzImage $BZIMAGE 0644 0 0"
	echo "file /boot/capture.cpio.gz $WORK/capture.cpio.gz 0644 0 0"
} >"$WORK/spec.boot"
"$GEN" "$WORK/spec.boot" | gzip -1 >"$OUT" || die "packing the initramfs failed"
say "packed $OUT ($(stat -c %s "$OUT") bytes)"
