# SPDX-License-Identifier: GPL-2.0
# Case params: the module parameters C's driver has, with its names, types and defaults, in
# /sys/module/MODULE/parameters/ with its permissions, and their effects: a value that does not
# parse fails insmod with EINVAL and the kernel names the parameter; force_bbm=1 drives the
# device in Big Block Mode, by default one memory block per big block, with bbm_block_size in
# big blocks of that size; unplug_online=0, set through sysfs while the driver runs, leaves
# online memory plugged, and 1 lets the next request unplug it. Ours also refuses a
# bbm_block_size that is not a power of two at insmod; C only ignores it (reported, not asserted).
#
# What tells the modes apart, beyond the driver's own log line: a request that is not a whole
# number of big blocks. 130 MiB is 65 subblocks, which Sub Block Mode plugs exactly; in Big
# Block Mode with 128 MiB big blocks only one big block fits (the device reaches 128 MiB and
# stays there).
. /tests/lib.sh
tap_plan 25
P=/sys/module/$MODULE/parameters
perm() { stat -c %a "$1"; }

check "insmod with force_bbm=maybe fails (a value that does not parse)" eval '! load_driver force_bbm=maybe 2>/tmp/insmod.err'
diag "insmod said: $(cat /tmp/insmod.err); kernel: $(dmesg | grep -F "invalid for parameter" | tail -n 1)"
check "... with EINVAL, and the kernel names the parameter" \
	eval 'grep -q "Invalid argument" /tmp/insmod.err && dmesg | grep -q "invalid for parameter .force_bbm."'
check "... and no half-loaded module is left" eval '! module_loaded'
if load_driver bbm_block_size=3 2>/tmp/insmod.err; then
	diag "$MODULE loaded with bbm_block_size=3 (the C driver ignores a bad value)"
	if [ "$DRIVER" = rust ]; then not_ok "ours refuses bbm_block_size=3 at insmod"; else ok "C loads with bbm_block_size=3 (not asserted: C only ignores it)"; fi
	unload_driver
else
	diag "insmod said: $(cat /tmp/insmod.err); kernel: $(dmesg | grep -F bbm_block_size | tail -n 1)"
	if [ "$DRIVER" = rust ]; then
		check "ours refuses bbm_block_size=3 at insmod with EINVAL and C's words" \
			eval 'grep -q "Invalid argument\|Invalid parameters" /tmp/insmod.err && dmesg | grep -q "bbm_block_size is not a power of 2"'
	else
		ok "C refuses bbm_block_size=3 (not asserted)"
	fi
fi

# force_bbm alone: Big Block Mode with the smallest big block, one memory block.
check "load $MODULE force_bbm=1" load_driver force_bbm=1
bind_or_bail
check "force_bbm=1: the driver logs Big Block Mode with one memory block per big block" \
	eval 'dmesg | grep -q "$MODULE virtio[0-9]*: big block size: $(printf %#x $(block_size))"'
base_blocks=$(count_blocks)
resize $((130 * MIB)) 15 || true
diag "asked for 130 MiB: the device reached $((DEV_SIZE / MIB)) MiB"
check "force_bbm=1: 130 MiB asked, one whole big block plugged (128 MiB), 1 memory block added" \
	eval '[ "$(device_size)" -eq $((128 * MIB)) ] && wait_for 30 blocks_are $((base_blocks + 1))'
check "force_bbm=1: unplug to 0" resize 0
check "unload $MODULE" unload_driver

# Big Block Mode in 256 MiB big blocks: two memory blocks each.
check "load $MODULE force_bbm=1 bbm_block_size=0x10000000" load_driver force_bbm=1 bbm_block_size=0x10000000
bind_or_bail
check "the parameters' files show the values, as C's do" \
	eval '[ "$(cat $P/force_bbm)" = Y ] && [ "$(cat $P/bbm_block_size)" = 268435456 ] && [ "$(cat $P/unplug_online)" = Y ]'
check "the parameters' files have C's permissions (0444, 0444, 0644)" \
	eval '[ "$(perm $P/force_bbm)" = 444 ] && [ "$(perm $P/bbm_block_size)" = 444 ] && [ "$(perm $P/unplug_online)" = 644 ]'
check "the driver logs Big Block Mode with 256 MiB big blocks" eval 'dmesg | grep -q "$MODULE virtio[0-9]*: big block size: 0x10000000"'
base_blocks=$(count_blocks)
check "force_bbm: plug 512 MiB" resize $((512 * MIB))
check "force_bbm: whole big blocks were added: 4 memory blocks, all online" wait_for 30 eval 'blocks_are $((base_blocks + 4)) && all_blocks_online'
check "force_bbm: unplug to 0" resize 0
check "unload $MODULE" unload_driver

check "load $MODULE (defaults)" load_driver
bind_or_bail
check "defaults: Sub Block Mode plugs 130 MiB exactly" resize $((130 * MIB)) 30
resize $GIB >/dev/null
diag "plugged $((DEV_SIZE / MIB)) MiB"
echo 0 >$P/unplug_online
check "unplug_online=0 through sysfs: reads back N" [ "$(cat $P/unplug_online)" = N ]
resize $((256 * MIB)) 20
check "unplug_online=0: a request to unplug online memory leaves it plugged (1 GiB after 20 s)" [ "$(device_size)" -eq $GIB ]
echo 1 >$P/unplug_online
check "unplug_online=1: the next request unplugs it" resize $((512 * MIB))
tap_done
