# SPDX-License-Identifier: GPL-2.0
# Case d: load and unload the module ten times with nothing plugged. Each
# cycle must load, show the module, unload and leave no trace of it.
. /tests/lib.sh
tap_plan 11

cycle() {
	load_driver || return 1
	module_loaded || return 1
	unload_driver || return 1
	! module_loaded
}
i=1
while [ $i -le 10 ]; do
	check "cycle $i: load, listed in /proc/modules, unload, gone" cycle
	i=$((i + 1))
done
check "the device still has nothing plugged" [ "$(device_size)" -eq 0 ]
tap_done
