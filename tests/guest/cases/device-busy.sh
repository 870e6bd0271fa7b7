# SPDX-License-Identifier: GPL-2.0
# Case device-busy: the device's backend is a file on a small tmpfs on the
# host, and the device preallocates what it plugs (prealloc=on): while a
# filler file takes most of the tmpfs, only about 512 MiB can be plugged and
# further plug requests get BUSY. A driver must then neither give up nor
# spin: it retries on a timer (50 s, doubling, as upstream). Once the host
# deletes the filler, the next retry plugs the rest.
. /tests/lib.sh
tap_plan 11
plugs() { requests | cut -d' ' -f1; }

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
resize $GIB 20
diag "after 20 s: device size $((DEV_SIZE / MIB)) MiB (peak $((DEV_PEAK / MIB)) MiB), $(plugs) plug requests"
check "within 20 s the device plugs at least 256 MiB" [ "$DEV_SIZE" -ge $((256 * MIB)) ]
check "but not 1 GiB: the backend is full, the device answers BUSY" [ "$DEV_SIZE" -lt $GIB ]
# 25 s rather than 30: the first BUSY came at most 20 s ago, the first retry
# is due 50 s after it, and the backend must be freed before that retry so
# that it is the one that succeeds.
p1=$(plugs)
sleep 25
p2=$(plugs)
diag "$((p2 - p1)) plug requests in 25 s"
check "no spinning: at most 5 plug requests in the next 25 s" [ $((p2 - p1)) -le 5 ]
check "the device is still short of 1 GiB" [ "$(device_size)" -lt $GIB ]
host free-backend
check "the host frees the backend" [ "$REPLY" = ok ]
# The first retry is due at most 50 s from now, a second one 100 s after the
# first: 150 s see the first retry and allow for one more.
t0=$(uptime_cs)
wait_size $GIB 150
diag "device size $((DEV_SIZE / MIB)) MiB $(($(uptime_cs) - t0))0 ms after the backend was freed; $(plugs) plug requests"
check "within 150 s the retry timer plugs the rest: the device reaches 1 GiB" [ "$DEV_SIZE" -eq $GIB ]
check "MemTotal grows by 1 GiB" wait_for 30 memtotal_grew_by "$base_kb" $GIB
check "memhog holds a 1400 MiB pattern" hog_start 1400
check "the pattern is intact" hog_check
tap_done
