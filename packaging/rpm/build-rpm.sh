#!/bin/sh
# build-rpm.sh BUILDDIR: build the RPM (`make rpm`) from the working tree.
#
# A tarball of the tree (git ls-files -co --exclude-standard: tracked files
# as they are now, untracked ones that are not ignored, minus anything in
# BUILDDIR when it is inside the tree) under pam_neostra-VERSION/ goes into
# a private topdir, BUILDDIR/rpm, with the sysusers file as Source1, and
# `rpmbuild -bb` builds packaging/rpm/pam_neostra.spec there with unpackaged
# and missing files fatal.  The spec's make runs in the unpacked copy (its
# own build/), never in this tree's build directories.
#
# On a host that is not RPM-based (Debian: no /usr/lib/rpm/redhat) the
# BuildRequires name Fedora's packages, so --nodeps, and %optflags and
# %build_ldflags are Fedora's x86_64 flags minus the -specs= files, so the
# flags Fedora passes are the ones tried.
#
# Leaves: BUILDDIR/rpm/RPMS/*/pam_neostra-VERSION-*.rpm, the log
# BUILDDIR/rpm/rpmbuild.log, the tarball's file list BUILDDIR/rpm/files and
# BUILDDIR/rpm/build.env (VERSION, RPM_OPTFLAGS, RPM_LDFLAGS, FLAGS_FROM=fedora|
# distribution, SECONDS_TAKEN: what tests/package/rpm-check.sh checks).
# Exit status: rpmbuild's; 2 on a usage error or a missing tool.
set -u

usage() { echo "usage: $0 BUILDDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
say() { printf 'build-rpm: %s\n' "$*"; }
die() { printf 'build-rpm: error: %s\n' "$*" >&2; exit 2; }

top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1" || die "cannot create $1"
builddir=$(cd "$1" && pwd)
spec=$top/packaging/rpm/pam_neostra.spec
for tool in rpm rpmbuild git tar; do
        command -v "$tool" >/dev/null 2>&1 ||
                die "$tool is missing (Debian: apt-get install rpm; Fedora: dnf install rpm-build)"
done
git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
        die "the source tarball is made from git ls-files: a git work tree is needed"

# What a calling make passes down (MAKEFLAGS can carry BUILDDIR=..., which
# would send the spec's make into this tree's build directory) and flags from
# the caller's environment have no business in the package build.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES CFLAGS CPPFLAGS CXXFLAGS LDFLAGS \
      BUILDDIR SANITIZE PREFIX DESTDIR CC 2>/dev/null

version=$(grep -rhs '^#define NEOSTRA_VERSION "' "$top/include" "$top/neostrad" "$top/common" |
          sed -n 's/^#define NEOSTRA_VERSION "\([^"]*\)".*/\1/p' | head -n1)
[ -n "$version" ] || die "no #define NEOSTRA_VERSION in include/, neostrad/ or common/"

rpmtop=$builddir/rpm
rm -rf "$rpmtop"
mkdir -p "$rpmtop/SOURCES" "$rpmtop/SPECS" "$rpmtop/BUILD" "$rpmtop/RPMS" "$rpmtop/SRPMS" ||
        die "cannot create $rpmtop"
log=$rpmtop/rpmbuild.log
cp "$top/packaging/systemd/neostrad.sysusers" "$rpmtop/SOURCES/neostrad.sysusers" || die "Source1"

# ---- the source tarball ----------------------------------------------------------
build_rel=
case $builddir/ in
"$top"/*) build_rel=${builddir#"$top"/}/ ;;
esac
(cd "$top" && git -c core.quotepath=off ls-files -co --exclude-standard) | sort -u |
while IFS= read -r f; do
        [ -n "$build_rel" ] && case $f in "$build_rel"*) continue ;; esac
        [ -e "$top/$f" ] || [ -L "$top/$f" ] || continue
        printf '%s\n' "$f"
done >"$rpmtop/files"
tarball=$rpmtop/SOURCES/pam_neostra-$version.tar.gz
tar -C "$top" --owner=0 --group=0 --numeric-owner --no-recursion \
    --transform "flags=r;s,^,pam_neostra-$version/," -czf "$tarball" -T "$rpmtop/files" ||
        die "cannot make $tarball"

# ---- flags -----------------------------------------------------------------------
# Fedora's where the distribution has none of its own.  Fedora 40, x86_64,
# without -specs= (redhat-rpm-config) and -mtls-dialect=gnu2.
set -- --define "_topdir $rpmtop" \
       --define "_unpackaged_files_terminate_build 1" \
       --define "_missing_doc_files_terminate_build 1"
nodeps=
if [ ! -d /usr/lib/rpm/redhat ]; then
        nodeps=--nodeps
fi
flags_from=distribution
if [ ! -d /usr/lib/rpm/redhat ] && [ "$(uname -m)" = x86_64 ]; then
        flags_from=fedora
        set -- "$@" --define "optflags -O2 -flto=auto -ffat-lto-objects -fexceptions -g -grecord-gcc-switches -pipe -Wall -Werror=format-security -Wp,-U_FORTIFY_SOURCE,-D_FORTIFY_SOURCE=3 -Wp,-D_GLIBCXX_ASSERTIONS -fstack-protector-strong -m64 -march=x86-64 -mtune=generic -fasynchronous-unwind-tables -fstack-clash-protection -fcf-protection -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer" \
                    --define "build_ldflags -Wl,-z,relro -Wl,--as-needed -Wl,-z,pack-relative-relocs -Wl,-z,now -flto=auto -Wl,--build-id=sha1"
        # binutils before 2.38 lacks -z pack-relative-relocs.
        if ! printf 'int main(void){return 0;}\n' | ${RPM_CC:-gcc} -x c -o "$rpmtop/probe" - \
                -Wl,-z,pack-relative-relocs >/dev/null 2>&1; then
                set -- "$@" --define "build_ldflags -Wl,-z,relro -Wl,--as-needed -Wl,-z,now -flto=auto -Wl,--build-id=sha1"
        fi
        rm -f "$rpmtop/probe"
fi
optflags=$(rpm "$@" --eval '%{optflags}')
ldflags=$(rpm "$@" --eval '%{?build_ldflags}')

# ---- rpmbuild ---------------------------------------------------------------------
say "building pam_neostra $version in $rpmtop (log: $log)"
started=$(date +%s)
# shellcheck disable=SC2086 # nodeps is empty or one word
rpmbuild -bb $nodeps --clean "$@" "$spec" >"$log" 2>&1
rc=$?
{
        printf 'VERSION=%s\n' "$version"
        printf "RPM_OPTFLAGS='%s'\n" "$optflags"
        printf "RPM_LDFLAGS='%s'\n" "$ldflags"
        printf 'FLAGS_FROM=%s\n' "$flags_from"
        printf 'NODEPS=%s\n' "$nodeps"
        printf 'SECONDS_TAKEN=%s\n' "$(( $(date +%s) - started ))"
} >"$rpmtop/build.env"
if [ "$rc" -ne 0 ]; then
        tail -n 30 "$log" >&2
        printf 'build-rpm: rpmbuild failed (exit %d); the whole log: %s\n' "$rc" "$log" >&2
        exit "$rc"
fi
for f in "$rpmtop"/RPMS/*/pam_neostra-"$version"-*.rpm; do
        [ -f "$f" ] && say "built $f"
done
exit 0
