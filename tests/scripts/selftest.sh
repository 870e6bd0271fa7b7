#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Self-test of the set-up and build scripts' error paths, on fakes that take
# seconds: a missing tool must be named, a patch that does not apply must be
# named, a series naming a missing file must say so. Prints TAP.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
# The user's own tree settings would bypass what is tested here.
unset KDIR KSRC
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
n=0
failed=0

# expect_error DESCRIPTION TEXT COMMAND...: COMMAND must fail and say TEXT.
expect_error() {
	local desc=$1 text=$2 out rc
	shift 2
	n=$((n + 1))
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && grep -qF -- "$text" <<<"$out"; then
		echo "ok $n - $desc"
	else
		failed=$((failed + 1))
		echo "not ok $n - $desc"
		echo "# exit status $rc, wanted a failure saying '$text'; output:"
		sed 's/^/#   /' <<<"$out"
	fi
}

# A fake 6.12.y source tree: just enough for kernel.sh to read its version.
fake=$WORK/linux-6.12.99
mkdir -p "$fake/mm"
printf 'kernelversion:\n\t@echo 6.12.99\n' >"$fake/Makefile"
printf 'line one\nline two\n' >"$fake/mm/fake.c"
mkdir -p "$WORK/patches"
cat >"$WORK/patches/0001-mm-fake-change.patch" <<'PATCH'
--- a/mm/fake.c
+++ b/mm/fake.c
@@ -1,2 +1,2 @@
-line one
+line 1
 line two
PATCH
cat >"$WORK/patches/0002-mm-broken-change.patch" <<'PATCH'
--- a/mm/fake.c
+++ b/mm/fake.c
@@ -1,2 +1,2 @@
 line that is not there
-line two
+line 2
PATCH
printf '0001-mm-fake-change.patch\n0002-mm-broken-change.patch\n' >"$WORK/patches/series"

echo "TAP version 13"
echo "1..6"
expect_error "a missing tool is named" "/nonexistent/rustc" \
	env VMRS_NO_INSTALL=1 KRUSTC=/nonexistent/rustc "$TOP/scripts/setup.sh"
expect_error "a missing bindgen is named" "/nonexistent/bindgen" \
	env VMRS_NO_INSTALL=1 BINDGEN=/nonexistent/bindgen "$TOP/scripts/setup.sh"
expect_error "a patch that does not apply is named" "0002-mm-broken-change.patch, does not apply" \
	env VMRS_CACHE="$WORK/cache" VMRS_PATCHES="$WORK/patches" KSRC="$fake" "$TOP/scripts/kernel.sh"
patch -s -d "$fake" -p1 <"$WORK/patches/0001-mm-fake-change.patch"
expect_error "a patch already in the user's tree is recognised" "0001-mm-fake-change.patch is already applied" \
	env VMRS_CACHE="$WORK/cache" VMRS_PATCHES="$WORK/patches" KSRC="$fake" "$TOP/scripts/kernel.sh"
printf '0003-mm-missing.patch\n' >>"$WORK/patches/series"
expect_error "a series naming a missing patch says so" "names 0003-mm-missing.patch, which does not exist" \
	env VMRS_CACHE="$WORK/cache" VMRS_PATCHES="$WORK/patches" KSRC="$fake" "$TOP/scripts/kernel.sh"
expect_error "KDIR without a build is refused" "has no .config" \
	env KDIR="$fake" "$TOP/scripts/kernel.sh"
echo "# scripts: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
