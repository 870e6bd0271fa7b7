# SPDX-License-Identifier: GPL-2.0
# KUnit ran the kernel crate's doc tests at boot (kunit.enable=1); read the
# results it printed. The series' modules must be among them.
. /tests/lib.sh
tap_plan 4

dmesg >/tmp/kunit.out
totals=$(sed -n 's/^.*# rust_doctests_kernel: \(pass:.*\)$/\1/p' /tmp/kunit.out)
diag "rust_doctests_kernel: ${totals:-no result line}"
count() { echo "$totals" | sed -n "s/.*$1:\([0-9]*\).*/\1/p"; }
check "KUnit ran the kernel crate's doc tests" [ "$(count total)" -gt 0 ]
check "none of them failed" [ "$(count fail)" = 0 ]
contig=$(grep -c 'ok [0-9]* rust_doctest_kernel_contig_rs_' /tmp/kunit.out)
contig_failed=$(grep -c 'not ok [0-9]* rust_doctest_kernel_contig_rs_' /tmp/kunit.out)
diag "kernel::contig doc tests: $contig run, $contig_failed failed"
check "kernel::contig's doc tests ran" [ "$contig" -gt 0 ]
check "kernel::contig's doc tests passed" [ "$contig_failed" -eq 0 ]
tap_done
