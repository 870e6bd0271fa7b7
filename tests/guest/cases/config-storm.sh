# SPDX-License-Identifier: GPL-2.0
# Case config-storm: 200 resizes 20-100 ms apart to random sizes (seeded; the host paces
# them), while a 512 MiB pattern lives in the guest. Plugs that overtake a shrinking
# request get NACKed by QEMU. After the storm the device must reach the last request, the
# pattern must be intact, MemTotal must follow and (for our driver) the driver's count must
# equal the device's.
. /tests/lib.sh
STEPS=200
MAX=$((4 * GIB))
per_driver=0
[ "$DRIVER" = rust ] && per_driver=1
tap_plan $((9 + per_driver))

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
check "plug 2 GiB" resize $((2 * GIB))
# Part of the pattern lands in the plugged memory, so the storm's unplugs have to move it.
check "memhog holds a 512 MiB pattern" hog_start 512
diag "seed ${SEED:-1}"
host "storm ${SEED:-1} $STEPS $MAX $((2 * MIB))"
set -- $REPLY
check "the host ran $STEPS resizes" [ "$1" = ok ]
LAST=${2:-0}
diag "storm: $STEPS resizes in ${4:-?} ms, last request $((LAST / MIB)) MiB, largest size seen $((${3:-0} / MIB)) MiB"
diag "requests the device got (plug unplug): $(requests)"
check "the device reaches the last request after the storm" wait_size "$LAST" 300
diag "device size $DEV_SIZE after $RESIZE_MS ms"
check "the pattern is intact" hog_check
check "MemTotal follows the device size" wait_for 30 memtotal_grew_by "$base_kb" "$LAST"
check "a last resize to 1 GiB settles" resize $GIB
if [ "$DRIVER" = rust ]; then
	check "the driver's plugged size equals the device's" wait_for 30 driver_count_is "$GIB"
fi
tap_done
