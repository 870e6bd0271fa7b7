# SPDX-License-Identifier: GPL-2.0
# KUnit ran the kernel crate's doc tests at boot (kunit.enable=1); read the
# results it printed. The series' modules must be among them.
. /tests/lib.sh
MODULES="contig virtio memory_hotplug workqueue_owned module_param debugfs"
set -- $MODULES
tap_plan $((2 + 2 * $#))

dmesg >/tmp/kunit.out
totals=$(sed -n 's/^.*# rust_doctests_kernel: \(pass:.*\)$/\1/p' /tmp/kunit.out)
diag "rust_doctests_kernel: ${totals:-no result line}"
count() { echo "$totals" | sed -n "s/.*$1:\([0-9]*\).*/\1/p"; }
check "KUnit ran the kernel crate's doc tests" [ "$(count total)" -gt 0 ]
check "none of them failed" [ "$(count fail)" = 0 ]
for m in $MODULES; do
	ran=$(grep -cE "ok [0-9]+ rust_doctest_kernel_${m}(_[a-z_]+)?_rs_" /tmp/kunit.out)
	bad=$(grep -cE "not ok [0-9]+ rust_doctest_kernel_${m}(_[a-z_]+)?_rs_" /tmp/kunit.out)
	diag "kernel::$m doc tests: $ran run, $bad failed"
	check "kernel::$m's doc tests ran" [ "$ran" -gt 0 ]
	check "kernel::$m's doc tests passed" [ "$bad" -eq 0 ]
done
tap_done
