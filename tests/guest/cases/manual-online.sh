# SPDX-License-Identifier: GPL-2.0
# Case manual-online: hot-added memory stays offline (memhp_default_state=offline) and a
# person's loop onlines the device's blocks by hand, to ZONE_MOVABLE and (one in three) to
# ZONE_NORMAL, and offlines them again, over and over, while the device grows and shrinks.
# Every grow settles; the guest stays healthy; a pattern stays intact; at the end the device
# shrinks to 0 or keeps only memory in blocks onlined to ZONE_NORMAL (which kernel
# allocations may pin), and sizes agree.
. /tests/lib.sh
per_driver=0
[ "$DRIVER" = rust ] && per_driver=1
tap_plan $((10 + per_driver))
MEM=/sys/devices/system/memory

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
boot_ids=$(block_ids)
ours() { new_block_ids "$boot_ids"; }
check "memhog holds a 256 MiB pattern" hog_start 256
rm -f /tmp/stop /tmp/loop.result
(
	n=0 refused=0
	while [ ! -f /tmp/stop ]; do
		for b in $(ours); do
			st=$(cat $MEM/memory$b/state 2>/dev/null) || continue
			if [ "$st" = offline ]; then
				to=online_movable
				[ $((n % 3)) -eq 0 ] && to=online_kernel
			else
				to=offline
			fi
			echo $to 2>/dev/null > $MEM/memory$b/state || refused=$((refused + 1))
			n=$((n + 1))
		done
		usleep 20000
	done
	echo "$n $refused" > /tmp/loop.result
) &
loop=$!
# Each resize is followed by a second of the loop alone, so that it meets the driver's
# blocks in every state.
# A shrink may stop short (blocks the loop onlined to ZONE_NORMAL can hold unmovable
# pages) and is not asserted, so it gets 20 s, not the grows' 120.
grows=0 prev=0
for mib in 768 256 1024 512 896 128 1024 384; do
	if [ "$mib" -gt "$prev" ]; then
		resize $((mib * MIB)) 120 && grows=$((grows + 1))
	else
		resize $((mib * MIB)) 20 || true
	fi
	diag "resize to $mib MiB: device $((DEV_SIZE / MIB)) MiB after $RESIZE_MS ms"
	prev=$mib
	sleep "$(scale 1)"
done
check "all four grows settle while the loop runs" [ "$grows" -eq 4 ]
touch /tmp/stop
wait $loop
set -- $(cat /tmp/loop.result 2>/dev/null)
diag "the loop changed a block's state $1 times; the kernel refused $2 (EBUSY while the driver works on a block, or unmovable pages)"
check "the loop onlined and offlined blocks (at least 40 times)" [ "${1:-0}" -ge 40 ]
# Online what is left offline, so that the driver may take it out.
for b in $(ours); do
	[ "$(cat $MEM/memory$b/state)" = offline ] && echo online_movable > $MEM/memory$b/state
done
check "every block of the device is online" eval '! grep -qx offline $(for b in $(ours); do echo $MEM/memory$b/state; done) /dev/null'
resize 0 60
diag "unplug to 0: device $((DEV_SIZE / MIB)) MiB after $RESIZE_MS ms"
in_normal() {
	for b in $(ours); do
		grep -q Normal $MEM/memory$b/valid_zones || return 1
	done
}
check "the device reaches 0, or what stays is in blocks in ZONE_NORMAL" eval '[ "$DEV_SIZE" -eq 0 ] || in_normal'
left=$(device_size)
check "MemTotal is within the device's plugged size" [ $(($(memtotal_kb) - base_kb)) -le $((left / 1024)) ]
check "the pattern is intact" hog_check
check "the guest can allocate what it has" eval 'hog_start 512 && hog_check'
if [ "$DRIVER" = rust ]; then
	check "the driver's plugged size equals the device's" wait_for 30 driver_count_is "$left"
fi
tap_done
