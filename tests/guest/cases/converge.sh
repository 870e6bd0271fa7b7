# SPDX-License-Identifier: GPL-2.0
# Case converge: an unplug stops short because a process holds pinned memory (each page has a
# reference that migration cannot move, as pages under I/O have); once the process is gone, how
# long until the device reaches the requested size. Ours watches the zones' free pages every second and tries again as soon as enough was
# freed: it must get there within 5 s (times the guest's slowness). C waits for its retry
# timer (50 s after the failed attempt, doubling): its time is reported, not asserted.
#
# 1 GiB of boot memory, 2 GiB plugged (ZONE_MOVABLE), a 1400 MiB pattern pinned by memhog, a
# request for 512 MiB: at most the boot memory's free part (under 1 GiB) can hold pinned pages,
# so more than 512 MiB of them are in plugged memory and the unplug stops short. The pins keep
# the pattern where it is, so the unplug migrates little and the guest keeps its free memory:
# an earlier version that only held the pattern (movable) pushed the guest to its last free
# page by migration, and the OOM killer ended the case once in three runs.
. /tests/lib.sh
per_driver=0
[ "$DRIVER" = rust ] && per_driver=2
tap_plan $((10 + per_driver))
HOLD=1400
GOAL=$((512 * MIB))
BOUND_MS=$(scale 5000)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

check "load $MODULE" load_driver
bind_or_bail
base_kb=$(memtotal_kb)
check "plug 2 GiB" resize $((2 * GIB))
export MEMHOG_PIN=1
check "memhog holds a $HOLD MiB pattern, pinned" hog_start $HOLD
unset MEMHOG_PIN

# Sustained pressure: the request cannot be met while memhog holds its pattern.
t0=$(busy_ticks)
resize $GOAL 20 || true
t1=$(busy_ticks)
diag "under pressure: device size $((DEV_SIZE / MIB)) MiB after 20 s; guest CPU busy $((t1 - t0)) ticks of $((2 * 20 * 100)) (2 vCPUs, 20 s)"
check "the unplug stopped short while the memory is held" [ "$DEV_SIZE" -gt $GOAL ]
if [ "$DRIVER" = rust ]; then
	D=$(ls -d /sys/kernel/debug/"$MODULE"/virtio* | head -n 1)
	diag "last_stop $(cat "$D/last_stop"), retries $(cat "$D/retries"), backoff $(cat "$D/backoff_ms") ms, alloc_contig_range $(tr '\n' ' ' <"$D/alloc_contig_range")"
	check "ours: the run stopped on memory in use, watched (last_stop Busy)" [ "$(cat "$D/last_stop")" = Busy ]
fi
check "the pattern is intact after the partial unplug" hog_verify

# The pressure ends: the process and its memory are gone when wait returns.
kill -KILL "$HOG"
wait "$HOG" 2>/dev/null
wait_size $GOAL 90
reached=$?
if [ "$DRIVER" = rust ]; then
	diag "ours reached $((GOAL / MIB)) MiB $RESIZE_MS ms after the memory was freed (bound $BOUND_MS ms)"
	check "ours: the requested size within 5 s of the memory being freed" \
		eval '[ $reached -eq 0 ] && [ "$RESIZE_MS" -le $BOUND_MS ]'
elif [ $reached -eq 0 ]; then
	diag "C reached $((GOAL / MIB)) MiB $RESIZE_MS ms after the memory was freed (its retry timer)"
else
	diag "C had not reached $((GOAL / MIB)) MiB 90 s after the memory was freed (device $((DEV_SIZE / MIB)) MiB)"
fi
check "the device reaches the requested size once the memory is freed" [ $reached -eq 0 ]
check "MemTotal grew by the requested size" wait_for 30 memtotal_grew_by "$base_kb" $GOAL
check "all the device's memory blocks are online" all_blocks_online
check "unplug to 0" resize 0
tap_done
