# SPDX-License-Identifier: GPL-2.0
# Case h: load, plug 1 GiB, unload. Linux cannot be made to give up online
# memory on demand, so both drivers leave it: the unload succeeds, the memory
# stays plugged and in use, the driver says so in the log, and loading the
# driver again cannot take the device (its region is still reserved) and
# says that too. The guest must stay healthy and able to use all its memory.
. /tests/lib.sh
tap_plan 11
LEFT=$MEMORY_LEFT_MSG
TAKEN=$REGION_TAKEN_MSG
logged() { dmesg | grep -q "$1"; }

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
check "plug 1 GiB" resize $GIB
check "MemTotal grows by 1 GiB" wait_for 30 memtotal_grew_by "$base_kb" $GIB
plugged_kb=$(memtotal_kb)
check "unloading with 1 GiB plugged succeeds" unload_driver
check "the driver logged that the memory stays ('$LEFT')" logged "$LEFT"
check "MemTotal is unchanged ($plugged_kb kB)" memtotal_is "$plugged_kb"
check "the device still has 1 GiB plugged" device_size_is $GIB
/bin/memhog 1400 /tmp/hog.ready &
hog=$!
wait_for 120 [ -f /tmp/hog.ready ]
kill -USR1 $hog
wait $hog
check "a 1400 MiB pattern fits and stays intact" [ $? -eq 0 ]
load_driver
check "loading again does not take the device" eval '! wait_for 5 driver_bound'
check "and says why ('$TAKEN')" logged "$TAKEN"
tap_done
