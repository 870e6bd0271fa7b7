# SPDX-License-Identifier: GPL-2.0
# Helpers for the guest test cases: TAP output, the command channel to the
# host runner on ttyS1, and what the guest sees of memory.

# The module under test, chosen by vmrs.driver=.
case $DRIVER in
c) MODULE=virtio_mem ;;
rust) MODULE=virtio_mem_rs ;;
*) echo "Bail out! unknown driver '$DRIVER'"; exit 1 ;;
esac
# The virtio driver name the module registers (its directory under
# /sys/bus/virtio/drivers).
DRIVER_NAME=$MODULE
MIB=1048576
GIB=1073741824
# vmrs.slow=N: the guest runs N times slower than the cases' time limits were set for (the
# debug kernel). The limits resize passes to the host and the waits of wait_for are N times
# longer; so are waits a case counts itself (scale SECONDS).
SLOW=${SLOW:-1}
scale() { echo $(($1 * SLOW)); }

TESTNUM=0
FAILS=0
# A case that goes on in a capture kernel goes on counting (vmrs.tap=).
if [ -n "$TAP_STATE" ]; then
	TESTNUM=${TAP_STATE%,*}
	FAILS=${TAP_STATE#*,}
fi
tap_plan() {
	echo "TAP version 13"
	echo "1..$1"
}
ok() {
	TESTNUM=$((TESTNUM + 1))
	echo "ok $TESTNUM - $*"
}
not_ok() {
	TESTNUM=$((TESTNUM + 1))
	FAILS=$((FAILS + 1))
	echo "not ok $TESTNUM - $*"
}
diag() { echo "# $*"; }
# check DESCRIPTION COMMAND...: one test point from a command's status.
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
# bind_or_bail: the test point that the driver binds the device; when it does not, the case
# bails out there (a case whose every resize would wait out its time limit against a driver
# that refused the device only takes long to say the same).
bind_or_bail() {
	if wait_for 10 driver_bound; then
		ok "the driver binds the virtio-mem device"
	else
		not_ok "the driver binds the virtio-mem device"
		dmesg | grep -F "$MODULE" | tail -n 5 | sed 's/^/# /'
		echo "Bail out! $MODULE did not bind the device"
		exit 1
	fi
}
tap_done() {
	[ "$FAILS" -eq 0 ]
	exit $?
}

# The command channel: one request line to the host, one reply line back.
# `make shell`'s guest has no host runner and no second UART.
if [ "$CASE" != shell ]; then
	exec 3<>/dev/ttyS1
	stty -F /dev/ttyS1 raw -echo
fi
host() {
	echo "$*" >&3
	read -r REPLY <&3
	REPLY=$(echo "$REPLY" | tr -d '\r')
}
# resize BYTES [TIMEOUT_S]: asks the host to set requested-size and wait
# until the device's size matches (TIMEOUT_S times SLOW; 120 s, the host's
# default, when not given). Sets DEV_SIZE, RESIZE_MS and DEV_PEAK (the
# largest size the host saw meanwhile); fails on a timeout.
resize() {
	host "resize $1 $(scale "${2:-120}")"
	size_reply
}
# wait_size BYTES TIMEOUT_S: like resize, but only waits for the device's
# size, without setting requested-size (which would wake the driver).
wait_size() {
	host "wait-size $1 $(scale "$2")"
	size_reply
}
# The host's answer to resize and wait-size: "ok|timeout SIZE MS PEAK".
size_reply() {
	set -- $REPLY
	DEV_SIZE=$2
	RESIZE_MS=$3
	DEV_PEAK=$4
	[ "$1" = ok ]
}
# hotplug REGION_BYTES: asks the host to add the virtio-mem device (for a
# guest that booted without one).
hotplug() {
	host "hotplug $1"
	[ "$REPLY" = ok ] || { diag "host: $REPLY"; false; }
}
# requests: the plug and unplug requests (unplug-all counted as one) the
# device has got since boot, from QEMU's trace, as "PLUG UNPLUG".
requests() {
	host requests
	set -- $REPLY
	[ "$1" = ok ] && echo "$2 $(($3 + $4))"
}
# device_size: the device's plugged size as QEMU reports it.
device_size() {
	host size
	set -- $REPLY
	echo "$2"
}

memtotal_kb() { awk '/^MemTotal:/ { print $2 }' /proc/meminfo; }
memfree_kb() { awk '/^MemFree:/ { print $2 }' /proc/meminfo; }
uptime_cs() { awk '{ split($1, t, "."); print t[1] * 100 + t[2] }' /proc/uptime; }
block_size() { echo $((0x$(cat /sys/devices/system/memory/block_size_bytes))); }
count_blocks() { ls -d /sys/devices/system/memory/memory* | wc -l; }
count_blocks_in_state() { cat /sys/devices/system/memory/memory*/state | grep -cx "$1"; }
all_blocks_online() { [ "$(count_blocks_in_state online)" -eq "$(count_blocks)" ]; }
# block_ids: the memory blocks' numbers, ascending. new_block_ids BOOT_IDS: those not in
# BOOT_IDS (an earlier block_ids), that is, the device's.
block_ids() { ls -d /sys/devices/system/memory/memory* | sed 's/.*memory//' | sort -n; }
new_block_ids() { block_ids | grep -vxF "$1"; }

# wait_for SECONDS COMMAND...: polls every 50 ms until COMMAND succeeds
# (SECONDS times SLOW).
wait_for() {
	deadline=$(($(uptime_cs) + $(scale "$1") * 100))
	shift
	until "$@"; do
		[ "$(uptime_cs)" -lt "$deadline" ] || return 1
		usleep 50000
	done
}

# What each driver logs when it leaves added memory on remove, and when a later bind finds
# the device's region still reserved.
case $DRIVER in
c) MEMORY_LEFT_MSG='device still has system memory added'; REGION_TAKEN_MSG='could not reserve device region' ;;
*) MEMORY_LEFT_MSG='memory still added'; REGION_TAKEN_MSG='could not reserve the device region' ;;
esac
module_loaded() { grep -q "^$MODULE " /proc/modules; }
driver_bound() { ls -d /sys/bus/virtio/drivers/"$DRIVER_NAME"/virtio* >/dev/null 2>&1; }
load_driver() { insmod /lib/modules/"$MODULE".ko "$@"; }
unload_driver() { rmmod "$MODULE"; }

# MemTotal after plugging must grow by the plugged size minus at most the
# memmap of the new memory (64-byte struct page per 4 KiB page = 1/64), which
# the kernel takes from the new memory itself with memmap_on_memory; without
# it the growth is exact.
memtotal_grew_by() {
	grew=$(($(memtotal_kb) - $1))
	want=$(($2 / 1024))
	[ "$grew" -le "$want" ] && [ "$grew" -ge $((want - want / 64)) ]
}
memtotal_is() { [ "$(memtotal_kb)" -eq "$1" ]; }
blocks_are() { [ "$(count_blocks)" -eq "$1" ]; }
# zone_free_kb ZONE: free memory of that zone (e.g. Movable) over all nodes, from
# /proc/zoneinfo; 0 when no node has the zone populated.
zone_free_kb() {
	awk -v z="$1" '/^Node/ { cur = $4 } cur == z && $1 == "pages" && $2 == "free" { s += $3 }
		END { print s * 4 }' /proc/zoneinfo
}

# kernel_zones_free_kb: free memory of the zones the kernel allocates from (DMA, DMA32 and
# Normal: all but ZONE_MOVABLE), where a hot-added block's memory map comes from unless it is
# on the block itself.
kernel_zones_free_kb() {
	echo $(($(zone_free_kb DMA) + $(zone_free_kb DMA32) + $(zone_free_kb Normal)))
}
# cpu_ticks: the busy CPU time of the whole guest so far, in ticks of TICK_MS milliseconds.
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
TICK_MS=$((1000 / $(getconf CLK_TCK 2>/dev/null || echo 100)))

# driver_count: the plugged size our driver last logged ("plugged 0x... (requested 0x...)").
driver_count() {
	last=$(dmesg | sed -n 's/.*virtio_mem_rs virtio[0-9]*: plugged \(0x[0-9a-f]*\) .*/\1/p' | tail -n 1)
	echo $((${last:-0}))
}
driver_count_is() { [ "$(driver_count)" -eq "$1" ]; }
device_size_is() { [ "$(device_size)" -eq "$1" ]; }

# device_broken: the driver has given up on the device (C: "marking device broken",
# ours: "marking the device broken"); nothing plugs or unplugs after that.
device_broken() { dmesg | grep -qE "$MODULE virtio[0-9]+: .*marking (the )?device broken"; }
# bail_if_broken: when the driver gave up, the case ends here (every later resize would
# only wait out its time), with the driver's message.
bail_if_broken() {
	device_broken || return 0
	dmesg | grep -E "marking (the )?device broken" | sed 's/^/# /'
	echo "Bail out! $MODULE marked the device broken"
	exit 1
}

# logged TEXT: the kernel log has a line with TEXT. log_count TEXT: how many.
logged() { dmesg | grep -qF "$1"; }
log_count() { dmesg | grep -cF "$1"; }

# hog_start MIB: starts memhog with a MIB MiB pattern in the background (its
# pid in HOG) and waits until it holds it; fails at once if memhog exits
# first (e.g. its mmap failed). hog_check: has it check the pattern and end.
hog_start() {
	rm -f /tmp/hog.ready
	/bin/memhog "$1" /tmp/hog.ready &
	HOG=$!
	wait_for 120 eval '[ -f /tmp/hog.ready ] || ! kill -0 $HOG 2>/dev/null'
	[ -f /tmp/hog.ready ]
}
hog_check() {
	kill -USR1 "$HOG" 2>/dev/null || return 1
	wait "$HOG"
}
# hog_verify: has memhog check the pattern and go on holding it; HOG_RESULT is its answer
# ("intact" or "corrupt OFFSET", empty when it did not answer).
hog_verify() {
	HOG_RESULT=
	rm -f /tmp/hog.ready.check
	kill -USR2 "$HOG" 2>/dev/null || return 1
	wait_for 60 [ -f /tmp/hog.ready.check ] || return 1
	HOG_RESULT=$(cat /tmp/hog.ready.check)
	[ "$HOG_RESULT" = intact ]
}

# Allocation failures aimed at the module under test (failslab, fail_page_alloc).
FI=/sys/kernel/debug
# How many failures each knob may inject in all; what is left of it counts the injected.
BUDGET=100000

# module_range: "START END" of the module's memory (its text first; /proc/modules gives
# the start of its text and its whole size, which covers the text).
module_range() {
	awk -v m="$MODULE" '$1 == m { print $6, $2 }' /proc/modules | {
		read -r start size
		[ -n "$start" ] && [ "$start" != 0x0000000000000000 ] || exit 1
		printf '0x%x 0x%x\n' "$start" $((start + size))
	}
}
# symbol_span FIRST LAST: "START END" from kernel function FIRST to the end of LAST (the
# address of the symbol after it); kernel addresses are 16 hex digits, so they compare as
# strings.
symbol_span() {
	awk -v f="$1" -v l="$2" 'NR == FNR { if ($3 == f && a == "") a = $1; if ($3 == l && b == "") b = $1; next }
		b != "" && $1 > b && (e == "" || $1 < e) { e = $1 }
		END { if (a != "" && e != "" && a <= b) print "0x" a, "0x" e }' /proc/kallsyms /proc/kallsyms
}
# What the faults leave alone: x86's add_pages() and arch_add_memory(), adjacent in
# arch/x86/mm/init_64.c (arch_add_memory() ends in a tail call of add_pages(), so it is
# not on the stack of what add_pages() allocates).
NO_FAULTS_IN="add_pages arch_add_memory"
# aim KNOB START END: the knob fails only allocations made with the module on the stack, of
# any order, reclaiming and highmem ones included (what the driver asks for can sleep; page
# migration asks for highmem), except those under x86's arch_add_memory() and add_pages():
# the kernel does not survive those (a failed page-table page of the direct map is used as
# NULL by phys_pmd_init() and its siblings, a failed memmap is a WARN_ON_ONCE in
# add_pages()). With the module's work item on the stack, an interrupt taken on its CPU
# matches too (the unwinder follows the interrupt stack back into the kworker's): its
# atomic allocations may fail as well. verbose=0: the knobs' times count the failures, and
# a console line for each would slow the guest.
aim() {
	d=$FI/$1
	set -- "$@" $(symbol_span $NO_FAULTS_IN)
	[ $# -eq 5 ] || return 1
	echo 0 >$d/probability && echo 1 >$d/interval && echo $BUDGET >$d/times &&
		echo 0 >$d/space && echo 0 >$d/verbose && echo N >$d/task-filter &&
		echo 32 >$d/stacktrace-depth && echo "$2" >$d/require-start &&
		echo "$3" >$d/require-end && echo "$4" >$d/reject-start &&
		echo "$5" >$d/reject-end && echo N >$d/ignore-gfp-wait || return 1
	[ "$1" = fail_page_alloc ] && { echo 0 >$d/min-order && echo N >$d/ignore-gfp-highmem || return 1; }
	true
}
# aim_both START END: both knobs aimed (see aim), or disarmed and the case ends: a knob
# aimed half-way would fail allocations anywhere in the guest.
aim_both() {
	aim failslab "$@" && aim fail_page_alloc "$@" && return 0
	echo 0 >$FI/failslab/probability
	echo 0 >$FI/fail_page_alloc/probability
	not_ok "the fault knobs could not be aimed at $MODULE"
	echo "Bail out! the fault knobs could not be aimed at $MODULE"
	exit 1
}
# faults PERCENT: both knobs fail that share of the allocations they see.
faults() {
	echo "$1" >$FI/failslab/probability && echo "$1" >$FI/fail_page_alloc/probability
}
injected() { echo $((BUDGET - $(cat $FI/"$1"/times))); }
