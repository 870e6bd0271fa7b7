# SPDX-License-Identifier: GPL-2.0
# Case kdump: the guest boots with memory reserved for a crash kernel
# (crashkernel=), plugs 1 GiB, keeps a pattern in it (memhog, locked in
# place, tells where one of its pages is physically), loads its own kernel
# as the crash kernel (kexec_crash: kexec_file_load with KEXEC_FILE_ON_CRASH;
# /boot holds the bzImage and a copy of the initramfs) and crashes (/init:
# echo c > /proc/sysrq-trigger). The capture kernel runs this script's
# second half (vmrs.phase=capture): the driver must see that it is in a
# kdump kernel and leave the device alone ("memory hot(un)plug disabled in
# kdump kernel", as the C driver says): nothing is unplugged, a new request
# is not served, and the crashed kernel's memory, the device's included, is
# readable in /proc/vmcore, where the pattern must be.
. /tests/lib.sh
KDUMP_MSG='memory hot(un)plug disabled in kdump kernel'

if [ "$PHASE" != capture ]; then
	tap_plan 15
	check "memory is reserved for a crash kernel (crashkernel=)" grep -q 'Crash kernel' /proc/iomem
	check "load $MODULE" load_driver
	check "the driver binds the virtio-mem device" wait_for 10 driver_bound
	base_kb=$(memtotal_kb)
	check "plug 1 GiB" resize $GIB
	check "MemTotal grows by 1 GiB" wait_for 30 memtotal_grew_by "$base_kb" $GIB
	# Both drivers name the memory they add so (kexec-tools and kdump know the name).
	start=$(sed -n 's/^ *\([0-9a-f]*\)-[0-9a-f]* : System RAM (virtio_mem)$/\1/p' /proc/iomem | head -n 1)
	check "the device's memory is in /proc/iomem ('System RAM (virtio_mem)' from 0x$start)" [ -n "$start" ]
	# Locked pages stay where they are only if compaction leaves them alone.
	echo 0 >/proc/sys/vm/compact_unevictable_allowed
	has_page() { [ "$(wc -l </tmp/hog.ready)" -ge 2 ]; }
	hog_in_device() { MEMHOG_PHYS_ABOVE=0x$start hog_start 1200 && wait_for 10 has_page; }
	check "memhog holds a 1200 MiB pattern, part of it in the device's memory" hog_in_device
	set -- $(sed -n 2p /tmp/hog.ready)
	word=${1:-0} paddr=${2:-0}
	diag "pattern word $word is at physical address $paddr"
	cmdline=$(tr ' ' '\n' </proc/cmdline | grep -v '^crashkernel=' | tr '\n' ' ')
	# The count after the next test point, which passes if the crash happens.
	cmdline="$cmdline vmrs.phase=capture vmrs.tap=$((TESTNUM + 1)),$FAILS vmrs.paddr=$paddr vmrs.word=$word irqpoll nr_cpus=1 reset_devices"
	LOADED="load the crash kernel (kexec_file_load, KEXEC_FILE_ON_CRASH)"
	if kexec_crash load /boot/bzImage /boot/capture.cpio.gz "$cmdline"; then
		ok "$LOADED"
		touch /tmp/vmrs.crash
		exit 0
	fi
	not_ok "$LOADED"
	while [ "$TESTNUM" -lt 15 ]; do not_ok "not run: no crash kernel"; done
	tap_done
fi

# The capture kernel.
for word in $(cat /proc/cmdline); do
	case $word in
	vmrs.paddr=*) paddr=${word#vmrs.paddr=} ;;
	vmrs.word=*) word_index=${word#vmrs.word=} ;;
	esac
done
check "this is the capture kernel: /proc/vmcore exists" [ -e /proc/vmcore ]
check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
check "the driver says it is in a kdump kernel ('$KDUMP_MSG')" wait_for 10 logged "$KDUMP_MSG"
check "the device still has 1 GiB plugged" device_size_is $GIB
check "the pattern is in /proc/vmcore at $paddr" kexec_crash vmcore-check "$paddr" "$word_index"
resize $((2 * GIB)) 10
diag "after asking for 2 GiB: device size $DEV_SIZE"
check "the driver plugs nothing in the kdump kernel: still 1 GiB 10 s after asking for 2 GiB" [ "$DEV_SIZE" -eq $GIB ]
tap_done
