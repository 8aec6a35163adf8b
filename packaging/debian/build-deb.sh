#!/bin/sh
# build-deb.sh BUILDDIR: build the Debian package (`make deb`).
#
# debhelper wants debian/ at the top of a source tree, so this copies the
# tree (what `git ls-files -co --exclude-standard` lists: tracked files as
# they are in the working tree, uncommitted changes and new files included;
# without git, everything but build*/) to BUILDDIR/deb/pam-neostra-VERSION,
# makes the upstream tarball from that copy, puts packaging/debian there as
# debian/ and runs `dpkg-buildpackage -us -uc` (source and binary: lintian
# sees the .dsc too).  The build happens inside the copy (debian/build), so
# the tree's own build/ objects are never touched.  The .deb is copied to
# BUILDDIR/; the .dsc, .changes, .buildinfo and the log stay in BUILDDIR/deb.
#
# The version is NEOSTRA_VERSION (neostrad/log.h); it must be the upstream
# part of the top entry of packaging/debian/changelog.
#
# NEOSTRA_DEB_REVISION=N builds the same tree as revision N instead (a
# changelog entry VERSION-N on top of the copy's changelog): what
# tests/package/package-check.sh upgrades to.
set -eu

usage() { echo "usage: $0 BUILDDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage

top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
builddir=$(cd "$1" && pwd)
say() { printf 'build-deb: %s\n' "$*"; }
die() { printf 'build-deb: error: %s\n' "$*" >&2; exit 1; }

for tool in dpkg-buildpackage dpkg-parsechangelog dh; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install debhelper dpkg-dev)"
done

version=$(sed -n 's/^[[:space:]]*#[[:space:]]*define[[:space:]][[:space:]]*NEOSTRA_VERSION[[:space:]][[:space:]]*"\([^"]*\)".*/\1/p' \
        "$top"/neostrad/*.h "$top"/include/neostra/*.h 2>/dev/null | head -n1)
[ -n "$version" ] || die "no #define NEOSTRA_VERSION in neostrad/*.h or include/neostra/*.h"
source=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Source)
debversion=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
upstream=${debversion#*:}
upstream=${upstream%-*}
[ "$upstream" = "$version" ] ||
        die "packaging/debian/changelog says $debversion, but NEOSTRA_VERSION is $version: add a changelog entry ($source ($version-1))"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)

work=$builddir/deb
src=$work/$source-$version
rm -rf "$work"
mkdir -p "$src"

# The tree as it is now (the lead may build before committing).
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # Tracked files deleted in the working tree are listed too: skip them.
        git -C "$top" ls-files -z -co --exclude-standard >"$work/files.all" ||
                die "git ls-files failed in $top"
        (cd "$top" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done; :' sh) \
                <"$work/files.all" >"$work/files"
        tar -C "$top" --no-recursion --null -T "$work/files" -cf "$work/tree.tar" ||
                die "cannot archive the tree"
        tar -C "$src" -xf "$work/tree.tar" || die "cannot unpack the tree into $src"
        rm -f "$work/files.all" "$work/files" "$work/tree.tar"
else
        tar -C "$top" --exclude='./build*' --exclude=./.git -cf "$work/tree.tar" . &&
                tar -C "$src" -xf "$work/tree.tar" || die "cannot copy the tree to $src"
        rm -f "$work/tree.tar"
fi
[ -f "$src/Makefile" ] && [ -d "$src/packaging/debian" ] || die "copying the tree to $src failed"
# Never the build directories, even when they are not ignored.
rm -rf "$src/build" "$src/build-asan"

tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner \
        -czf "$work/${source}_$version.orig.tar.gz" "$source-$version"
cp -a "$src/packaging/debian" "$src/debian"
if [ -n "${NEOSTRA_DEB_REVISION:-}" ]; then
        case $NEOSTRA_DEB_REVISION in
        *[!0-9]*) die "NEOSTRA_DEB_REVISION must be a number" ;;
        esac
        debversion=$version-$NEOSTRA_DEB_REVISION
        {
                printf '%s (%s) unstable; urgency=medium\n\n' "$source" "$debversion"
                printf '  * Rebuild of %s as revision %s.\n\n' "$version" "$NEOSTRA_DEB_REVISION"
                printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$src/debian/changelog" -S Maintainer)" \
                        "$(dpkg-parsechangelog -l "$src/debian/changelog" -S Date)"
                cat "$src/debian/changelog"
        } >"$src/debian/changelog.new" && mv "$src/debian/changelog.new" "$src/debian/changelog" ||
                die "cannot write the revision $NEOSTRA_DEB_REVISION changelog entry"
fi

jobs=$(nproc 2>/dev/null || echo 1)
say "building $source $debversion in $src (log: $work/build.log)"
if ! (cd "$src" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$jobs}" \
        dpkg-buildpackage -us -uc) >"$work/build.log" 2>&1; then
        tail -n 40 "$work/build.log" >&2
        die "dpkg-buildpackage failed (whole log: $work/build.log)"
fi

n=0
for deb in "$work"/*_"$debversion"_"$arch".deb "$work"/*_"$debversion"_all.deb; do
        [ -f "$deb" ] || continue
        case $deb in *-dbgsym_*) continue ;; esac
        cp "$deb" "$builddir/"
        say "$builddir/$(basename "$deb")"
        n=$((n + 1))
done
[ "$n" -gt 0 ] || die "dpkg-buildpackage left no .deb in $work"
# The unpacked copy of the tree is not needed any more (lintian reads the
# .changes, .dsc and tarballs); gone, it is not mistaken for test output by
# tests/canary-scan.sh (the test sources hold canary-shaped literals).
rm -rf "$src"
say "changes: $work/${source}_${debversion}_$arch.changes"
