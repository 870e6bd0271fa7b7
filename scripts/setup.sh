#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Installs and checks everything the build and the tests need. Idempotent: it
# installs only what is missing. VMRS_NO_INSTALL=1 only checks.
PHASE=setup
source "$(dirname "$0")/lib.sh"

# tool:package pairs; the tool is looked up on PATH or by absolute path.
REQUIRED=(
	clang:clang ld.lld:lld llvm-ar:llvm flex:flex bison:bison bc:bc
	cpio:cpio gzip:gzip xz:xz-utils make:make gcc:gcc perl:perl
	/usr/bin/rustc:rustc-web /usr/bin/rustdoc:rustc-web /usr/bin/clippy-driver:rust-web-clippy
	/usr/bin/rustfmt:rustfmt-web
	/bin/busybox:busybox-static qemu-system-x86_64:qemu-system-x86 modinfo:kmod
)
# Headers and libraries with no command of their own.
REQUIRED_FILES=(
	/usr/include/libelf.h:libelf-dev /usr/include/openssl/ssl.h:libssl-dev
	/usr/lib/llvm-14/lib/libclang.so:libclang-dev
	/usr/lib/x86_64-linux-gnu/libc.a:libc6-dev
)
# The kernel's Rust build needs the standard library source of the same rustc.
RUST_SRC=/usr/lib/rustlib/src/rust/library:rust-web-src

have() {
	case $1 in
	/*) [ -e "$1" ] ;;
	*) command -v "$1" >/dev/null 2>&1 ;;
	esac
}

missing_packages() {
	local pair
	for pair in "${REQUIRED[@]}" "${REQUIRED_FILES[@]}" "$RUST_SRC"; do
		have "${pair%%:*}" || echo "${pair#*:}"
	done
	# The kernel source package is needed only when no tree is given.
	if [ -z "${KSRC:-}" ] && [ -z "${KDIR:-}" ] &&
		! ls /usr/src/linux-source-6.12.tar.* >/dev/null 2>&1; then
		echo linux-source-6.12
	fi
	# cargo for the host-side crates: any will do, Debian's as a fallback.
	have cargo || have "$CARGO_BIN/cargo" || echo cargo-web
}

install_packages() {
	local pkgs
	pkgs=$(missing_packages | sort -u | tr '\n' ' ')
	[ -n "$pkgs" ] || return 0
	if [ "${VMRS_NO_INSTALL:-0}" = 1 ]; then
		die "missing packages: $pkgs(VMRS_NO_INSTALL=1 forbids installing them)"
	fi
	say "installing Debian packages: $pkgs"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null ||
		die "apt-get update failed"
	# shellcheck disable=SC2086
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pkgs \
		>"$CACHE_DIR/apt.log" 2>&1 || {
		show_tail "$CACHE_DIR/apt.log"
		die "apt-get install failed for: $pkgs"
	}
}

install_bindgen() {
	local v=""
	[ -x "$BINDGEN" ] && v=$("$BINDGEN" --version 2>/dev/null | awk '{print $2}')
	[ "$v" = "$BINDGEN_VERSION" ] && return 0
	if [ "${VMRS_NO_INSTALL:-0}" = 1 ]; then
		die "bindgen $BINDGEN_VERSION not found at $BINDGEN (found: '${v:-none}')"
	fi
	say "installing bindgen-cli $BINDGEN_VERSION with cargo (about 2 minutes)"
	"$(cargo_cmd)" install --locked --root "${BINDGEN_ROOT:-${CARGO_HOME:-$HOME/.cargo}}" \
		bindgen-cli --version "$BINDGEN_VERSION" >"$CACHE_DIR/bindgen.log" 2>&1 || {
		show_tail "$CACHE_DIR/bindgen.log"
		die "cargo install bindgen-cli $BINDGEN_VERSION failed"
	}
}

# Compares dotted versions: succeeds when $1 >= $2.
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

check_tools() {
	local pair tool v
	for pair in "${REQUIRED[@]}" "${REQUIRED_FILES[@]}" "$RUST_SRC"; do
		tool=${pair%%:*}
		have "$tool" || die "missing tool: $tool (Debian package ${pair#*:})"
	done
	[ -x "$KRUSTC" ] || die "missing tool: rustc for the kernel at $KRUSTC (KRUSTC=)"
	[ -x "$BINDGEN" ] || die "missing tool: bindgen at $BINDGEN (BINDGEN=)"
	# Minimum versions from the 6.12 tree's scripts/min-tool-version.sh.
	v=$("$KRUSTC" --version | awk '{print $2}')
	version_ge "$v" 1.78.0 || die "wrong tool version: $KRUSTC is $v, 6.12 needs >= 1.78.0"
	v=$("$BINDGEN" --version | awk '{print $2}')
	version_ge "$v" 0.65.1 || die "wrong tool version: $BINDGEN is $v, 6.12 needs >= 0.65.1"
	v=$(clang -dumpversion)
	version_ge "$v" 13.0.1 || die "wrong tool version: clang is $v, 6.12 needs >= 13.0.1"
	{ ldd /bin/busybox 2>&1 || true; } | grep -q 'not a dynamic' ||
		die "wrong tool: /bin/busybox is not statically linked (install busybox-static)"
}

mkdir -p "$CACHE_DIR"
install_packages
install_bindgen
check_tools
say "tools ok: rustc $("$KRUSTC" --version | awk '{print $2}'), bindgen $("$BINDGEN" --version | awk '{print $2}'), clang $(clang -dumpversion), $(qemu-system-x86_64 --version | head -n 1)"
