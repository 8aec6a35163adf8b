#!/bin/sh
# packaging-deps.sh BUILDDIR: the dependency lists of packaging/.
#   - `make deb` and `make rpm` install build-deps.txt only (never the test
#     tools of debian-deps.txt); `make check` and `make demo` both lists;
#   - the lists do not overlap, and every name is a Debian package name;
#   - every Build-Depends of packaging/debian/control (but the debhelper
#     ones, which debhelper brings) is in build-deps.txt.
# Ends with "packaging-deps: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
nt_counts packaging-deps
cd "$NT_TOP" || nt_die "no $NT_TOP"

installs() { # TARGET: the install-deps.sh lines make would run for it
        make -n --no-print-directory "$1" BUILDDIR="$NT_BUILD" 2>/dev/null | grep 'install-deps\.sh'
}
for t in deb rpm; do
        got=$(installs "$t")
        if [ "$got" = "sh packaging/install-deps.sh build-deps.txt" ]; then
                nt_pass "make $t installs build-deps.txt only"
        else
                nt_fail "make $t runs: '$got'"
        fi
done
for t in check demo; do
        got=$(installs "$t")
        if [ "$got" = "sh packaging/install-deps.sh build-deps.txt debian-deps.txt" ]; then
                nt_pass "make $t installs build-deps.txt and debian-deps.txt"
        else
                nt_fail "make $t runs: '$got'"
        fi
done

names() { grep -v '^[[:space:]]*#' "packaging/$1" | grep -v '^[[:space:]]*$'; }
both=$( { names build-deps.txt | sort -u; names debian-deps.txt | sort -u; } | sort | uniq -d)
if [ -z "$both" ]; then
        nt_pass "build-deps.txt and debian-deps.txt do not overlap"
else
        nt_fail "in both lists: $(echo "$both" | tr '\n' ' ')"
fi
bad=$(for l in build-deps.txt debian-deps.txt bench-deps.txt; do names "$l"; done |
      grep -vE '^[a-z0-9][a-z0-9.+-]+$')
if [ -z "$bad" ]; then
        nt_pass "every entry is one Debian package name"
else
        nt_fail "not package names: $(echo "$bad" | tr '\n' ' ')"
fi
bdeps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' packaging/debian/control | sed '$d' |
        sed 's/^Build-Depends://' | tr ',' '\n' | sed 's/([^)]*)//; s/^[[:space:]]*//; s/[[:space:]]*$//' |
        grep -v '^$' | grep -v '^debhelper-compat$' | grep -v '^dh-sequence-')
missing=
for p in $bdeps; do
        names build-deps.txt | grep -qx "$p" || missing="$missing $p"
done
if [ -n "$bdeps" ] && [ -z "$missing" ]; then
        nt_pass "build-deps.txt has every Build-Depends of packaging/debian/control ($(echo "$bdeps" | wc -w))"
else
        nt_fail "Build-Depends missing from build-deps.txt:$missing"
fi
nt_finish
