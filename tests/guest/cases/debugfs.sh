# SPDX-License-Identifier: GPL-2.0
# Case debugfs: the driver's files in /sys/kernel/debug/virtio_mem_rs/virtioN/ agree with the
# device after refused requests, a plug and an unplug. The device's backend is short (as in
# device-busy): plugging 1 GiB gets BUSY until the host frees it. The requests the driver
# counts by type are the ones QEMU's trace saw; the sizes are QEMU's. The C driver has no such
# files: its run reports that and stops (a known failure of the control, not counted).
. /tests/lib.sh
tap_plan 20
# get FILE: one file of the device's directory; field FILE NAME: one `name value` line of it.
get() { cat "$D/$1"; }
field() { awk -v n="$2" '$1 == n { print $2 }' "$D/$1"; }
host_counts() { host requests; set -- $REPLY; HOST_PLUG=$2 HOST_UNPLUG=$3 HOST_ALL=$4; }
counts_agree() {
	host_counts
	[ "$(field requests plug)" -eq "$HOST_PLUG" ] && [ "$(field requests unplug)" -eq "$HOST_UNPLUG" ] &&
		[ "$(field requests unplug_all)" -eq "$HOST_ALL" ]
}
# Every request was answered: the answers add up to the requests.
answers_add_up() {
	a=$(awk '{ s += $2 } END { print s }' "$D/answers")
	r=$(awk '{ s += $2 } END { print s }' "$D/requests")
	[ "$a" -eq "$r" ]
}
sizes_agree() {
	[ "$(get plugged_size)" -eq "$1" ] && [ "$(get device_plugged_size)" -eq "$(device_size)" ] &&
		[ "$(get requested_size)" -eq "$1" ]
}
show() { for f in requests answers alloc_contig_range blocks; do diag "$f: $(tr '\n' ' ' <"$D/$f")"; done; }

check "load $MODULE" load_driver
bind_or_bail
D=$(ls -d /sys/kernel/debug/"$MODULE"/virtio* 2>/dev/null | head -n 1)
if [ -z "$D" ]; then
	diag "$MODULE has no debugfs directory"
	echo "Bail out! no /sys/kernel/debug/$MODULE/virtioN"
	exit 0
fi
check "the device's directory has its files, mode sbm, 2 MiB blocks and subblocks" \
	eval '[ "$(get mode)" = sbm ] && [ "$(get device_block_size)" -eq $((2 * MIB)) ] && [ "$(get plug_unit_size)" -eq $((2 * MIB)) ]'
all_unused() { [ "$(field blocks unused)" -eq "$(awk '{ s += $2 } END { print s }' "$D/blocks")" ]; }
check "nothing plugged, every memory block unused" eval '[ "$(get plugged_size)" -eq 0 ] && all_unused'

resize $GIB 20
show
check "refused: the device answered BUSY, and the driver counted it" [ "$(field answers busy)" -ge 1 ]
check "refused: a retry is armed with the first back-off (50 s), the run stopped for later" \
	eval '[ "$(get retries)" -ge 1 ] && [ "$(get backoff_ms)" -eq 50000 ] && [ "$(get last_stop)" = Later ]'
check "refused: the requests by type are the ones the device saw" counts_agree
check "refused: every request has its answer" answers_add_up
check "refused: plugged sizes agree (ours, the device's, QEMU's)" eval '[ "$(get plugged_size)" -eq "$(device_size)" ] && [ "$(get device_plugged_size)" -eq "$(device_size)" ]'

host free-backend
check "plug: after the host frees the backend, the retry plugs 1 GiB" wait_size $GIB 120
show
check "plug: sizes agree: requested, ours, the device's" wait_for 10 sizes_agree $GIB
check "plug: 8 memory blocks online movable" [ "$(field blocks movable)" -eq 8 ]
check "plug: the requests by type are the ones the device saw; every one answered" eval 'counts_agree && answers_add_up'

check "unplug to 512 MiB" resize $((512 * MIB))
show
check "unplug: sizes agree, 4 blocks left movable" eval 'wait_for 10 sizes_agree $((512 * MIB)) && [ "$(field blocks movable)" -eq 4 ]'
check "unplug: unplug requests counted as the device saw them, every one answered, the run reached the size" \
	eval 'counts_agree && answers_add_up && [ "$(field requests unplug)" -ge 1 ] && [ "$(get last_stop)" = Reached ]'
check "the region file spans the device's 8 GiB; the usable region holds what is plugged and lies in it" \
	eval 'r=$(get region) && [ $((${r#*-} - ${r%-*})) -eq $((8 * GIB)) ] &&
		[ "$(get usable_region_size)" -ge "$(get plugged_size)" ] && [ "$(get usable_region_size)" -le $((8 * GIB)) ]'

# One subblock of an online memory block: only alloc_contig_range() can take it out.
contig_before=$(field alloc_contig_range attempts)
check "unplug one subblock (to 510 MiB)" resize $((510 * MIB))
show
check "a subblock of online memory went through alloc_contig_range(), counted; failures never exceed attempts" \
	eval '[ "$(field alloc_contig_range attempts)" -gt "$contig_before" ] &&
		[ "$(field alloc_contig_range failures)" -le "$(field alloc_contig_range attempts)" ] && sizes_agree $((510 * MIB))'
resize 0 >/dev/null
check "unload: the device's directory goes with the driver" eval 'unload_driver && [ ! -e "$D" ]'
tap_done
