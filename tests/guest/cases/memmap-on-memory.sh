# SPDX-License-Identifier: GPL-2.0
# Case memmap-on-memory: the guest boots with memory_hotplug.memmap_on_memory=1 and 1 GiB of
# memory. Hot-added memory needs 64 bytes of memory map per 4 KiB page (1/64): C takes it from
# the kernel's zones (the boot memory), so that how far a small guest can grow is bounded by its boot
# memory. Ours puts each block's map in the block itself (its first subblock, plugged first and
# unplugged last).
#
# Both drivers: 8 GiB plugged (ZONE_MOVABLE), the kernel zones' free memory before and after is
# reported (the kernel's zones, all but ZONE_MOVABLE: with 1 GiB of boot memory that is ZONE_DMA32
# and ZONE_DMA), the sizes are exact, a request that is not a whole number of blocks is met, and an
# unplug to 0 removes every block it added. Ours: the driver says where the map is, and
# the kernel zones lose less than half of what the 8 GiB's memory map (128 MiB) would take.
. /tests/lib.sh
per_driver=0
[ "$DRIVER" = rust ] && per_driver=2
tap_plan $((10 + per_driver))
SIZE=$((8 * GIB))
MAP_KB=$((SIZE / 64 / 1024))

check "the kernel puts hot-added memory's map on it when asked" \
	grep -qx Y /sys/module/memory_hotplug/parameters/memmap_on_memory
check "load $MODULE" load_driver
bind_or_bail
if [ "$DRIVER" = rust ]; then
	check "ours: the driver puts each block's memory map on the block" \
		logged "memory map on the added memory: the first 0x200000 bytes of each block"
fi
base_kb=$(memtotal_kb)
base_blocks=$(count_blocks)
normal0=$(kernel_zones_free_kb)
check "plug 8 GiB" resize $SIZE 600
normal1=$(kernel_zones_free_kb)
took=$((normal0 - normal1))
diag "kernel zones free: $normal0 kB before, $normal1 kB after 8 GiB: $took kB taken (the memory map alone is $MAP_KB kB)"
if [ "$DRIVER" = rust ]; then
	check "ours: the kernel zones gave less than half the map's $MAP_KB kB ($took kB)" \
		[ "$took" -lt $((MAP_KB / 2)) ]
fi
check "MemTotal grew by 8 GiB (less the maps when they are on the memory)" \
	wait_for 60 memtotal_grew_by "$base_kb" $SIZE
check "all the device's memory blocks are online" all_blocks_online
check "130 MiB: not a whole number of blocks" resize $((130 * MIB)) 600
check "the device's size is what was asked for" device_size_is $((130 * MIB))
check "unplug to 0" resize 0 600
check "every block added was removed" wait_for 60 blocks_are "$base_blocks"
tap_done
