# SPDX-License-Identifier: GPL-2.0
# What `make bench` measures of a small guest growing far, in one guest (vmrs.args=REGION_GIB,
# the device's region in GiB, 16 or more): the guest boots with 1 GiB of memory and
# memory_hotplug.memmap_on_memory=1. Hot-added memory needs 1/64 of its size as memory map: C
# takes it from the boot memory, ours puts each block's map on the block itself.
#
# 16 GiB are plugged first: one "# bench op=grow ..." line with the time and what the plug took
# of ZONE_NORMAL's free memory (normal_free_kb: before the plug, normal_taken_kb: before less
# after) and of the free memory of every zone the kernel allocates from, DMA, DMA32 and Normal
# (kernel_zones_free_kb, kernel_zones_taken_kb; with 1 GiB of boot memory it all lies below
# 4 GiB, in DMA32, and ZONE_NORMAL is empty). Then the guest grows in 4 GiB steps while each
# step reaches its size, up to the region's end, and prints "# bench op=reach ... size=BYTES
# stop=REASON": the largest size the device reached, and why growing stopped: region_end, a
# step that timed out (timeout), the OOM killer (oom), the driver logging that adding memory
# failed (add_failed), or the kernel zones' free memory below what the next step's memory map
# and their watermarks need (low_memory; past it the OOM killer would end this script too). Growing stopping is the measurement, not a failure: the TAP points only
# check that the guest is set up and that the growth was measured. An unplug to 0 is tried at
# the end but not required.
. /tests/lib.sh
tap_plan 4
REGION=$((${ARGS:-64} * GIB))
FIRST=$((16 * GIB))
STEP=$((4 * GIB))
# Time limits of the first plug, of each later step and of the unplug at the end (seconds; the
# runner's time limit for the guest adds them up, see bench::Plan::grow_guests).
FIRST_S=900
STEP_S=300
UNPLUG_S=300
# Growing stops when the kernel zones have less free memory than this (MiB).
LOW_MIB=96
zone=$(sed -n 's/.*memhp_default_state=\([a-z_]*\).*/\1/p' /proc/cmdline)

if [ $REGION -lt $FIRST ]; then
	echo "Bail out! the region (vmrs.args=$ARGS GiB) must be 16 GiB or more"
	exit 1
fi

# Should memory run out, the OOM killer takes one of these idle processes rather than this
# script, which is left to say why growing stopped (-900, not -1000: with no process left to
# kill the kernel would panic).
echo -900 >/proc/$$/oom_score_adj
VICTIMS=
for i in 1 2 3; do
	sleep 1000000 &
	echo 1000 >/proc/$!/oom_score_adj
	VICTIMS="$VICTIMS $!"
done

oom_count() { dmesg | grep -c "Out of memory"; }
# C: "adding memory failed: -12"; ours: "adding memory at 0x... failed: ENOMEM".
add_failures() { dmesg | grep -cE "$MODULE virtio[0-9]+: adding memory (at 0x[0-9a-f]+ )?failed"; }

check "the kernel puts hot-added memory's map on it when asked" \
	grep -qx Y /sys/module/memory_hotplug/parameters/memmap_on_memory
check "load $MODULE" load_driver
bind_or_bail

oom0=$(oom_count)
add0=$(add_failures)
REACHED=0
STOP=
# grow_to BYTES TIMEOUT_S: one step; REACHED becomes the largest size the device reached, and
# STOP says why growing stops here, if it does.
grow_to() {
	resize "$1" "$2"
	status=$?
	case $DEV_SIZE in '' | *[!0-9]*) DEV_SIZE=0 ;; esac
	[ "$DEV_SIZE" -gt $REACHED ] && REACHED=$DEV_SIZE
	if [ "$(oom_count)" -gt "$oom0" ]; then
		STOP=oom
	elif [ "$(add_failures)" -gt "$add0" ]; then
		STOP=add_failed
	elif [ $status -ne 0 ]; then
		STOP=timeout
	fi
	diag "grow to $(($1 / GIB)) GiB: device at $((DEV_SIZE / MIB)) MiB after $RESIZE_MS ms${STOP:+, stopped: $STOP}"
	[ -z "$STOP" ]
}

base_kb=$(memtotal_kb)
normal0=$(zone_free_kb Normal)
kernel0=$(kernel_zones_free_kb)
c0=$(cpu_ticks)
if grow_to $FIRST $FIRST_S; then
	cpu_ms=$((($(cpu_ticks) - c0) * TICK_MS))
	grow_ms=$RESIZE_MS
	# The last blocks are added after the device reached the size: their maps count too.
	wait_for 120 memtotal_grew_by "$base_kb" $FIRST ||
		diag "MemTotal did not grow by 16 GiB: $base_kb kB before, $(memtotal_kb) kB now"
	normal1=$(zone_free_kb Normal)
	kernel1=$(kernel_zones_free_kb)
	diag "16 GiB: ZONE_NORMAL free $normal0 -> $normal1 kB; DMA, DMA32 and Normal free $kernel0 -> $kernel1 kB"
	echo "# bench op=grow zone=$zone size=$FIRST device_ms=$grow_ms cpu_ms=$cpu_ms normal_free_kb=$normal0 normal_taken_kb=$((normal0 - normal1)) kernel_zones_free_kb=$kernel0 kernel_zones_taken_kb=$((kernel0 - kernel1))"
	target=$FIRST
	while [ -z "$STOP" ]; do
		if [ $target -ge $REGION ]; then
			STOP=region_end
			break
		fi
		# Below this the next step's memory map, when it comes from the kernel zones (64 MiB),
		# and their watermarks (about 22 MiB here) leave no room, and the OOM killer ends the
		# guest, this script with it (C's guest, in a first run, at 54 GiB).
		if [ "$(kernel_zones_free_kb)" -lt $((LOW_MIB * 1024)) ]; then
			STOP=low_memory
			break
		fi
		target=$((target + STEP))
		[ $target -gt $REGION ] && target=$REGION
		grow_to $target $STEP_S || break
	done
fi
echo "# bench op=reach zone=$zone size=$REACHED device_ms=0 cpu_ms=0 stop=$STOP"
ok "growth measured: the device reached $((REACHED / MIB)) MiB, then stopped: $STOP"
if resize 0 $UNPLUG_S; then
	diag "unplugged to 0 in $RESIZE_MS ms"
else
	diag "not unplugged to 0 within $UNPLUG_S s ($((DEV_SIZE / MIB)) MiB left): not required here"
fi
kill $VICTIMS 2>/dev/null
tap_done
