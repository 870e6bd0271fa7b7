# SPDX-License-Identifier: GPL-2.0
# Case unbind-rebind: unbind the driver from the device through sysfs and bind it again.
# With nothing plugged the second bind takes the device. Unbound in the middle of a plug of
# 8 GiB, the driver leaves what it added (Linux cannot be made to give up online memory):
# nothing is lost: blocks caught before onlining stay offline and whole, and once a person
# onlines them MemTotal counts exactly what the device has plugged; a pattern fits and stays
# intact; the next bind refuses the device and says why.
. /tests/lib.sh
tap_plan 15
LEFT=$MEMORY_LEFT_MSG
TAKEN=$REGION_TAKEN_MSG
DRV=/sys/bus/virtio/drivers/$DRIVER_NAME
bound_dev() { ls -d $DRV/virtio* 2>/dev/null | head -n 1 | sed 's,.*/,,'; }
unbind() { echo "$1" > $DRV/unbind; }
bind() { echo "$1" > $DRV/bind; }
not_bound() { [ -z "$(bound_dev)" ]; }

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
dev=$(bound_dev)
base_kb=$(memtotal_kb)
check "unbind $dev with nothing plugged" unbind "$dev"
check "bind $dev again: the driver takes it" eval 'bind "$dev" && wait_for 10 driver_bound'
# A resize that does not wait: the driver is unbound while it plugs.
resize $((8 * GIB)) 0
diag "the device had $((DEV_SIZE / MIB)) MiB plugged when asked for 8 GiB"
check "unbind $dev while it plugs 8 GiB" unbind "$dev"
check "$dev is unbound" not_bound
left=$(device_size)
diag "the device keeps $((left / MIB)) MiB plugged; MemTotal grew by $((($(memtotal_kb) - base_kb) / 1024)) MiB"
diag "memory blocks: $(cat /sys/devices/system/memory/memory*/state | sort | uniq -c | tr '\n' ' ')"
check "the driver logged that the memory stays ('$LEFT')" eval '[ "$left" -eq 0 ] || logged "$LEFT"'
check "the device stops growing once unbound" eval 'sleep 2; device_size_is "$left"'
# Blocks the unbind caught between adding and onlining stay added and offline (both
# drivers remove only partly plugged offline blocks): whole, so a person can online them.
offline_ids() { grep -lx offline /sys/devices/system/memory/memory*/state 2>/dev/null | sed 's,.*/memory\([0-9]*\)/state,\1,'; }
online_by_hand() {
	for b in $(offline_ids); do echo online_movable > /sys/devices/system/memory/memory$b/state || return 1; done
}
check "the offline blocks left ($(offline_ids | wc -l)) can be onlined by hand" online_by_hand
check "then MemTotal counts exactly what the device has plugged" memtotal_grew_by "$base_kb" "$left"
check "a 512 MiB pattern fits and stays intact" eval 'hog_start 512 && hog_check'
if [ "$left" -gt 0 ]; then
	err=$(bind "$dev" 2>&1)
	diag "bind again: ${err:-no error from the write}"
	check "binding again does not take the device" eval '! wait_for 5 driver_bound'
	check "and says why ('$TAKEN')" logged "$TAKEN"
else
	check "binding again takes the device (nothing was left)" eval 'bind "$dev" && wait_for 10 driver_bound'
	check "and plugs 1 GiB" resize $GIB
fi
check "the guest can still unload the module" unload_driver
check "MemTotal is unchanged by the unload" memtotal_grew_by "$base_kb" "$left"
tap_done
