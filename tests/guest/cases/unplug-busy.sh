# SPDX-License-Identifier: GPL-2.0
# Case f: plugged memory onlined into ZONE_NORMAL (memhp_default_state=
# online_kernel) is unplugged while the guest keeps allocating and freeing.
# Kernel memory may pin some of it, so the device need not reach 0; it must
# shrink, nothing may crash or be lost, and the plugged size the driver
# reports must match the device's.
. /tests/lib.sh
per_driver=0
[ "$DRIVER" = rust ] && per_driver=1
tap_plan $((8 + per_driver))
PLUG=$((2 * GIB))

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
check "plug 2 GiB" resize $PLUG
check "MemTotal grows by 2 GiB" wait_for 30 memtotal_grew_by "$base_kb" $PLUG

/bin/memhog 1024 /tmp/hog.ready &
hog=$!
check "memhog holds a 1024 MiB pattern" wait_for 120 [ -f /tmp/hog.ready ]
# Allocation churn: 128 MiB taken, checked and freed, over and over.
(
	n=0
	while [ ! -f /tmp/stop ]; do
		rm -f /tmp/churn.ready
		/bin/memhog 128 /tmp/churn.ready &
		p=$!
		wait_for 60 [ -f /tmp/churn.ready ]
		kill -USR1 $p
		wait $p || echo "# churn round $n: pattern broken"
		n=$((n + 1))
	done
) &
churn=$!

resize 0 60
diag "device size $DEV_SIZE after $RESIZE_MS ms (peak $DEV_PEAK)"
check "the device shrank below 2 GiB while the guest allocated" [ "$DEV_SIZE" -lt $PLUG ]
touch /tmp/stop
wait $churn
kill -USR1 $hog
wait $hog
check "the pattern is intact" [ $? -eq 0 ]
size=$(device_size)
check "MemTotal is within the device's plugged size" \
	[ $(($(memtotal_kb) - base_kb)) -le $((size / 1024)) ]
if [ "$DRIVER" = rust ]; then
	agree() { [ "$(driver_count)" -eq "$(device_size)" ]; }
	check "the driver's plugged size equals the device's" wait_for 30 agree
	diag "driver $(driver_count), device $(device_size)"
fi
tap_done
