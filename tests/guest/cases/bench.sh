# SPDX-License-Identifier: GPL-2.0
# What `make bench` measures in one guest: for each size in vmrs.args= (MiB,
# comma-separated; may be empty) the time to plug it and to unplug it again,
# then unplug under pressure: 4 GiB plugged, a process holding a pattern over
# half of it, an unplug to 0 with a 60 s deadline. Each measurement is one
# "# bench key=value..." line for the host; the TAP points check that the
# measurements happened and that no data was lost.
# vmrs.args=bbm:BLOCK_MIB:SIZES: a guest whose device has BLOCK_MIB MiB blocks (Big Block
# Mode): its first steps are one device block, there is no pressure test, and its lines say
# mode=bbm (mode=sbm otherwise).
# With our driver each line also carries what the driver itself counted meanwhile, from its
# debugfs files: driver_requests= (plug, unplug and unplug-all requests) and ns_PHASE= (the
# nanoseconds of each phase in phase_ns). The C driver has no such files: its lines have none.
. /tests/lib.sh
MODE=sbm
UNIT=
case $ARGS in
bbm:*)
	MODE=bbm
	rest=${ARGS#bbm:}
	UNIT=$((${rest%%:*} * MIB))
	ARGS=${rest#*:}
	;;
esac
SIZES=$(echo "$ARGS" | tr ',' ' ')
n=0
for s in $SIZES; do n=$((n + 1)); done
if [ $MODE = bbm ]; then
	tap_plan $((4 + 2 * n))
else
	tap_plan $((5 + 2 * n + 2))
fi
PRESSURE=$((4 * GIB))
DEADLINE=60
zone=$(sed -n 's/.*memhp_default_state=\([a-z_]*\).*/\1/p' /proc/cmdline)

# Busy CPU time of the whole guest in USER_HZ ticks (user nice system irq softirq steal).

# The device's debugfs directory of our driver; empty for the C driver, which has none.
DFS=
# driver_counters: our driver's request and phase counters as "req_NAME V ns_NAME V ...",
# one line; nothing without the directory. Only "name value" lines: the files end in an empty
# one, which would shift the pairs.
driver_counters() {
	[ -n "$DFS" ] || return 0
	echo $(awk 'NF == 2 { print "req_" $1, $2 }' "$DFS/requests"
		awk 'NF == 2 { print "ns_" $1, $2 }' "$DFS/phase_ns")
}
# driver_since COUNTERS: what our driver counted since driver_counters printed COUNTERS, as
# "driver_requests=N ns_PHASE=NS ..."; nothing when either reading is missing. State requests
# are left out: QEMU's count, which this stands next to, has none.
driver_since() {
	[ -n "$1" ] || return 0
	driver_counters | awk -v before="$1" '
	BEGIN { n = split(before, w, " "); for (i = 1; i < n; i += 2) b[w[i]] = w[i + 1] }
	{
		for (i = 1; i < NF; i += 2) {
			d = $(i + 1) - b[$i]
			if ($i ~ /^req_(plug|unplug|unplug_all)$/) r += d
			else if ($i ~ /^ns_/) printf "%s=%.0f ", $i, d
		}
		printf "driver_requests=%.0f", r
	}'
}

# measure OP BYTES LABEL: resize, wait for MemTotal, then for the memory
# blocks (added and online, or removed: a driver may shrink the device first
# and remove the emptied blocks afterwards), report the times and CPU.
measure() {
	set -- "$@" $(requests)
	d0=$(driver_counters)
	c0=$(cpu_ticks)
	t0=$(uptime_cs)
	resize "$2" 300 || return 1
	wait_for 120 memtotal_grew_by "$base_kb" "$2" || return 1
	settle_ms=$((($(uptime_cs) - t0) * 10))
	wait_for 120 blocks_are $((base_blocks + $2 / $(block_size))) || return 1
	wait_for 120 all_blocks_online || return 1
	blocks_ms=$((($(uptime_cs) - t0) * 10))
	cpu_ms=$((($(cpu_ticks) - c0) * TICK_MS))
	echo "# bench op=$1 zone=$zone mode=$MODE size=$3 device_ms=$RESIZE_MS memtotal_ms=$settle_ms blocks_ms=$blocks_ms cpu_ms=$cpu_ms $(requests_since $4 $5) $(driver_since "$d0")"
}

# requests_since PLUG UNPLUG: the requests sent since that count; nothing
# (the sample then has no request count) when either count is missing.
requests_since() {
	set -- "$@" $(requests)
	[ $# -eq 4 ] || return 0
	echo "plug_requests=$(($3 - $1)) unplug_requests=$(($4 - $2))"
}

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
DFS=$(ls -d /sys/kernel/debug/"$MODULE"/virtio* 2>/dev/null | head -n 1)
[ -n "$DFS" ] || diag "$MODULE has no debugfs directory: no counts or times from inside the driver"
base_kb=$(memtotal_kb)
base_blocks=$(count_blocks)
# The first plug and unplug after loading also pay for QEMU translating the
# hotplug paths of the kernel and the module (up to 3x the time of the same
# step repeated): measured apart, so that they do not weigh on the first size.
# The smallest step each mode can take: a memory block, or a device block in Big Block Mode.
UNIT=${UNIT:-$(block_size)}
check "first plug of $((UNIT / MIB)) MiB" measure first-plug "$UNIT" "$UNIT"
check "first unplug of $((UNIT / MIB)) MiB" measure first-unplug 0 "$UNIT"
for mib in $SIZES; do
	check "plug $mib MiB" measure plug $((mib * MIB)) $((mib * MIB))
	check "unplug $mib MiB" measure unplug 0 $((mib * MIB))
done
[ $MODE = bbm ] && tap_done

check "plug $((PRESSURE / MIB)) MiB for the pressure test" resize $PRESSURE 300
/bin/memhog $((PRESSURE / MIB / 2)) /tmp/hog.ready &
hog=$!
check "a process holds a pattern over half of it" wait_for 300 [ -f /tmp/hog.ready ]
r0=$(requests)
d0=$(driver_counters)
c0=$(cpu_ticks)
resize 0 $DEADLINE
cpu_ms=$((($(cpu_ticks) - c0) * TICK_MS))
echo "# bench op=pressure zone=$zone mode=$MODE size=$PRESSURE device_ms=$RESIZE_MS unplugged=$((PRESSURE - DEV_SIZE)) cpu_ms=$cpu_ms $(requests_since $r0) $(driver_since "$d0")"
kill -USR1 $hog
wait $hog
check "the pattern is intact" [ $? -eq 0 ]
tap_done
