# SPDX-License-Identifier: GPL-2.0
# Case numa: QEMU has two NUMA nodes, 0 with memory only and 1 with the
# CPUs, and the virtio-mem device sits on node 0 (node=0). Those ids reach
# the guest as ACPI proximity domains (SRAT), and Linux numbers its nodes in
# the order it parses them, CPU entries first: PXM 1 is node 0 and PXM 0 is
# node 1 (QEMU 7.2 refuses sparse node ids, so swapping them is how a PXM
# comes to differ from its node id). With VIRTIO_MEM_F_ACPI_PXM the device's
# node_id is a PXM, which a driver must translate (pxm_to_node()): the
# memory it adds belongs to node 1, and the C driver logs "nid: 1" at probe.
. /tests/lib.sh
tap_plan 9
NODES=/sys/devices/system/node
MEM=/sys/devices/system/memory

nodes() { ls -d $NODES/node[0-9]* | sed 's,.*/,,' | tr '\n' ' '; }
diag "nodes: $(nodes); SRAT: $(dmesg | grep -E 'SRAT: (PXM|Node)' | sed 's/^\[[^]]*\] //' | tr '\n' ';')"
check "Linux has nodes 0 and 1 and no node 2" eval '[ "$(nodes)" = "node0 node1 " ]'
before=$(ls -d $MEM/memory* | sed 's,.*/,,' | sort)
check "load $MODULE" load_driver
check "the driver binds the virtio-mem device" wait_for 10 driver_bound
diag "$(dmesg | grep -E "$MODULE virtio[0-9]+: nid" | sed 's/^\[[^]]*\] //')"
check "the driver logged 'nid: 1'" eval "dmesg | grep -qE '$MODULE virtio[0-9]+: nid: 1\$'"
base_kb=$(memtotal_kb)
check "plug 1 GiB" resize $GIB
check "MemTotal grows by 1 GiB" wait_for 30 memtotal_grew_by "$base_kb" $GIB
new=$(ls -d $MEM/memory* | sed 's,.*/,,' | sort | grep -vxF "$before")
bs=$(block_size)
check "the driver added $((GIB / bs)) memory blocks" [ "$(echo $new | wc -w)" -eq $((GIB / bs)) ]
in_node() { [ -e "$NODES/$1/$2" ]; }
all_in_node1() {
	for b in $new; do in_node node1 "$b" || { diag "$b is not in node1"; return 1; }; done
	[ -n "$new" ]
}
none_elsewhere() {
	for n in $NODES/node[0-9]*; do
		[ "${n##*/}" = node1 ] && continue
		for b in $new; do in_node "${n##*/}" "$b" && { diag "$b is in ${n##*/}"; return 1; }; done
	done
	true
}
check "all of them belong to node 1" all_in_node1
check "none belongs to another node" none_elsewhere
diag "node1: $(ls -d $NODES/node1/memory* 2>/dev/null | wc -l) memory blocks; $(grep MemTotal $NODES/node1/meminfo)"
tap_done
