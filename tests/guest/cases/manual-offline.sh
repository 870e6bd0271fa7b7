# SPDX-License-Identifier: GPL-2.0
# Case manual-offline: a person offlines a memory block of the device by hand
# (/sys/devices/system/memory/memoryN/state), then the host shrinks the device. The
# driver unplugs offline memory first: the block offlined by hand goes (the offline path
# and remove_memory()), sizes agree, and a block offlined and onlined again by hand is
# still the driver's to unplug.
. /tests/lib.sh
per_driver=0
[ "$DRIVER" = rust ] && per_driver=1
tap_plan $((15 + 2 * per_driver))
MEM=/sys/devices/system/memory

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
boot_ids=$(block_ids)
check "plug 1 GiB" resize $GIB
check "MemTotal grows by 1 GiB" wait_for 30 memtotal_grew_by "$base_kb" $GIB
ours=$(new_block_ids "$boot_ids")
diag "the device's memory blocks: $(echo $ours)"
# The lowest: a driver that only took the highest blocks first would leave it.
first=$(echo "$ours" | head -n 1)
check "memory$first goes offline by hand" sh -c "echo offline > $MEM/memory$first/state"
check "memory$first is offline" [ "$(cat $MEM/memory$first/state)" = offline ]
check "MemTotal no longer counts it" wait_for 10 memtotal_grew_by "$base_kb" $((GIB - $(block_size)))
check "shrink to 512 MiB settles" resize $((GIB / 2))
gone() { [ ! -e $MEM/memory$1 ]; }
check "the block offlined by hand was unplugged and removed" wait_for 30 gone "$first"
check "MemTotal follows the device" wait_for 30 memtotal_grew_by "$base_kb" $((GIB / 2))
if [ "$DRIVER" = rust ]; then
	check "the driver's plugged size equals the device's" wait_for 30 driver_count_is $((GIB / 2))
fi
# Off and on again by hand: the block is online and still the driver's.
again=$(new_block_ids "$boot_ids" | head -n 1)
check "memory$again goes offline and online again by hand" \
	sh -c "echo offline > $MEM/memory$again/state && echo online_movable > $MEM/memory$again/state"
check "memory$again is online" [ "$(cat $MEM/memory$again/state)" = online ]
check "unplug to 0 settles" resize 0
only_boot_blocks() { [ "$(block_ids)" = "$boot_ids" ]; }
check "every block of the device is gone" wait_for 30 only_boot_blocks
check "MemTotal is back where it started" wait_for 30 memtotal_is "$base_kb"
if [ "$DRIVER" = rust ]; then
	check "the driver counts 0 plugged" wait_for 30 driver_count_is 0
fi
tap_done
