# SPDX-License-Identifier: GPL-2.0
# Case c: unplug 4 GiB while a process holds a 2400 MiB checksummed pattern.
# Movable allocations prefer ZONE_MOVABLE, so the pattern sits largely in the
# plugged memory and unplugging must migrate it into the 4 GiB of boot memory
# without losing a word.
. /tests/lib.sh
tap_plan 8
HOG_MIB=2400

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
check "plug 4 GiB" resize $((4 * GIB))
check "MemTotal grows by 4 GiB" wait_for 30 memtotal_grew_by "$base_kb" $((4 * GIB))

free_before=$(memfree_kb)
/bin/memhog $HOG_MIB /tmp/hog.ready &
hog=$!
check "memhog fills $HOG_MIB MiB with its pattern" wait_for 120 [ -f /tmp/hog.ready ]
diag "MemFree $free_before kB before the pattern, $(memfree_kb) kB after"

check "unplug to 0 under the pattern: device size reaches 0" resize 0 180
diag "device size $DEV_SIZE after $RESIZE_MS ms"
check "MemTotal is back to $base_kb kB" wait_for 60 memtotal_is "$base_kb"
kill -USR1 $hog
wait $hog
check "the pattern is intact after the unplug" [ $? -eq 0 ]
tap_done
