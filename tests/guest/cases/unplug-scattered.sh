# SPDX-License-Identifier: GPL-2.0
# Case unplug-scattered: a partial unplug of a guest whose free memory is scattered, and how
# many pages it migrates (pgmigrate_success in /proc/vmstat). 2 GiB plugged (ZONE_MOVABLE),
# then processes of different sizes fill most of the guest's memory one after the other, and
# every second one exits: what stays in use (about 620 MiB) is spread over the boot memory
# and the blocks, with holes of different sizes between. Then the device is asked for 1 GiB.
#
# Both drivers: the size is reached, the remaining patterns are intact, and the migrated pages
# and the time are reported (C visits the blocks highest first). Ours runs the unplug twice,
# on the same layout made afresh: fewest used pages first (unplug_least_used_first=1, the
# default) and highest first (=0, C's order); it must migrate no more pages in its own order
# than in C's. Args (vmrs.args): "bench" prints one "# bench op=scattered ..." line per
# unplug instead of asserting the comparison.
. /tests/lib.sh
BENCH=${ARGS:-}
rounds=1
[ "$DRIVER" = rust ] && rounds=2
tap_plan $((4 + 4 * rounds + (rounds - 1)))
# MiB per process, three times over (2448 MiB): the odd ones stay, the even ones exit.
SIZES="24 200 56 136 88 168 40 104 24 200 56 136 88 168 40 104 24 200 56 136 88 168 40 104"
P=/sys/module/$MODULE/parameters
migrated() { awk '/^pgmigrate_success / { print $2 }' /proc/vmstat; }

# scatter: starts a process per size in SIZES, each after the last holds its memory, then ends
# every second one (its memory is freed at once); the pids of the others are in KEPT.
scatter() {
	local i=0 mib pids=
	KEPT=
	rm -f /tmp/sc.*
	for mib in $SIZES; do
		i=$((i + 1))
		/bin/memhog "$mib" /tmp/sc.$i &
		pids="$pids $!"
		wait_for 60 [ -f /tmp/sc.$i ] || return 1
	done
	i=0
	for p in $pids; do
		i=$((i + 1))
		if [ $((i % 2)) -eq 0 ]; then
			kill -KILL "$p"
			wait "$p" 2>/dev/null
		else
			KEPT="$KEPT $p"
		fi
	done
	return 0
}

# kept_intact: each kept process checks its pattern and ends.
kept_intact() {
	local p bad=0
	for p in $KEPT; do
		kill -USR1 "$p" && wait "$p" || bad=$((bad + 1))
	done
	[ $bad -eq 0 ]
}

# round ORDER: makes the layout, unplugs to 1 GiB and sets MIGRATED and MS.
round() {
	check "$1: plug 2 GiB" resize $((2 * GIB))
	check "$1: processes fill the memory one after the other, every second one exits" scatter
	diag "$1: free after the layout: ZONE_MOVABLE $(zone_free_kb Movable) kB, ZONE_DMA32 $(zone_free_kb DMA32) kB"
	m0=$(migrated)
	c0=$(cpu_ticks)
	check "$1: unplug to 1 GiB" resize $GIB 300
	MIGRATED=$(($(migrated) - m0))
	MS=$RESIZE_MS
	cpu_ms=$((($(cpu_ticks) - c0) * TICK_MS))
	diag "$1: $MIGRATED pages migrated, $MS ms, guest CPU $cpu_ms ms"
	[ -n "$BENCH" ] && echo "# bench op=scattered order=$1 zone=online_movable size=$GIB migrated=$MIGRATED device_ms=$MS cpu_ms=$cpu_ms"
	check "$1: the kept patterns are intact" kept_intact
}

check "the kernel counts migrated pages (pgmigrate_success in /proc/vmstat)" \
	grep -q '^pgmigrate_success ' /proc/vmstat
check "load $MODULE" load_driver
bind_or_bail
if [ "$DRIVER" = rust ]; then
	echo 1 >$P/unplug_least_used_first
	round least-used-first
	ranked=$MIGRATED
	resize 0 >/dev/null
	echo 0 >$P/unplug_least_used_first
	round highest-first
	highest=$MIGRATED
	echo 1 >$P/unplug_least_used_first
	if [ -n "$BENCH" ]; then
		check "ours: both orders measured" true
	else
		check "ours: fewest used pages first migrates no more than highest first ($ranked vs $highest pages)" \
			[ "$ranked" -le "$highest" ]
	fi
else
	round highest-first
fi
check "unplug to 0" resize 0
tap_done
