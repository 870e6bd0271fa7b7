# SPDX-License-Identifier: GPL-2.0
# virtio-mem-rs: the two commands are `make run` and `make check`.
# Kbuild reads ./Kbuild, not this file, when it builds the module.
#
#   KSRC=/path/to/linux-6.12.y   build a patched copy of your own source tree
#   KDIR=/path/to/build          use your own already-built tree as it is
#   DRIVER=c|rust                the module `run` drives (default rust) and `check` tests (default both)
#   CASES="plug unplug"          only these VM cases in `check`
#   VMRS_KERNELS=normal          `check` on the normal kernel only (default: normal and debug)
#   BENCH_RUNS=5                 runs per driver in `make bench`
#   BENCH_HOLD_S=180             seconds the bench's converge guests hold the pressure (0: none)
#   BENCH_ONLY=converge          `make bench` boots only these guests: converge, scattered, grow (comma-separated)
#   SOAK_OPS=1000                operations per driver in `make soak`
#   VMRS_SEED=N                  the seed of the random cases and of `make soak` (printed by each run)

SHELL := /bin/bash
export KSRC KDIR DRIVER CASES BENCH_RUNS BENCH_SIZES BENCH_HOLD_S BENCH_ONLY SOAK_OPS VMRS_SEED VMRS_KERNELS

.PHONY: all run check check-debug bench soak shell setup kernel module clean

all: module

run:
	@scripts/run.sh

check:
	@scripts/check.sh

# Every VM case on the debug kernel.
check-debug:
	@VMRS_KERNELS=debug VMRS_DEBUG_ALL=1 scripts/check.sh

bench:
	@scripts/bench.sh

soak:
	@scripts/soak.sh

# A guest with the driver loaded, at its shell on this terminal (DRIVER=c: the C module).
shell:
	@scripts/shell.sh

setup:
	@scripts/setup.sh

kernel: setup
	@scripts/kernel.sh >/dev/null

module: setup
	@scripts/module.sh "$$(scripts/kernel.sh)"

clean:
	rm -rf results
	find rust -name '*.o' -o -name '*.ko' -o -name '*.mod*' -o -name '.*.cmd' | xargs rm -f
	rm -f Module.symvers modules.order rust/Module.symvers rust/modules.order
