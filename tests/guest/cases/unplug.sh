# SPDX-License-Identifier: GPL-2.0
# Case b: plug 4 GiB, then unplug it all on an idle guest whose hot-plugged
# memory is in ZONE_MOVABLE: the device must reach 0 and the guest must be
# back to its boot memory, block for block.
. /tests/lib.sh
tap_plan 7

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
base_blocks=$(count_blocks)
diag "boot: MemTotal $base_kb kB, $base_blocks memory blocks"

check "plug 4 GiB" resize $((4 * GIB))
check "MemTotal grows by 4 GiB" wait_for 30 memtotal_grew_by "$base_kb" $((4 * GIB))
check "unplug to 0: device size reaches 0" resize 0
diag "device size $DEV_SIZE after $RESIZE_MS ms"
check "MemTotal is back to $base_kb kB" wait_for 30 memtotal_is "$base_kb"
check "memory blocks are back to $base_blocks" wait_for 30 blocks_are "$base_blocks"
tap_done
