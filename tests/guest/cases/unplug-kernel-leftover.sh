# SPDX-License-Identifier: GPL-2.0
# Case unplug-kernel-leftover: what keeps memory onlined into ZONE_NORMAL plugged after an
# unplug to 0 (issue 14, item 4). 2 GiB plugged with memory_hotplug.memmap_on_memory=1 (ours
# then keeps each block's memory map on the block itself), used by a process and freed, then
# the device is asked for 0 with nothing else running. Every subblock still plugged is read
# page by page from /proc/kpageflags: unless it holds a block's own memory map, it must hold
# unmovable kernel pages (slab, page tables, or allocated pages with no page flags: vmalloc,
# kernel page tables, a memory map the C driver took from the buddy allocator), which no
# migration moves. The kernel groups unmovable allocations into a few pageblocks (2 MiB, a
# subblock) to keep the rest movable, which is why what stays is a subblock or two.
. /tests/lib.sh
tap_plan 7
PLUG=$((2 * GIB))

check "load $MODULE" load_driver
bind_or_bail
check "plug 2 GiB" resize $PLUG
check "memhog holds a 1024 MiB pattern" hog_start 1024
check "the pattern is intact" hog_check
resize 0 30
diag "after an unplug to 0: $((DEV_SIZE / MIB)) MiB plugged ($RESIZE_MS ms)"

# kpageflags bits (include/uapi/linux/kernel-page-flags.h): 5 lru, 7 slab, 10 buddy,
# 12 anon, 23 offline (unplugged, or fake-offline), 26 page table, 37 owner_private_1 (on a
# self-hosted memory map: PageVmemmapSelfHosted).
# classify FIRST_PFN: one line per 2 MiB subblock of the 128 MiB block at FIRST_PFN that has
# a page not offline: "SB map|free|... counts".
classify() {
	dd if=/proc/kpageflags bs=8 skip="$1" count=32768 2>/dev/null | od -A n -t u8 -v -w8 |
		awk '
		# Bits by halving: busybox awk in the guest has no pow().
		function bit(f, b,  i) { for (i = 0; i < b; i++) f = int(f / 2); return f - 2 * int(f / 2) }
		{
			sb = int((NR - 1) / 512); f = $1
			if (bit(f, 23)) kind = "offline"
			else if (bit(f, 37)) kind = "map"
			else if (bit(f, 10)) kind = "free"
			else if (bit(f, 7)) kind = "slab"
			else if (bit(f, 26)) kind = "pgtable"
			else if (bit(f, 5) || bit(f, 12)) kind = "movable"
			else if (f == 0) kind = "noflags"
			else kind = "other"
			n[sb, kind]++; seen[sb] = 1
		}
		END {
			for (sb = 0; sb < 64; sb++) {
				if (!seen[sb] || n[sb, "offline"] == 512) continue
				line = sb
				split("map free slab pgtable noflags movable other", k, " ")
				for (i = 1; i <= 7; i++) if (n[sb, k[i]]) line = line " " k[i] "=" n[sb, k[i]]
				print line
			}
		}'
}
pinned=0
maps=0
unexplained=0
for b in /sys/devices/system/memory/memory*; do
	mb=${b##*memory}
	# Boot memory ends at 2 GiB (block 16); hot-added memory starts at 4 GiB.
	[ "$mb" -ge 32 ] || continue
	while read -r sb kinds; do
		[ -n "$sb" ] || continue
		diag "left plugged: block $mb subblock $sb: $kinds"
		case " $kinds" in
		*" map=512"*) maps=$((maps + 1)) ;;
		*" slab="* | *" pgtable="* | *" noflags="*) pinned=$((pinned + 1)) ;;
		*) unexplained=$((unexplained + 1)) ;;
		esac
	done <<EOT
$(classify $((mb * 32768)))
EOT
done
diag "$pinned subblock(s) held by unmovable kernel pages, $maps by a block's own memory map, $unexplained by nothing unmovable"
check "every subblock left plugged (but a block's own memory map) holds unmovable kernel pages" \
	[ "$unexplained" -eq 0 ]
# A plugged subblock of an online block has pages in use or free, an unplugged one only
# offline pages: what was found is what the device has plugged.
check "the subblocks found are all the device has plugged" \
	[ $(((pinned + maps + unexplained) * 2 * MIB)) -eq "$(device_size)" ]
tap_done
