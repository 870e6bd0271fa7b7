# SPDX-License-Identifier: GPL-2.0
# Case d: load and unload the module ten times with nothing plugged. Each
# cycle must load, bind the virtio-mem device, unload and leave no trace.
. /tests/lib.sh
tap_plan 12

# The .modinfo section holds "alias=..." strings (busybox modinfo needs modules.dep).
has_alias() { tr '\0' '\n' <"/lib/modules/$MODULE.ko" | grep -q '^alias=virtio:d00000018v'; }
check "the module's alias matches virtio-mem devices (device 24)" has_alias
cycle() {
	load_driver || return 1
	bound=0
	module_loaded && wait_for 10 driver_bound && bound=1
	# Unload even when binding failed, so one bad cycle does not fail the next ones.
	unload_driver || return 1
	[ $bound -eq 1 ] && ! module_loaded && ! driver_bound
}
i=1
while [ $i -le 10 ]; do
	check "cycle $i: load, listed, binds the device, unload, gone" cycle
	i=$((i + 1))
done
check "the device still has nothing plugged" [ "$(device_size)" -eq 0 ]
tap_done
