# SPDX-License-Identifier: GPL-2.0
# Case soak: OPS (vmrs.args=, default 100) operations drawn from the run's seed: resizes
# (whole memory blocks and 2 MiB steps), host-paced storms, a switch of the zone new
# blocks go to (auto_online_blocks: online_movable / online_kernel), a block offlined or
# onlined by hand, allocation failures aimed at the driver during a resize, an unbind and
# bind with nothing plugged, and a fresh pattern. A checksummed pattern is checked after
# every operation, and whenever the device has reached its request the kernel's and the
# driver's counts must agree with it. Each operation prints a "soak-op" line, the end a
# "soak-result" line (the runner's `soak` command makes its table from them).
. /tests/lib.sh
OPS=${ARGS:-100}
MAX=$((3 * GIB))
MEM=/sys/devices/system/memory
tap_plan 9

# A 31-bit linear congruential generator from the seed: the same seed, the same soak.
R=$((${SEED:-1} % 2147483648))
# pick N: a number in 0..N-1 (from the generator's high bits; the low ones cycle).
pick() {
	R=$(((R * 1103515245 + 12345) % 2147483648))
	PICK=$(((R >> 8) % $1))
}
BLOCK=$(block_size)

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
boot_ids=$(block_ids)
check "failures can be aimed at $MODULE" aim_both $(module_range)
check "memhog holds a 128 MiB pattern" hog_start 128
diag "soak: $OPS operations, seed ${SEED:-1}"

REQ=0
ops=0 pattern_errors=0 mismatches=0 unsettled=0 stuck=0 longest_ms=0 refused=0 skipped=0 broken=0
zone=online_movable
# settle BYTES SECONDS: asks for BYTES and waits; SETTLED=1 when the device got there.
settle() {
	REQ=$1
	SETTLED=0
	if resize "$1" "$2"; then
		SETTLED=1
		[ "$RESIZE_MS" -gt "$longest_ms" ] && longest_ms=$RESIZE_MS
	fi
	true
}
ours() { new_block_ids "$boot_ids"; }
# counts_agree: with the device at its request, MemTotal never counts more than is
# plugged, counts all of it when every block of the device is online, and (ours) the
# driver's count is the device's.
counts_agree() {
	size=$(device_size)
	[ "$size" -eq "$REQ" ] || return 0
	grew=$(($(memtotal_kb) - base_kb))
	[ "$grew" -le $((size / 1024)) ] || { diag "MemTotal grew by $grew KiB, plugged $size"; return 1; }
	offline=0
	for b in $(ours); do
		[ "$(cat $MEM/memory$b/state 2>/dev/null)" = online ] || offline=1
	done
	if [ "$offline" = 0 ] && ! wait_for 10 memtotal_grew_by "$base_kb" "$size"; then
		diag "every block online, but MemTotal grew by $grew KiB for $size plugged"
		return 1
	fi
	if [ "$DRIVER" = rust ] && ! wait_for 10 driver_count_is "$size"; then
		diag "the driver counts $(driver_count), the device $size"
		return 1
	fi
}
# excused: a resize may fail to settle because a block of the device is offline (the
# offline budget holds grows back) or online in ZONE_NORMAL (unmovable pages hold shrinks
# back); without either, a resize that does not settle is stuck.
excused() {
	for b in $(ours); do
		[ "$(cat $MEM/memory$b/state 2>/dev/null)" = offline ] && return 0
	done
	in_normal_zone
}
# in_normal_zone: a block of the device is online in ZONE_NORMAL.
in_normal_zone() {
	for b in $(ours); do
		[ "$(cat $MEM/memory$b/state 2>/dev/null)" = online ] &&
			grep -q Normal $MEM/memory$b/valid_zones 2>/dev/null && return 0
	done
	return 1
}
random_size() {
	pick 2
	if [ "$PICK" = 0 ]; then
		pick $((MAX / BLOCK + 1))
		SIZE=$((PICK * BLOCK))
	else
		pick $((MAX / (2 * MIB) + 1))
		SIZE=$((PICK * 2 * MIB))
	fi
}
random_block() {
	set -- $(ours)
	[ $# -gt 0 ] || return 1
	pick $#
	shift "$PICK"
	BLK=$1
}

while [ "$ops" -lt "$OPS" ]; do
	ops=$((ops + 1))
	pick 100
	what=$PICK
	t0=$(uptime_cs)
	note=
	if [ "$what" -lt 40 ]; then
		kind=resize
		random_size
		settle "$SIZE" 30
		note="$((SIZE / MIB)) MiB"
	elif [ "$what" -lt 48 ]; then
		kind=storm
		host "storm $R 20 $MAX $((2 * MIB))"
		set -- $REPLY
		SETTLED=0
		if [ "$1" != ok ]; then
			diag "op $ops: the host's storm failed: $REPLY"
			break
		fi
		REQ=$2
		if wait_size "$REQ" 30; then
			SETTLED=1
			[ "$RESIZE_MS" -gt "$longest_ms" ] && longest_ms=$RESIZE_MS
		fi
		note="last $((REQ / MIB)) MiB"
	elif [ "$what" -lt 58 ]; then
		kind=zone
		pick 2
		zone=online_movable
		[ "$PICK" = 1 ] && zone=online_kernel
		echo $zone >$MEM/auto_online_blocks
		note=$zone
	elif [ "$what" -lt 68 ]; then
		kind=offline
		if random_block; then
			echo offline 2>/dev/null >$MEM/memory$BLK/state || refused=$((refused + 1))
			note="memory$BLK: $(cat $MEM/memory$BLK/state 2>/dev/null)"
		fi
	elif [ "$what" -lt 78 ]; then
		kind=online
		if random_block && [ "$(cat $MEM/memory$BLK/state 2>/dev/null)" = offline ]; then
			pick 2
			how=online_movable
			[ "$PICK" = 1 ] && how=online_kernel
			echo $how 2>/dev/null >$MEM/memory$BLK/state || refused=$((refused + 1))
			note="memory$BLK $how: $(cat $MEM/memory$BLK/state 2>/dev/null)"
		fi
	elif [ "$what" -lt 90 ]; then
		kind=faults
		random_size
		pick 40
		pct=$((PICK + 5))
		faults $pct
		resize "$SIZE" 5 || true
		faults 0
		# The faults stop. QEMU tells the driver only about a request that changes, so
		# the next one is 2 MiB off: it wakes the driver at once, not its retry timer.
		if [ "$SIZE" -lt "$MAX" ]; then SIZE=$((SIZE + 2 * MIB)); else SIZE=$((SIZE - 2 * MIB)); fi
		settle "$SIZE" 30
		note="$pct% while asking for $((SIZE / MIB)) MiB"
	elif [ "$what" -lt 93 ]; then
		kind=rebind
		# Memory in ZONE_NORMAL mostly stays: no unplug to 0 is tried then.
		SETTLED=0
		in_normal_zone || settle 0 30
		no_blocks() { [ "$(ours)" = "" ]; }
		if [ "$SETTLED" = 1 ] && wait_for 10 no_blocks; then
			dev=$(ls /sys/bus/virtio/drivers/"$DRIVER_NAME"/ | grep virtio)
			echo "$dev" >/sys/bus/virtio/drivers/"$DRIVER_NAME"/unbind
			echo "$dev" >/sys/bus/virtio/drivers/"$DRIVER_NAME"/bind
			if ! wait_for 10 driver_bound; then
				diag "op $ops: $dev could not be bound again"
				mismatches=$((mismatches + 1))
				break
			fi
			note="$dev"
		else
			skipped=$((skipped + 1))
			note="skipped: memory left in ZONE_NORMAL"
		fi
	else
		kind=pattern
		if hog_check; then
			:
		else
			pattern_errors=$((pattern_errors + 1))
		fi
		pick 4
		hog_start $((64 * (PICK + 1))) || pattern_errors=$((pattern_errors + 1))
		note="a new $((64 * (PICK + 1))) MiB pattern"
	fi
	if [ "$kind" = resize ] || [ "$kind" = storm ] || [ "$kind" = faults ]; then
		if [ "$SETTLED" != 1 ]; then
			unsettled=$((unsettled + 1))
			if ! excused; then
				diag "op $ops ($kind): stuck at $(($(device_size) / MIB)) MiB for $((REQ / MIB)) MiB, nothing offline or in ZONE_NORMAL"
				stuck=$((stuck + 1))
			fi
		fi
	fi
	if ! hog_verify; then
		diag "op $ops ($kind): the pattern is '$HOG_RESULT'"
		pattern_errors=$((pattern_errors + 1))
	fi
	if device_broken; then
		diag "op $ops ($kind): $MODULE marked the device broken: $(dmesg | grep -E 'marking (the )?device broken' | tail -n 1)"
		broken=1
		break
	fi
	counts_agree || mismatches=$((mismatches + 1))
	echo "# soak-op $ops $kind settled=${SETTLED:-1} ms=$(($(uptime_cs) - t0))0 $note"
	[ $((ops % 10)) -eq 0 ] && diag "soak: $ops/$OPS operations, device $(($(device_size) / MIB)) MiB, $pattern_errors pattern errors, $mismatches count mismatches"
	SETTLED=1
done

# The end: no faults, everything back to 0 (or what ZONE_NORMAL keeps).
faults 0
echo online_movable >$MEM/auto_online_blocks
# A broken device would only wait out the time.
if [ "$broken" = 0 ]; then
	settle 0 30
	if [ "$SETTLED" != 1 ] && ! excused; then
		diag "the last unplug to 0 is stuck at $(($(device_size) / MIB)) MiB, nothing offline or in ZONE_NORMAL"
		stuck=$((stuck + 1))
	fi
fi
hog_check || pattern_errors=$((pattern_errors + 1))
[ "$broken" = 1 ] || counts_agree || mismatches=$((mismatches + 1))
left=$(($(device_size) / MIB))
echo "# soak-result ops=$ops pattern_errors=$pattern_errors mismatches=$mismatches longest_ms=$longest_ms unsettled=$unsettled stuck=$stuck refused=$refused skipped=$skipped left_mib=$left broken=$broken"
check "$ops of $OPS operations done" [ "$ops" -eq "$OPS" ]
check "no pattern errors" [ "$pattern_errors" -eq 0 ]
check "no count mismatches" [ "$mismatches" -eq 0 ]
check "no resize stuck without a reason" [ "$stuck" -eq 0 ]
check "the driver kept the device" [ "$broken" -eq 0 ]
tap_done
