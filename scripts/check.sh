#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: set-up, host unit tests, then for the normal and the debug kernel (each
# cached): the module built against it and the VM suite on it. Prints one summary line per
# kernel, then one line "N passed, N failed" over all of them.
#   VMRS_KERNELS=normal   the normal kernel only (the default is both)
#   VMRS_KERNELS=debug VMRS_DEBUG_ALL=1   every case on the debug kernel (make check-debug)
PHASE=check
source "$(dirname "$0")/lib.sh"

RESULTS=$TOP/results/check
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
passed=0
failed=0
finish() {
	trap - EXIT
	# A background build still running when the run stops is stopped with it.
	[ -z "${DEBUG_BUILD:-}" ] || kill -- -"$DEBUG_BUILD" 2>/dev/null || true
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}
# A step that stops the run (set-up, kernel or module build) counts as one
# failure, so the run still ends with its count line.
trap 'failed=$((failed + 1)); finish' EXIT

"$TOP/scripts/setup.sh"
# The normal kernel first: the rustfmt step reads its .rustfmt.toml.
KBUILD=$("$TOP/scripts/kernel.sh")

# cargo test prints one "test result:" line per test binary.
unit_tests() {
	local manifest=$1 name=$2 log=$RESULTS/$2.log p f
	say "host unit tests: $name"
	if ! "$(cargo_cmd)" test --manifest-path "$manifest" >"$log" 2>&1; then
		grep -E '^test .* FAILED|^error|panicked' "$log" | head -n 30 >&2 || true
		say "$name: failures (log: $log)"
	fi
	p=$(awk '/^test result:/ { s += $4 } END { print s + 0 }' "$log")
	f=$(awk '/^test result:/ { s += $6 } END { print s + 0 }' "$log")
	# A crate that did not even build has no result line: one failure.
	grep -q '^test result:' "$log" || f=1
	say "$name: $p passed, $f failed"
	passed=$((passed + p))
	failed=$((failed + f))
}
unit_tests "$TOP/rust/core/Cargo.toml" core-unit
unit_tests "$RUNNER_MANIFEST" runner-unit

# rustfmt with the kernel's settings: the module's sources (its core included)
# and the host tools. One pass or one failure.
say "rustfmt (the kernel's .rustfmt.toml)"
fmt_conf=$KBUILD/source/.rustfmt.toml
[ -f "$fmt_conf" ] || fmt_conf=$KBUILD/.rustfmt.toml
if [ ! -x "$KRUSTFMT" ]; then
	say "rustfmt: $KRUSTFMT not found (Debian package rustfmt-web; KRUSTFMT= another)"
	failed=$((failed + 1))
# Every Rust source below those directories (the driver's and the runner's sit in
# subdirectories), not what cargo builds into a target/.
elif mapfile -t rs_files < <(find "$TOP/rust" "$TOP/tests/runner/src" "$TOP/tests/kmod" \
	-name '*.rs' -not -path '*/target/*' | sort) && [ ${#rs_files[@]} -gt 0 ] &&
	"$KRUSTFMT" --check --edition 2021 --config-path "$fmt_conf" "${rs_files[@]}" \
		>"$RESULTS/rustfmt.log" 2>&1; then
	say "rustfmt: clean"
	passed=$((passed + 1))
else
	head -n 30 "$RESULTS/rustfmt.log" >&2
	say "rustfmt: not clean (log: $RESULTS/rustfmt.log; $KRUSTFMT --edition 2021 --config-path $fmt_conf FILES fixes it)"
	failed=$((failed + 1))
fi

say "self-test of the scripts' error paths"
"$TOP/tests/scripts/selftest.sh" >"$RESULTS/scripts.tap" 2>&1 || true
grep -A6 '^not ok' "$RESULTS/scripts.tap" >&2 || true
p=$(grep -c '^ok ' "$RESULTS/scripts.tap" || true)
f=$(grep -c '^not ok ' "$RESULTS/scripts.tap" || true)
grep -q '^# scripts: ' "$RESULTS/scripts.tap" || f=$((f + 1))
say "scripts: $p passed, $f failed"
passed=$((passed + p))
failed=$((failed + f))

say "building the test runner"
if ! "$(cargo_cmd)" build --release --manifest-path "$RUNNER_MANIFEST" >"$RESULTS/runner-build.log" 2>&1; then
	show_tail "$RESULTS/runner-build.log"
	failed=$((failed + 1))
	finish
fi

# modinfo_params KBUILD: `modinfo` of our module lists C's three parameters with C's
# descriptions (types aside: ours says u64 where C says ulong), and besides them only ours
# that the README documents (unplug_least_used_first). One test per kernel.
modinfo_params() {
	local ours theirs c_ko=$1/drivers/virtio/virtio_mem.ko
	params_of() { modinfo -F parm "$1" | sed 's/ ([a-z0-9]*)$//' | sort; }
	ours=$(params_of "$TOP/rust/virtio_mem_rs.ko")
	theirs=$(params_of "$c_ko")
	local ours_only
	ours_only=$(printf '%s\n' "$ours" | grep -vxF -f <(printf '%s\n' "$theirs") | sed 's/:.*//' || true)
	if [ "$(printf '%s\n' "$theirs" | grep -c .)" -eq 3 ] &&
		[ "$(printf '%s\n' "$ours" | grep -xF -f <(printf '%s\n' "$theirs") | grep -c .)" -eq 3 ] &&
		[ "$ours_only" = unplug_least_used_first ]; then
		say "modinfo: C's three parameters with C's names and descriptions, and ours: $ours_only"
		passed=$((passed + 1))
	else
		say "modinfo: our parameters differ from C's (or ours has undocumented ones): ours:"
		printf '    %s\n' "$ours" >&2
		say "C's:"
		printf '    %s\n' "$theirs" >&2
		failed=$((failed + 1))
	fi
}

# vm_suite KERNEL CASES...: the kernel (cached), the module built against it, its initramfs and
# the VM suite on it, both drivers. Prints one summary line for the kernel.
vm_suite() {
	local kernel=$1 dir=$RESULTS/$1 kbuild line
	shift
	mkdir -p "$dir"
	say "the $kernel kernel"
	if [ "$kernel" = debug ] && [ -n "$DEBUG_BUILD" ]; then
		say "waiting for the debug kernel's background build (log: $RESULTS/debug-kernel.log)"
		# A failed build is built again below, in the foreground, with its errors shown.
		wait "$DEBUG_BUILD" || say "the background build failed; building it again"
		DEBUG_BUILD=
	fi
	if ! kbuild=$(VMRS_KERNEL=$kernel "$TOP/scripts/kernel.sh") ||
		! "$TOP/scripts/module.sh" "$kbuild" ||
		! "$TOP/scripts/initramfs.sh" "$kbuild" "$dir/initramfs.cpio.gz"; then
		say "vm suite on the $kernel kernel: not run (its kernel, module or initramfs failed)"
		failed=$((failed + 1))
		return
	fi
	modinfo_params "$kbuild"
	local case_args=() c
	for c in "$@"; do
		case_args+=(--case "$c")
	done
	say "VM suite on the $kernel kernel (console logs in $dir)"
	"$RUNNER" check --kernel "$kernel" --bzimage "$kbuild/arch/x86/boot/bzImage" \
		--initramfs "$dir/initramfs.cpio.gz" --logdir "$dir" \
		${DRIVER:+--driver "$DRIVER"} "${case_args[@]}" ${VMRS_SEED:+--seed "$VMRS_SEED"} |
		tee "$dir/vm-suite.tap" || true
	line=$(grep -E '^# vm suite: [0-9]+ passed, [0-9]+ failed' "$dir/vm-suite.tap" | tail -n 1)
	if [ -z "$line" ]; then
		say "vm suite on the $kernel kernel: did not finish (see $dir/vm-suite.tap)"
		failed=$((failed + 1))
		return
	fi
	local known=
	case $line in *"failed; "*) known="; ${line#*failed; }" ;; esac
	set -- $line
	SUMMARIES+=("vm suite on the $kernel kernel: $4 passed, $6 failed$known")
	passed=$((passed + $4))
	failed=$((failed + $6))
}

# The debug kernel's guests are about 4-10x slower, and `make check` must fit CI's time: it runs
# on the debug kernel the cases of a lifecycle path, a timer or a lock the series takes
# (DEBUG_CASES): probe/remove and the online-page handler (load-unload), freeze/restore and the
# PM notifier (suspend), probe and remove under device_hotplug_lock (pci-hotplug), the memory
# group's node (numa), the vmcore callback in a second kernel (kdump), the series' doc tests
# (kunit), the retry timer firing (device-busy: the work's and the timer's lock classes), remove
# in the middle of a run (unbind-rebind) and user offlining against the notifier
# (manual-offline). `make check-debug` (VMRS_DEBUG_ALL=1) runs every case on it, among them
# manual-online (without the series' patch 0011 lockdep reports kn->active -> cpu_hotplug_lock
# -> mem_hotplug_lock there for both drivers), alloc-faults, config-storm, bbm and
# offline-budget, which together took about 24 minutes of the debug lane. CASES= overrides.
DEBUG_CASES="load-unload suspend pci-hotplug numa kdump kunit device-busy unbind-rebind manual-offline"
SUMMARIES=()
# A user's KDIR= tree is one kernel: the normal one unless VMRS_KERNELS says debug.
if [ -n "${KDIR:-}" ]; then
	KERNELS=${VMRS_KERNELS:-normal}
else
	KERNELS=${VMRS_KERNELS:-normal debug}
fi
# A debug kernel that is not cached yet is built while the normal lane runs, at nice 19: the
# guests leave a core idle most of the time (they sleep, or wait for the device or a timer), and
# at nice 19 the build gets about 1.5% of a core a guest wants. Cold, this takes most of the
# debug kernel's 12 minutes off the run; its log is the file named below.
DEBUG_BUILD=
case $KERNELS in
*normal*debug* | *debug*normal*)
	if [ "${VMRS_DEBUG_ALL:-0}" != 1 ]; then
		say "the debug kernel: built in the background at nice 19 unless cached (log: $RESULTS/debug-kernel.log)"
		VMRS_KERNEL=debug setsid nice -n 19 "$TOP/scripts/kernel.sh" >"$RESULTS/debug-kernel.log" 2>&1 &
		DEBUG_BUILD=$!
	fi
	;;
esac
case $KERNELS in
*normal*) [ "${VMRS_DEBUG_ALL:-0}" = 1 ] || vm_suite normal ${CASES:-} ;;
esac
case $KERNELS in
*debug*)
	if [ "${VMRS_DEBUG_ALL:-0}" = 1 ]; then
		vm_suite debug ${CASES:-}
	else
		vm_suite debug ${CASES:-$DEBUG_CASES}
	fi
	;;
esac
for s in "${SUMMARIES[@]}"; do
	say "$s"
done
finish
