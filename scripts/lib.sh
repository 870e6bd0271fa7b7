# SPDX-License-Identifier: GPL-2.0
# Common settings and helpers for the project's scripts. Sourced, not run.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Kernel builds are cached outside the clone so a fresh clone reuses them.
CACHE_DIR=${VMRS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtio-mem-rs}
# The kernel's Rust support needs a rustc with matching library source: Debian's
# rustc-web, not the rustup toolchain first on PATH (it has no rust-src here).
KRUSTC=${KRUSTC:-/usr/bin/rustc}
KRUSTDOC=${KRUSTDOC:-/usr/bin/rustdoc}
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin
BINDGEN=${BINDGEN:-$CARGO_BIN/bindgen}
BINDGEN_VERSION=0.73.2
# Debian's clippy-driver matches its rustc-web; rustup's would not.
KCLIPPY=${KCLIPPY:-/usr/bin/clippy-driver}
# Debian's rustfmt of the same release, for the kernel's .rustfmt.toml (a plain Debian 12
# PATH has no other).
KRUSTFMT=${KRUSTFMT:-/usr/bin/rustfmt}
KMAKE_ARGS=(LLVM=1 "RUSTC=$KRUSTC" "RUSTDOC=$KRUSTDOC" "BINDGEN=$BINDGEN" "CLIPPY_DRIVER=$KCLIPPY")
JOBS=${JOBS:-$(nproc)}

say() { printf '[%s] %s\n' "${PHASE:-vmrs}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${PHASE:-vmrs}" "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root for '$*', and sudo is not installed"
	fi
}

# Prints the last lines of a log file after a failure, indented.
show_tail() {
	local log=$1 lines=${2:-40}
	printf -- '--- last %s lines of %s ---\n' "$lines" "$log" >&2
	tail -n "$lines" "$log" | sed 's/^/    /' >&2
	printf -- '--- end of log ---\n' >&2
}

# Runs a long command with its output in a log, printing one progress line
# every $HEARTBEAT seconds instead of the whole output.
run_logged() {
	local log=$1
	shift
	local start=$SECONDS pid next=$((SECONDS + ${HEARTBEAT:-30}))
	"$@" >"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if [ "$SECONDS" -ge "$next" ]; then
			next=$((SECONDS + ${HEARTBEAT:-30}))
			say "  ... $((SECONDS - start)) s, $(wc -l <"$log") log lines, last: $(tail -n 1 "$log" | cut -c1-70)"
		fi
	done
	if ! wait "$pid"; then
		show_tail "$log"
		return 1
	fi
}

# A short content hash of standard input, for cache keys.
sha_of() { sha256sum | cut -c1-16; }

# cargo for the host-side crates: the one on PATH, rustup's, or Debian's.
cargo_cmd() {
	if command -v cargo >/dev/null 2>&1; then echo cargo
	elif [ -x "$CARGO_BIN/cargo" ]; then echo "$CARGO_BIN/cargo"
	else echo /usr/bin/cargo
	fi
}
# Host crates build into the cache, one directory per checkout: cargo judges freshness by
# file times, so a directory shared by two checkouts can keep a binary built from the
# other one's sources (and its compiled-in paths).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE_DIR/cargo/$(printf %s "$TOP" | sha256sum | cut -c1-12)}
RUNNER_MANIFEST=$TOP/tests/runner/Cargo.toml
RUNNER=$CARGO_TARGET_DIR/release/vmrs-runner

# The kernel configuration: tinyconfig with config/kernel.fragment merged in, and for the
# debug kernel (VMRS_KERNEL=debug) config/debug.fragment on top of it.
KERNEL_FLAVOR=${VMRS_KERNEL:-normal}
case $KERNEL_FLAVOR in
normal) KERNEL_FRAGMENTS=("$TOP/config/kernel.fragment") ;;
debug) KERNEL_FRAGMENTS=("$TOP/config/kernel.fragment" "$TOP/config/debug.fragment") ;;
*) die "VMRS_KERNEL=$KERNEL_FLAVOR: the kernels are 'normal' and 'debug'" ;;
esac

# configure_kernel SRC OUT LOG: configures the build directory OUT for the source tree SRC,
# then checks that every option of the fragment survived olddefconfig, which drops an option
# silently when a dependency (or for RUST, a tool) is missing.
configure_kernel() {
	local src=$1 out=$2 log=$3 line
	{
		make -C "$src" O="$out" "${KMAKE_ARGS[@]}" tinyconfig &&
			"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${KERNEL_FRAGMENTS[@]}" &&
			make -C "$src" O="$out" "${KMAKE_ARGS[@]}" olddefconfig
	} >"$log" 2>&1 || {
		show_tail "$log"
		die "kernel configuration failed (log: $log)"
	}
	local dropped=()
	while IFS= read -r line; do
		case $line in
		# "=n" is written as "# CONFIG_X is not set": it must not be set at all.
		CONFIG_*=n) ! grep -q "^${line%=n}=" "$out/.config" || dropped+=("$line") ;;
		CONFIG_*=*) grep -qxF "$line" "$out/.config" || dropped+=("$line") ;;
		esac
	done < <(cat "${KERNEL_FRAGMENTS[@]}")
	[ ${#dropped[@]} -eq 0 ] && return 0
	say "these options of ${KERNEL_FRAGMENTS[*]#"$TOP/"} did not survive olddefconfig:"
	printf '    %s\n' "${dropped[@]}" >&2
	if printf '%s\n' "${dropped[@]}" | grep -q '^CONFIG_RUST='; then
		say "make rustavailable says:"
		make -C "$src" O="$out" "${KMAKE_ARGS[@]}" rustavailable 2>&1 | sed 's/^/    /' >&2 || true
	fi
	die "kernel configuration lost ${#dropped[@]} options (a missing dependency or tool)"
}

# prepare_guests RESULTS_DIR: set-up, the cached kernel, the module, the
# initramfs in RESULTS_DIR and the runner: everything a guest boot needs.
# Sets KBUILD. For `run` and `bench` (`check` counts failures of its own).
prepare_guests() {
	mkdir -p "$1"
	"$TOP/scripts/setup.sh"
	KBUILD=$("$TOP/scripts/kernel.sh")
	"$TOP/scripts/module.sh" "$KBUILD"
	"$TOP/scripts/initramfs.sh" "$KBUILD" "$1/initramfs.cpio.gz"
	"$(cargo_cmd)" build -q --release --manifest-path "$RUNNER_MANIFEST" ||
		die "building the test runner failed"
}
