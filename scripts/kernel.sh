#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Prints the path of a built, patched Linux 6.12 tree (the kbuild output
# directory) on stdout; everything else goes to stderr.
#
#   KDIR=/path   use an already-built tree as it is (no patching, no build)
#   KSRC=/path   build a copy of this 6.12.y source tree instead of the
#                linux-source-6.12 package
#   VMRS_KERNEL=debug   the debug kernel: config/debug.fragment on top (its own cache key)
#
# Builds are cached in $CACHE_DIR/kernel-KEY, KEY made of the 6.12.y version,
# the patches, the config fragment, the tool versions and RECIPE below.
PHASE=kernel
source "$(dirname "$0")/lib.sh"

# Bump when a change to this script changes what it builds.
RECIPE=1
# VMRS_PATCHES: another series directory (the scripts' self-test uses one).
PATCHES=${VMRS_PATCHES:-$TOP/patches}
SERIES=$PATCHES/series

if [ -n "${KDIR:-}" ]; then
	[ -f "$KDIR/.config" ] || die "KDIR=$KDIR has no .config: not a configured kernel build tree"
	grep -q '^CONFIG_RUST=y' "$KDIR/.config" || die "KDIR=$KDIR is built without CONFIG_RUST=y"
	grep -q '^CONFIG_MEMORY_HOTREMOVE=y' "$KDIR/.config" ||
		die "KDIR=$KDIR is built without CONFIG_MEMORY_HOTREMOVE=y"
	[ -f "$KDIR/arch/x86/boot/bzImage" ] || die "KDIR=$KDIR has no arch/x86/boot/bzImage: build it first"
	[ -f "$KDIR/Module.symvers" ] || die "KDIR=$KDIR has no Module.symvers: run 'make modules' there first"
	say "using the user's kernel tree KDIR=$KDIR as it is"
	echo "$KDIR"
	exit 0
fi

# The patches in the order the series file gives (blank lines and # comments skipped).
series_patches() {
	[ -f "$SERIES" ] || die "missing $SERIES"
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$SERIES" | grep -v '^$' || true
}

if [ -n "${KSRC:-}" ]; then
	[ -f "$KSRC/Makefile" ] || die "KSRC=$KSRC is not a kernel source tree"
	KVER=$(make -s -C "$KSRC" kernelversion 2>/dev/null) || die "KSRC=$KSRC: cannot read its kernel version"
	src_id="ksrc $KVER $(realpath "$KSRC")"
	if git -C "$KSRC" rev-parse HEAD >/dev/null 2>&1; then
		src_id+=" $(git -C "$KSRC" rev-parse HEAD) $(git -C "$KSRC" status --porcelain -uno | sha_of)"
	fi
else
	TARBALL=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n 1)
	[ -n "$TARBALL" ] || die "no /usr/src/linux-source-6.12.tar.*: run scripts/setup.sh or set KSRC="
	src_id="package $(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) $(stat -c '%s %Y' "$TARBALL")"
fi
case "${KVER:-6.12}" in
6.12 | 6.12.*) ;;
*) die "KSRC=$KSRC is Linux $KVER; the series is for 6.12.y" ;;
esac

for p in $(series_patches); do
	[ -f "$PATCHES/$p" ] || die "$SERIES names $p, which does not exist"
done
key=$( {
	echo "$src_id"
	cat "$SERIES"
	for p in $(series_patches); do
		cat "$PATCHES/$p"
	done
	echo "kernel $KERNEL_FLAVOR"
	cat "${KERNEL_FRAGMENTS[@]}"
	echo "recipe $RECIPE"
	"$KRUSTC" --version; "$BINDGEN" --version; clang --version | head -n 1; ld.lld --version
} | sha_of)
DIR=$CACHE_DIR/kernel-$key
SRC=$DIR/src
OUT=$DIR/build
LOG=$DIR/build.log

if [ -f "$DIR/.done" ]; then
	say "reusing cached $KERNEL_FLAVOR kernel $(cat "$DIR/.done") in $OUT (nothing that goes into it changed)"
	echo "$OUT"
	exit 0
fi

say "building a new $KERNEL_FLAVOR kernel: cache key $key (an earlier cache, if any, is for other inputs)"
rm -rf "$DIR"
mkdir -p "$SRC" "$OUT"
# A half-built tree is of no use to anyone: remove it when we fail.
trap '[ -f "$DIR/.done" ] || { say "removing the unfinished $DIR"; rm -rf "$DIR"; }' EXIT

if [ -n "${KSRC:-}" ]; then
	say "copying KSRC=$KSRC"
	tar -C "$KSRC" --exclude=.git -cf - . | tar -C "$SRC" -xf -
	# A tree built in place refuses an O= build; clean the copy, not the original.
	[ -f "$SRC/.config" ] && make -s -C "$SRC" mrproper
else
	say "extracting $TARBALL"
	tar -C "$SRC" --strip-components=1 -xf "$TARBALL"
fi
KVER=$(make -s -C "$SRC" kernelversion)

n=0
for p in $(series_patches); do
	n=$((n + 1))
	# A series already in the user's tree is accepted as it is.
	if patch -d "$SRC" -p1 -R --dry-run --force --fuzz=0 -s <"$PATCHES/$p" >/dev/null 2>&1; then
		say "patch $n $p is already applied in the source tree"
		continue
	fi
	if ! out=$(patch -d "$SRC" -p1 --forward --batch --fuzz=0 <"$PATCHES/$p" 2>&1); then
		printf '%s\n' "$out" | sed 's/^/    /' >&2
		die "patch $n of the series, $PATCHES/$p, does not apply to Linux $KVER"
	fi
done
say "applied $n patches to Linux $KVER"

say "configuring the $KERNEL_FLAVOR kernel: tinyconfig + ${KERNEL_FRAGMENTS[*]#"$TOP/"}"
configure_kernel "$SRC" "$OUT" "$DIR/config.log"

say "building bzImage and modules with LLVM=1, $JOBS jobs (about 11 minutes on 2 cores; log: $LOG)"
start=$SECONDS
HEARTBEAT=60 run_logged "$LOG" make -C "$SRC" O="$OUT" "${KMAKE_ARGS[@]}" -j"$JOBS" bzImage modules ||
	die "kernel build failed (full log: $LOG)"
echo "$KVER built $(date -u +%FT%TZ)" >"$DIR/.done"
say "kernel $KVER built in $((SECONDS - start)) s: $OUT"

# Keep the four newest kernels (a normal and a debug one of two versions); each takes
# about 2 GB.
ls -1dt "$CACHE_DIR"/kernel-* 2>/dev/null | tail -n +5 | while read -r old; do
	say "removing old cached kernel $old"
	rm -rf "$old"
done
echo "$OUT"
