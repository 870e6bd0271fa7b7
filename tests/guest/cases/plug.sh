# SPDX-License-Identifier: GPL-2.0
# Case a: plug 0 -> 1 GiB -> 4 GiB. The device must plug what was asked, the
# guest's MemTotal must grow by it and the new memory blocks must be online.
. /tests/lib.sh
tap_plan 9

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
base_blocks=$(count_blocks)
bs=$(block_size)
diag "boot: MemTotal $base_kb kB, $base_blocks memory blocks of $((bs / MIB)) MiB"

blocks_added() { [ "$(count_blocks)" -eq $((base_blocks + $1 / bs)) ] && all_blocks_online; }

for size in $GIB $((4 * GIB)); do
	check "resize to $((size / MIB)) MiB: device size reaches it" resize $size
	diag "device size $DEV_SIZE after $RESIZE_MS ms"
	check "MemTotal grows by $((size / MIB)) MiB" wait_for 30 memtotal_grew_by "$base_kb" $size
	diag "MemTotal $(memtotal_kb) kB"
	check "$((size / bs)) new memory blocks, all online" wait_for 30 blocks_added $size
done
check "device size still equals the requested size" [ "$(device_size)" -eq $((4 * GIB)) ]
tap_done
