# SPDX-License-Identifier: GPL-2.0
# Case pci-hotplug: the guest boots without a virtio-mem device (but with
# room for hot-added memory, -m maxmem); the driver is loaded first, then
# the host adds the device over QMP (object-add + device_add), which the pc
# machine signals to the guest through ACPI PCI hotplug: the kernel's ACPI
# hotplug work (acpi_hotplug_work, which holds device_hotplug_lock) adds the
# PCI device, virtio-pci finds the virtio device and our driver's probe runs
# right there. The driver must bind, plug 1 GiB, unplug it and let go of the
# device on unbind (QEMU 7.2 refuses device_del of a virtio-mem device, so
# unbinding is as far as removal goes).
. /tests/lib.sh
tap_plan 11
REGION=$((8 * GIB))
VIRTIO_MEM_ID=0x0018
# the virtio device that is a virtio-mem device, e.g. virtio0
mem_device() {
	for d in /sys/bus/virtio/devices/virtio*; do
		[ "$(cat "$d/device" 2>/dev/null)" = $VIRTIO_MEM_ID ] && basename "$d" && return 0
	done
	return 1
}

check "load $MODULE (no virtio-mem device yet)" load_driver
check "there is no virtio-mem device before the hot-plug" eval '! mem_device >/dev/null'
base_kb=$(memtotal_kb)
base_blocks=$(count_blocks)
check "the host hot-plugs a virtio-mem-pci device with an 8 GiB region" hotplug $REGION
check "the guest finds the device within 30 s" wait_for 30 mem_device
dev=$(mem_device)
diag "device: ${dev:-none}; $(dmesg | grep -c "$MODULE") lines of $MODULE in the log"
# The driver's link appears before its probe runs; DRIVER_OK (status bit 4)
# is set when the probe is done.
probed() {
	driver_bound && [ $(($(cat /sys/bus/virtio/devices/$dev/status) & 4)) -ne 0 ]
}
check "the driver binds it within 30 s (its probe returned: DRIVER_OK)" wait_for 30 probed
diag "status $(cat /sys/bus/virtio/devices/$dev/status 2>/dev/null)"
check "plug 1 GiB within 60 s" resize $GIB 60
diag "device size $DEV_SIZE after $RESIZE_MS ms"
check "MemTotal grows by 1 GiB" wait_for 30 memtotal_grew_by "$base_kb" $GIB
check "unplug to 0 within 60 s" resize 0 60
diag "device size $DEV_SIZE after $RESIZE_MS ms"
check "MemTotal and the memory blocks are back to what they were" \
	wait_for 30 eval 'memtotal_is $base_kb && blocks_are $base_blocks'
# Writing to unbind waits for the device's lock, which a probe that never
# returned still holds: the write runs aside, and gets 30 s.
unbind() {
	driver_bound || { diag "not bound, not unbinding"; return 1; }
	echo "$dev" >/sys/bus/virtio/drivers/"$DRIVER_NAME"/unbind &
	writer=$!
	wait_for 30 eval '! kill -0 $writer 2>/dev/null' || { diag "unbind still waiting after 30 s"; return 1; }
	wait $writer
}
check "unbind $dev from $DRIVER_NAME" unbind
check "the driver let go of it" eval '! driver_bound && [ ! -e /sys/bus/virtio/devices/$dev/driver ]'
tap_done
