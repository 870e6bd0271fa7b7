# SPDX-License-Identifier: GPL-2.0
# Big Block Mode: the device's block is 1 GiB (block-size=1G), eight Linux memory blocks of
# 128 MiB, so both drivers plug, add, remove and unplug whole 1 GiB big blocks. Plug
# 0 -> 2 -> 4 GiB, unplug 4 -> 1 GiB idle, plug 4 GiB again and unplug 4 -> 1 GiB under a
# checksummed pattern that partly lives in the plugged memory, then 6 seeded random resizes
# in 1 GiB steps (vmrs.seed=). After each step the device's size is the request and never
# went above the larger of the old and new request, MemTotal follows it, the device's memory
# blocks are there and online (removed ones gone), and our driver's count equals the device's.
. /tests/lib.sh
REGION=$((4 * GIB))
BB=$GIB
RANDOM_STEPS=6
HOG_MIB=1536
per_step=3
[ "$DRIVER" = rust ] && per_step=4
tap_plan $((2 + (5 + RANDOM_STEPS) * per_step + 3))

check "load $MODULE" load_driver
bind_or_bail
base_kb=$(memtotal_kb)
base_blocks=$(count_blocks)
bs=$(block_size)
diag "boot: MemTotal $base_kb kB, $base_blocks memory blocks of $((bs / MIB)) MiB; big block $((BB / MIB)) MiB"

blocks_added() { blocks_are $((base_blocks + $1 / bs)) && all_blocks_online; }
prev=0
# step SIZE WHAT [TIMEOUT_S]: one resize and what must hold after it.
step() {
	size=$1
	hi=$((prev > size ? prev : size))
	limit=${3:-120}
	check "$2: device size reaches $((size / GIB)) GiB, never above $((hi / GIB)) GiB" \
		eval 'resize $size $limit && [ "$DEV_PEAK" -le $hi ]'
	diag "device size $DEV_SIZE after $RESIZE_MS ms, peak $DEV_PEAK"
	check "$2: MemTotal follows the device size" wait_for 30 memtotal_grew_by "$base_kb" "$size"
	check "$2: $((size / bs)) memory blocks of the device, all online" wait_for 30 blocks_added "$size"
	if [ "$DRIVER" = rust ]; then
		check "$2: the driver's plugged size equals the device's" wait_for 30 driver_count_is "$size"
	fi
	prev=$size
}

step $((2 * GIB)) "plug 2 GiB"
step $((4 * GIB)) "plug 4 GiB"
step $GIB "idle unplug to 1 GiB"
step $((4 * GIB)) "plug 4 GiB again"

# Movable allocations prefer ZONE_MOVABLE, where all the plugged memory is (and no boot
# memory): the pattern's share there is what the free memory of the zone lost.
movable0=$(zone_free_kb Movable)
check "memhog holds a $HOG_MIB MiB pattern" hog_start $HOG_MIB
took=$((movable0 - $(zone_free_kb Movable)))
diag "ZONE_MOVABLE: $movable0 kB free before the pattern, $took kB taken by it"
check "at least 512 MiB of the pattern is in the plugged memory" [ "$took" -ge $((512 * 1024)) ]
# 3 GiB to unplug, the pattern to migrate into 1 GiB of the device and the 2 GiB of boot memory.
step $GIB "unplug to 1 GiB under the pattern" 180
check "the pattern is intact after the unplug" hog_check

state=$((${SEED:-1} % 2147483648))
diag "seed ${SEED:-1}"
# random-resize.sh's generator, in whole big blocks.
next_size() {
	state=$(((state * 1103515245 + 12345) % 2147483648))
	SIZE=$((state % (REGION / BB + 1) * BB))
}
i=1
while [ $i -le $RANDOM_STEPS ]; do
	next_size
	step $SIZE "random step $i"
	i=$((i + 1))
done
tap_done
