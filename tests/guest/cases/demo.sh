# SPDX-License-Identifier: GPL-2.0
# What `make run` shows: a few resize steps, each reported with the guest's
# MemTotal and how long it took to settle.
. /tests/lib.sh
STEPS="$GIB $((3 * GIB)) $((512 * MIB)) 0"
tap_plan 6

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
for size in $STEPS; do
	t0=$(uptime_cs)
	resize "$size"
	reached=$?
	wait_for 60 memtotal_grew_by "$base_kb" "$size"
	settled=$?
	diag "report requested=$size memtotal_kb=$(memtotal_kb) settle_ms=$((($(uptime_cs) - t0) * 10))"
	check "step to $((size / MIB)) MiB: device and MemTotal settle" [ $((reached + settled)) -eq 0 ]
done
tap_done
