# SPDX-License-Identifier: GPL-2.0
# Case e: 20 resizes to random sizes between 0 and the region size, from the
# seed on the command line (vmrs.seed=, printed by the runner). After each
# step settles the device's size is the requested size, it never went above
# the larger of the old and new request on the way, MemTotal follows it, and
# (for our driver) the plugged size the driver counts equals the device's.
. /tests/lib.sh
STEPS=20
REGION=$((8 * GIB))
BLOCK=$((2 * MIB))
per_step=2
[ "$DRIVER" = rust ] && per_step=3
tap_plan $((2 + STEPS * per_step))

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
state=$((${SEED:-1} % 2147483648))
diag "seed ${SEED:-1}"
# A 31-bit linear congruential generator: the products fit the shell's 64-bit arithmetic.
next_size() {
	state=$(((state * 1103515245 + 12345) % 2147483648))
	SIZE=$((state % (REGION / BLOCK + 1) * BLOCK))
}
prev=0
i=1
while [ $i -le $STEPS ]; do
	next_size
	hi=$((prev > SIZE ? prev : SIZE))
	check "step $i: resize to $((SIZE / MIB)) MiB settles, never above $((hi / MIB)) MiB" \
		eval 'resize $SIZE 120 && [ "$DEV_PEAK" -le $hi ]'
	diag "device size $DEV_SIZE after $RESIZE_MS ms, peak $DEV_PEAK"
	check "step $i: MemTotal follows the device size" wait_for 30 memtotal_grew_by "$base_kb" "$SIZE"
	if [ "$DRIVER" = rust ]; then
		check "step $i: the driver's plugged size equals the device's" wait_for 30 driver_count_is "$SIZE"
	fi
	prev=$SIZE
	i=$((i + 1))
done
tap_done
