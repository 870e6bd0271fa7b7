# SPDX-License-Identifier: GPL-2.0
# Case alloc-faults: kmalloc (failslab) and alloc_pages (fail_page_alloc) fail at random
# while the device grows and shrinks. The stack filter aims the failures at the driver:
# only allocations with one of the module's addresses on the stack can fail (its work
# item, and through it add_memory(), alloc_contig_range()'s migration targets, virtqueue
# buffers), so the pattern's process and the rest of the guest are never hit; nor are x86's
# arch_add_memory() and add_pages(), which do not survive a failed allocation (see aim in
# lib.sh). Whatever
# fails, the driver must retry or refuse cleanly: once the faults stop and the host asks
# again, the device reaches the request, MemTotal and (ours) the driver's count agree
# with it, and an unplug to 0 leaves nothing behind.
. /tests/lib.sh
per_driver=0
[ "$DRIVER" = rust ] && per_driver=1
tap_plan $((14 + per_driver))

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
boot_ids=$(block_ids)
check "the fault knobs are in debugfs" [ -d $FI/failslab -a -d $FI/fail_page_alloc ]
range=$(module_range)
check "/proc/modules gives $MODULE's address range" [ -n "$range" ]
diag "failures aimed at $MODULE: $range, except under $NO_FAULTS_IN: $(symbol_span $NO_FAULTS_IN)"
check "both knobs aimed at the module" aim_both $range
check "plug 512 MiB before the faults" resize $((GIB / 2))
# After the plug, so that the pattern lies in the device's memory and unplugs migrate it.
check "memhog holds a 256 MiB pattern" hog_start 256

# Faults on: each step asks for a size and gives the driver 5 seconds; the device may fall
# short (a failed add waits for the retry timer). (Whether a grow overshoots is not asked
# here: QEMU itself NACKs a plug beyond the request.)
for step in "10 $((3 * GIB / 2))" "30 $((GIB / 4))" "5 $GIB" "50 $((GIB * 2))" "20 $((GIB / 2))" "10 0" "30 $((GIB * 3 / 2))"; do
	set -- $step
	faults "$1"
	# Wall time, not scaled on a slow kernel: the faults need activity, not completion.
	host "resize $2 4"
	size_reply || true
	sleep 1
	diag "$1% of allocations fail: requested $(($2 / MIB)) MiB, device $(($(device_size) / MIB)) MiB (peak $((DEV_PEAK / MIB)) MiB)"
done
faults 0
slab=$(injected failslab)
pages=$(injected fail_page_alloc)
diag "failures injected into $MODULE's allocations: $slab kmalloc, $pages alloc_pages"
diag "the driver's messages about them: $(dmesg | grep -cE "$DRIVER_NAME virtio[0-9]+: .*(fail|ENOMEM|-12)")"
check "the faults hit the driver's allocations" [ $((slab + pages)) -gt 0 ]

# Faults off: a new request wakes the driver at once (not the retry timer). A driver that
# gave up the device fails here without waiting out the time.
if device_broken; then
	not_ok "with the faults off, a resize to 768 MiB settles (the driver gave the device up)"
	bail_if_broken
fi
check "with the faults off, a resize to 768 MiB settles" resize $((3 * GIB / 4)) 120
bail_if_broken
# A failed allocation in onlining (a memory notifier's, KASAN's shadow on the debug kernel)
# leaves a block offline; a person would online it, and so does the case.
left_offline=0
for b in $(new_block_ids "$boot_ids"); do
	if [ "$(cat /sys/devices/system/memory/memory$b/state)" = offline ]; then
		echo online_movable >/sys/devices/system/memory/memory$b/state && left_offline=$((left_offline + 1))
	fi
done
diag "$left_offline blocks left offline by a failed onlining, onlined by hand"
check "MemTotal follows the device" wait_for 30 memtotal_grew_by "$base_kb" $((3 * GIB / 4))
if [ "$DRIVER" = rust ]; then
	check "the driver's plugged size equals the device's" wait_for 30 driver_count_is $((3 * GIB / 4))
fi
check "the pattern is intact" hog_check
check "unplug to 0 settles" resize 0 120
only_boot_blocks() { [ "$(block_ids)" = "$boot_ids" ]; }
check "every block of the device is gone" wait_for 30 only_boot_blocks
check "MemTotal is back where it started" wait_for 30 memtotal_is "$base_kb"
tap_done
