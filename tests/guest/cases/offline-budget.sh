# SPDX-License-Identifier: GPL-2.0
# The offline budget (memhp_default_state=offline, Sub Block Mode): hot-added memory stays
# offline, and both drivers add only about 1 GiB of it before they wait for the guest to
# online some. A request for 4 GiB therefore stops short; the guest then onlines the offline
# memory blocks one at a time with pauses, and every onlining must let the driver go on: the
# device must reach 4 GiB within a bounded time. A driver that stops waiting for onlining
# and is never woken again (a lost wake-up) stays short.
. /tests/lib.sh
TARGET=$((4 * GIB))
# Per block: long enough for the driver to have finished what the last onlining allowed.
PAUSE_US=500000
# 32 blocks at PAUSE_US each and their onlining under TCG, with room to spare.
REACH_S=120
per_driver=0
[ "$DRIVER" = rust ] && per_driver=1
tap_plan $((8 + per_driver))

check "load $MODULE" load_driver
bind_or_bail
base_kb=$(memtotal_kb)
base_blocks=$(count_blocks)
bs=$(block_size)

# Nothing onlines the memory yet: the request must stop at the driver's budget.
resize $TARGET 15
short=$DEV_SIZE
offline=$(count_blocks_in_state offline)
diag "after $(scale 15) s: device size $((short / MIB)) MiB, $offline memory blocks offline"
stopped() { [ "$short" -gt 0 ] && [ "$short" -lt $TARGET ] && [ "$offline" -eq $(($(count_blocks) - base_blocks)) ]; }
check "the driver stops short of 4 GiB with its memory offline" stopped

# onliner: onlines one offline memory block at a time (the boot memory is all online, so an
# offline block is the device's), pausing after each, until /tmp/onliner.stop appears.
onliner() {
	n=0
	until [ -f /tmp/onliner.stop ]; do
		b=$(grep -lx offline /sys/devices/system/memory/memory*/state 2>/dev/null | head -n 1)
		if [ -n "$b" ]; then
			echo online_movable >"$b" && n=$((n + 1))
		fi
		usleep $PAUSE_US
	done
	echo "$n" >/tmp/onliner.count
}
rm -f /tmp/onliner.stop /tmp/onliner.count
t0=$(uptime_cs)
onliner &
pid=$!
check "the device reaches 4 GiB as the guest onlines its memory" wait_size $TARGET $REACH_S
diag "device size $((DEV_SIZE / MIB)) MiB after $((($(uptime_cs) - t0) * 10)) ms of onlining"
check "all its memory blocks are online" wait_for 60 all_blocks_online
touch /tmp/onliner.stop
wait $pid
diag "the guest onlined $(cat /tmp/onliner.count) memory blocks"
check "$((TARGET / bs)) memory blocks of the device" blocks_are $((base_blocks + TARGET / bs))
check "MemTotal grew by 4 GiB" wait_for 30 memtotal_grew_by "$base_kb" $TARGET
check "the device's size is still 4 GiB" device_size_is $TARGET
if [ "$DRIVER" = rust ]; then
	check "the driver's plugged size equals the device's" wait_for 30 driver_count_is $TARGET
fi
tap_done
