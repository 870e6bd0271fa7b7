# SPDX-License-Identifier: GPL-2.0
# Big Block Mode in ZONE_NORMAL (memhp_default_state=online_kernel, 1 GiB device blocks).
# The 2 GiB of boot memory are all ZONE_DMA32, so the kernel's own allocations after the
# plug come from the plugged memory: FILES empty files in a tmpfs put their inodes and
# dentries (slab, which cannot be migrated) into it and pin the big blocks they landed in.
# A request for 0 then cannot be met in full: after a bounded wait the guest must be healthy,
# the device must not have grown, MemTotal must match the device's size and our driver's
# count the device's. Once the files are gone and the caches dropped, a new request for 0 is
# tried at once; what the kernel still holds in a big block (unmovable slab pages and page
# tables outlive the files) may keep it, for both drivers, and the sizes must still agree.
. /tests/lib.sh
PLUG=$((4 * GIB))
# About 1 KiB of slab each on the normal kernel; the debug kernel's objects are about 4 times
# larger (KASAN's redzones, debug metadata) and made about 20 times slower, so it gets fewer.
FILES=$((150000 / SLOW))
# How long the pinned step waits: long enough for every big block that can go to go, far
# below the C driver's 50 s retry timer (so what stays is what its first attempt left).
PIN_WAIT=30
per_driver=0
[ "$DRIVER" = rust ] && per_driver=2
tap_plan $((13 + per_driver))

check "load $MODULE" load_driver
bind_or_bail
base_kb=$(memtotal_kb)
base_blocks=$(count_blocks)
bs=$(block_size)
check "plug 4 GiB" resize $PLUG
check "MemTotal grows by 4 GiB" wait_for 30 memtotal_grew_by "$base_kb" $PLUG

# slab_kb: the kernel's slab memory (reclaimable and not), from /proc/meminfo.
slab_kb() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }
slab0=$(slab_kb)
normal0=$(zone_free_kb Normal)
mkdir /tmp/pin
make_files() {
	(cd /tmp/pin && seq 1 $FILES | xargs touch) && [ "$(ls /tmp/pin | wc -l)" -eq $FILES ]
}
t0=$(uptime_cs)
check "$FILES empty files in a tmpfs" make_files
diag "in $((($(uptime_cs) - t0) * 10)) ms; slab $slab0 -> $(slab_kb) kB, ZONE_NORMAL free $normal0 -> $(zone_free_kb Normal) kB"
# The load must have put kernel memory into the plugged memory (ZONE_NORMAL is all device
# memory here), or the rest of the case tests nothing.
check "the kernel took at least 64 MiB of the plugged memory for it" \
	[ $((normal0 - $(zone_free_kb Normal))) -ge $((64 * 1024)) ]

resize 0 $PIN_WAIT
left=$DEV_SIZE
diag "after $(scale $PIN_WAIT) s: $((left / GIB)) GiB of 4 GiB stayed plugged ($left bytes, peak $DEV_PEAK)"
# device_blocks: the memory blocks above the boot memory (the device's), by number.
device_blocks() {
	for b in /sys/devices/system/memory/memory*; do
		n=${b##*memory}
		[ "$n" -ge "$base_blocks" ] && echo "$n"
	done | sort -n | tr '\n' ' '
}
diag "why: the $FILES files' inodes and dentries, $(slab_kb) kB of slab, sit in the device's memory blocks left: $(device_blocks)"
# pin_report: what the pages of the device's memory blocks are, from /proc/kpageflags (one
# u64 per page frame; the low bytes: bit 5 LRU, bit 7 slab, bit 10 buddy (free); bit 26 page
# table). Slow under TCG, so only where the answer matters.
pin_report() {
	pages=$((bs / 4096))
	for n in $(device_blocks); do
		dd if=/proc/kpageflags bs=4096 skip=$((n * pages / 512)) count=$((pages / 512)) 2>/dev/null
	done | od -An -v -tu1 -w8 | awk '
		{ n++; if ($1 >= 128) slab++; if (int($1 / 32) % 2) lru++; if (int($2 / 4) % 2) buddy++
		  if (int($4 / 4) % 2) pgt++ }
		END { printf "%d pages: %d slab, %d page table, %d on an LRU, %d free\n",
			n, slab, pgt, lru, buddy }'
}
diag "the device's pages: $(pin_report)"
check "pinned big blocks stay plugged: the device is not at 0 after $(scale $PIN_WAIT) s" [ "$left" -gt 0 ]
check "the device never went above the 4 GiB it had at the request" [ "$DEV_PEAK" -le $PLUG ]
check "the guest still runs commands" eval '[ "$(echo healthy | tr a-z A-Z)" = HEALTHY ]'
follows() { memtotal_grew_by "$base_kb" "$(device_size)"; }
check "MemTotal grew by the device's size" wait_for 30 follows
agree() { [ "$(driver_count)" -eq "$(device_size)" ]; }
if [ "$DRIVER" = rust ]; then
	check "the driver's plugged size equals the device's" wait_for 30 agree
	diag "driver $(driver_count), device $(device_size)"
fi

rm -rf /tmp/pin
sync
echo 3 >/proc/sys/vm/drop_caches
# Discards empty slabs kept for reuse, where the kernel has the slab sysfs files.
for f in /sys/kernel/slab/*/shrink; do
	[ -e "$f" ] && echo 1 >"$f"
done
diag "the files deleted, caches dropped: slab $(slab_kb) kB"
# The request is 0 already, and setting the same value again is no config change: ask for
# what is plugged, then for 0, so that both drivers try at once. Whether the big block can go
# now is the kernel's business (unmovable slab and page tables may stay in it, for both
# drivers): the checks are that the sizes still agree, whatever it was.
resize "$left" 30
resize 0 $PIN_WAIT
after=$DEV_SIZE
diag "with the load freed: device size $after after $RESIZE_MS ms (was $left); device memory blocks left: $(device_blocks)"
[ "$after" -eq 0 ] || diag "what still holds them (the kernel's, not the driver's): $(pin_report)"
check "the device never went above the $left bytes it had" [ "$DEV_PEAK" -le "$left" ]
check "MemTotal follows the device's size" wait_for 30 follows
check "the device's memory blocks are those of its size" wait_for 30 blocks_are $((base_blocks + after / bs))
if [ "$DRIVER" = rust ]; then
	check "the driver's plugged size equals the device's" wait_for 30 agree
fi
tap_done
