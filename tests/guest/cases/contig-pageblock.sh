# SPDX-License-Identifier: GPL-2.0
# The patch series' pageblock-granularity test: plug 1 GiB into ZONE_MOVABLE,
# then load contig_pageblock_test.ko, which allocates and frees pageblock-
# aligned ranges there through kernel::contig and checks the pageblocks
# around them. Each of its checks becomes a test point here; its output ends
# with "# done:" (busybox insmod runs a failing init a second time).
. /tests/lib.sh
MODULE_CHECKS=11
tap_plan $((5 + MODULE_CHECKS))

check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
base_kb=$(memtotal_kb)
check "plug 1 GiB (onlined to ZONE_MOVABLE)" resize $GIB
check "MemTotal grows by 1 GiB" wait_for 30 memtotal_grew_by "$base_kb" $GIB

insmod /lib/modules/contig_pageblock_test.ko
loaded=$?
dmesg | sed -n 's/^.*contig_pageblock_test: //p' >/tmp/contig.out
while read -r line; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	"# done:"*) break ;;
	"# "*) echo "$line" ;;
	esac
done </tmp/contig.out
check "contig_pageblock_test loads: all its checks held" [ $loaded -eq 0 ]
[ $loaded -eq 0 ] && rmmod contig_pageblock_test
tap_done
