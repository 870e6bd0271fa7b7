# SPDX-License-Identifier: GPL-2.0
# Case g: the device starts with requested-size 1 GiB: loading the driver
# plugs it without any resize.
. /tests/lib.sh
per_driver=0
[ "$DRIVER" = rust ] && per_driver=1
tap_plan $((4 + per_driver))
WANT=$GIB

check "requested-size is 1 GiB before the driver loads" [ "$(host requested; echo "${REPLY#ok }")" -eq $WANT ]
base_kb=$(memtotal_kb)
check "load $MODULE" load_driver
check "the device's size reaches 1 GiB without a resize" wait_for 60 device_size_is $WANT
check "MemTotal grows by 1 GiB" wait_for 30 memtotal_grew_by "$base_kb" $WANT
if [ "$DRIVER" = rust ]; then
	check "the driver's plugged size equals the device's" wait_for 30 driver_count_is $WANT
fi
tap_done
