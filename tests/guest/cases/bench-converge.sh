# SPDX-License-Identifier: GPL-2.0
# What `make bench` measures of converging after pressure, in one guest (vmrs.args=HOLD_S):
# 2 GiB plugged, a process holds a 1400 MiB pattern with every page pinned (see the case
# converge), the device is asked for 512 MiB, which
# cannot be reached while the pattern is held. After the first attempt (20 s), the pressure
# is held HOLD_S more seconds, over which the guest's busy CPU time is what the driver spends
# waiting (the guest does nothing else); then the process is killed and the time until the
# device reaches 512 MiB is measured. One "# bench op=converge ..." line for the host.
. /tests/lib.sh
tap_plan 7
HOLD_S=${ARGS:-180}
GOAL=$((512 * MIB))
zone=$(sed -n 's/.*memhp_default_state=\([a-z_]*\).*/\1/p' /proc/cmdline)

check "load $MODULE" load_driver
bind_or_bail
check "plug 2 GiB" resize $((2 * GIB)) 300
export MEMHOG_PIN=1
check "memhog holds a 1400 MiB pattern, pinned" hog_start 1400
unset MEMHOG_PIN
resize $GOAL 20 || true
diag "after the first attempt: device size $((DEV_SIZE / MIB)) MiB"
check "the request cannot be met while the pattern is held" [ "$DEV_SIZE" -gt $GOAL ]
# Where the held time's CPU went: user, system and irq ticks, and ours' own counts.
cpu_split() { awk '/^cpu / { print "user " $2 + $3 " system " $4 " irq " $7 + $8 }' /proc/stat; }
ours_counts() {
	[ "$DRIVER" = rust ] || return 0
	D=$(ls -d /sys/kernel/debug/"$MODULE"/virtio* | head -n 1)
	diag "$1: alloc_contig_range $(tr '\n' ' ' <"$D/alloc_contig_range")retries $(cat "$D/retries")"
	diag "$1: phase_ns $(tr '\n' ' ' <"$D/phase_ns")"
}
diag "hold starts: cpu $(cpu_split)"
ours_counts "hold starts"
c0=$(cpu_ticks)
sleep "$HOLD_S"
cpu_ms=$((($(cpu_ticks) - c0) * TICK_MS))
diag "hold ends: cpu $(cpu_split)"
ours_counts "hold ends"
still=$(device_size)
kill -KILL "$HOG"
wait "$HOG" 2>/dev/null
wait_size $GOAL 600
reached=$?
echo "# bench op=converge zone=$zone mode=sbm size=$GOAL device_ms=$RESIZE_MS cpu_ms=$cpu_ms hold_ms=$((HOLD_S * 1000))"
check "the device did not reach it while the pattern was held ($((still / MIB)) MiB)" [ "$still" -gt $GOAL ]
check "it reaches 512 MiB once the memory is freed ($RESIZE_MS ms)" [ $reached -eq 0 ]
tap_done
