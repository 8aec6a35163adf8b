#!/bin/sh
# rpm-check.sh BUILDDIR: packaging/rpm/pam_neostra.spec (issue 5, "### RPM").
#
#   1. rpmspec -P parses it; Name, Version (= NEOSTRA_VERSION in the code),
#      License; nothing turns %_unpackaged_files_terminate_build off.
#   2. packaging/rpm/build-rpm.sh (what `make rpm` runs) makes a tarball of
#      the working tree (tracked files plus untracked ones that are not
#      ignored) and builds it with `rpmbuild -bb` (--nodeps off RPM-based
#      hosts) in BUILDDIR/rpm, with unpackaged and missing files fatal; on a
#      host without Fedora's redhat-rpm-config (Debian), with Fedora's
#      x86_64 %optflags and %build_ldflags minus the -specs= files.  The
#      flags must reach every compile and link line, -Werror must not.
#   3. The RPM: name, version, the exact file list, modes and owners, the
#      config file flagged %config(noreplace), the scriptlets (systemd,
#      sysusers, tmpfiles), the module in %{_libdir}/security; from the
#      payload (rpm2archive): the unit's ExecStart=, the daemon's --version,
#      the module's exports and BIND_NOW.
#   4. The same rpmbuild invocation refuses a throwaway spec that leaves an
#      installed file unpackaged (so the file-list check really is in force).
#
# Skips (and says why) without rpm, rpmbuild, rpmspec or git.  The RPM is
# left in BUILDDIR/rpm/RPMS, the build log in BUILDDIR/rpm/rpmbuild.log.
# Ends with "rpm-check: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
[ $# -ge 1 ] || nt_die "usage: $0 BUILDDIR"
mkdir -p "$1" || nt_die "cannot create $1"
nt_init "$here/../.." "$1"
nt_counts rpm-check
spec=$NT_TOP/packaging/rpm/pam_neostra.spec
started=$(date +%s)

skip_all() {
        echo "skipped: $*"
        NT_SKIPPED=$((NT_SKIPPED + 1))
        nt_finish
}

for tool in rpm rpmbuild rpmspec; do
        command -v "$tool" >/dev/null 2>&1 ||
                skip_all "$tool is not installed (Debian: apt-get install rpm; Fedora: dnf install rpm-build)"
done
if ! command -v git >/dev/null 2>&1 || ! git -C "$NT_TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        skip_all "the source tarball is made from git ls-files: git and a git work tree are needed"
fi
[ -f "$spec" ] || { nt_fail "no $spec"; nt_finish; }

nt_tmpdir
nt_trap
# packaging/rpm/build-rpm.sh (make rpm) builds in $top; the spec is parsed
# in a topdir of our own first.
top=$NT_BUILD/rpm
log=$top/rpmbuild.log
parse_top=$NT_TMP/rpm-parse
mkdir -p "$parse_top/SOURCES" || nt_die "cannot create $parse_top"

# ---- 1. the spec parses --------------------------------------------------------
code_version=$(grep -rhs '^#define NEOSTRA_VERSION "' "$NT_TOP/include" "$NT_TOP/neostrad" "$NT_TOP/common" |
               sed -n 's/^#define NEOSTRA_VERSION "\([^"]*\)".*/\1/p' | head -n1)
[ -n "$code_version" ] || nt_fail "no #define NEOSTRA_VERSION in include/, neostrad/ or common/"

# Source1 first: the sysusers scriptlet reads it while the spec is parsed.
cp "$NT_TOP/packaging/systemd/neostrad.sysusers" "$parse_top/SOURCES/neostrad.sysusers"
if rpmspec -P --define "_topdir $parse_top" "$spec" >"$NT_TMP/parsed.spec" 2>"$NT_LOGS/rpmspec.err" &&
   [ ! -s "$NT_LOGS/rpmspec.err" ]; then
        nt_pass "rpmspec -P parses packaging/rpm/pam_neostra.spec without a message"
else
        nt_fail "rpmspec -P:"
        sed 's/^/  | /' "$NT_LOGS/rpmspec.err"
fi
field() { sed -n "s/^$1:[[:space:]]*//p" "$NT_TMP/parsed.spec" | head -n1; }
name=$(field Name)
version=$(field Version)
if [ "$name" = pam_neostra ]; then
        nt_pass "Name: pam_neostra"
else
        nt_fail "Name is '$name', not pam_neostra"
fi
if [ -n "$version" ] && [ "$version" = "$code_version" ]; then
        nt_pass "Version: $version, NEOSTRA_VERSION in the code"
else
        nt_fail "Version '$version' is not NEOSTRA_VERSION '$code_version'"
fi
if [ "$(field License)" = MIT ]; then
        nt_pass "License: MIT (the SPDX lines of the sources)"
else
        nt_fail "License is '$(field License)', the sources say SPDX MIT"
fi
if grep -q '_unpackaged_files_terminate_build[[:space:]]*0\|_missing_doc_files_terminate_build[[:space:]]*0' "$spec"; then
        nt_fail "the spec turns the unpackaged/missing file checks off"
else
        nt_pass "the spec leaves unpackaged and missing files fatal"
fi
[ -n "$version" ] || version=$code_version

# ---- 2. source tarball and rpmbuild -bb (packaging/rpm/build-rpm.sh) ------------
# Files of the working tree, minus tracked ones deleted here and anything in
# BUILDDIR when it is inside the tree and not ignored: build-rpm.sh's list.
if sh "$NT_TOP/packaging/rpm/build-rpm.sh" "$NT_BUILD" >"$NT_LOGS/build-rpm.out" 2>&1; then
        built=yes
else
        built=no
fi
RPM_OPTFLAGS='' RPM_LDFLAGS='' FLAGS_FROM='' NODEPS='' SECONDS_TAKEN=''
# shellcheck disable=SC1091 # written by build-rpm.sh
[ -f "$top/build.env" ] && . "$top/build.env"
optflags=$RPM_OPTFLAGS ldflags=$RPM_LDFLAGS
tarball=$top/SOURCES/pam_neostra-$version.tar.gz
if [ -f "$tarball" ] && tar -tzf "$tarball" >"$NT_TMP/tar.list" &&
   grep -qx "pam_neostra-$version/Makefile" "$NT_TMP/tar.list" &&
   grep -qx "pam_neostra-$version/packaging/rpm/pam_neostra.spec" "$NT_TMP/tar.list" &&
   ! grep -q "^pam_neostra-$version/${NT_BUILD#"$NT_TOP"/}/" "$NT_TMP/tar.list" &&
   [ "$(wc -l <"$NT_TMP/tar.list")" -eq "$(wc -l <"$top/files")" ]; then
        nt_pass "source tarball of the working tree: $(wc -l <"$top/files") files under pam_neostra-$version/"
else
        nt_fail "could not make the source tarball:"
        sed 's/^/  | /' "$NT_LOGS/build-rpm.out"
fi
if [ "$built" = yes ]; then
        nt_pass "make rpm (build-rpm.sh) builds it: rpmbuild -bb${NODEPS:+ $NODEPS} ($SECONDS_TAKEN s; flags: $([ "$FLAGS_FROM" = fedora ] && echo "Fedora's" || echo "the distribution's"))"
else
        nt_fail "build-rpm.sh failed (whole log: $log):"
        sed 's/^/  | /' "$NT_LOGS/build-rpm.out"
fi

# The flags reached the compiler and the linker, and -Werror did not.
grep -E '^[^ ]*(gcc|cc|clang)[^ ]* .* -c -o build/obj/' "$log" >"$NT_TMP/compile.lines"
# (the module's recipe is two lines; its second has the flags and -o)
grep -E '(^|[[:space:]])-o build/(neostrad|neostractl|pam_neostra\.so) ' "$log" >"$NT_TMP/link.lines"
n_compile=$(wc -l <"$NT_TMP/compile.lines")
if [ "$n_compile" -gt 0 ] && ! grep -vF -- "$optflags" "$NT_TMP/compile.lines" >/dev/null; then
        nt_pass "all $n_compile compile lines carry %{optflags}"
else
        nt_fail "$n_compile compile lines, not all with %{optflags} ($optflags)"
fi
if [ "$(wc -l <"$NT_TMP/link.lines")" -eq 3 ] &&
   { [ -z "$ldflags" ] || ! grep -vF -- "$ldflags" "$NT_TMP/link.lines" >/dev/null; }; then
        nt_pass "the 3 link lines carry %{build_ldflags} (${ldflags:-empty here})"
else
        nt_fail "link lines without %{build_ldflags} ($ldflags):"
        sed 's/^/  | /' "$NT_TMP/link.lines"
fi
if [ "$n_compile" -gt 0 ] && ! grep -qE '(^|[[:space:]])-Werror([[:space:]]|$)' "$NT_TMP/compile.lines"; then
        nt_pass "no -Werror in the package build (rpmbuild --with werror keeps it)"
else
        nt_fail "the package build compiles with -Werror"
fi
if grep -qx "neostrad $version" "$log"; then
        nt_pass "%check: the built neostrad --version says $version"
else
        nt_fail "%check did not print 'neostrad $version'"
fi

# ---- 3. the RPM ------------------------------------------------------------------
rpmfile=
for f in "$top"/RPMS/*/pam_neostra-"$version"-*.rpm; do
        case $f in *-debuginfo-*|*-debugsource-*) continue ;; esac
        [ -f "$f" ] && rpmfile=$f
done
if [ "$built" = no ] || [ -z "$rpmfile" ]; then
        nt_fail "no pam_neostra-$version RPM in $top/RPMS"
        echo "rpm-check took $(( $(date +%s) - started )) s"
        nt_finish
fi
nt_pass "built ${rpmfile#"$top"/}"

ev() { rpm --eval "$1"; }
libdir=$(ev '%{_libdir}')
sbindir=$(ev '%{_sbindir}')
bindir=$(ev '%{_bindir}')
sysconfdir=$(ev '%{_sysconfdir}')
mandir=$(ev '%{_mandir}')
localstatedir=$(ev '%{_localstatedir}')
rundir=$(ev '%{?_rundir}%{!?_rundir:/run}')
unitdir=$(ev '%{?_unitdir}%{!?_unitdir:%{_prefix}/lib/systemd/system}')
sysusersdir=$(ev '%{?_sysusersdir}%{!?_sysusersdir:%{_prefix}/lib/sysusers.d}')
tmpfilesdir=$(ev '%{?_tmpfilesdir}%{!?_tmpfilesdir:%{_prefix}/lib/tmpfiles.d}')
catalogdir=$(ev '%{?_journalcatalogdir}%{!?_journalcatalogdir:%{_prefix}/lib/systemd/catalog}')
# %doc goes to _docdir_fmt (Fedora: %{NAME}); rpm's default is NAME-VERSION.
docdir=$(ev '%{_defaultdocdir}')
docfmt=$(ev '%{?_docdir_fmt}')
[ -n "$docfmt" ] || docfmt='%{NAME}-%{VERSION}'
docdir=$docdir/$(printf '%s' "$docfmt" | sed "s/%{NAME}/pam_neostra/g; s/%{VERSION}/$version/g")
# %license: the same name under _defaultlicensedir.
licensedir=$(ev '%{_defaultlicensedir}')/${docdir##*/}

q() { rpm -qp "$@" "$rpmfile" 2>>"$NT_LOGS/rpmq.err"; }
got=$(q --qf '%{NAME} %{VERSION}')
if [ "$got" = "pam_neostra $version" ]; then
        nt_pass "rpm -qp: pam_neostra $version"
else
        nt_fail "rpm -qp says '$got', not 'pam_neostra $version'"
fi

cat >"$NT_TMP/expected" <<EOF
$licensedir
$licensedir/LICENSE
$bindir/neostractl
$docdir
$docdir/README.md
$docdir/common-account.example
$docdir/common-auth.example
$docdir/common-session.example
$docdir/sudo.example
$libdir/security/pam_neostra.so
$localstatedir/lib/neostra
$mandir/man1/neostractl.1
$mandir/man5/neostrad.conf.5
$mandir/man8/neostrad.8
$mandir/man8/pam_neostra.8
$rundir/neostra
$sbindir/neostrad
$sysconfdir/neostra
$sysconfdir/neostra/neostrad.conf
$sysconfdir/neostra/neostrad.conf.d
$sysconfdir/sudoers.d
$sysconfdir/sudoers.d/neostra
$sysusersdir/neostrad.conf
$tmpfilesdir/neostrad.conf
$catalogdir/neostra.catalog
$unitdir/neostra-metrics.service
$unitdir/neostra-metrics.timer
$unitdir/neostrad.service
$unitdir/neostrad.socket
$docdir/doc
EOF
# README.md's links into doc/: every doc/*.md of the tree is %doc too.
for f in "$NT_TOP"/doc/*.md; do
        echo "$docdir/doc/${f##*/}"
done >>"$NT_TMP/expected"
sort -o "$NT_TMP/expected" "$NT_TMP/expected"
# Man pages may be compressed (brp-compress); build-id links are rpm's own.
q -l | grep -v '^/usr/lib/\.build-id\(/\|$\)' |
        sed 's,^\('"$mandir"'/man[0-9]/.*\)\.\(gz\|bz2\|xz\|zst\)$,\1,' | sort >"$NT_TMP/got"
if cmp -s "$NT_TMP/expected" "$NT_TMP/got"; then
        nt_pass "rpm -qlp lists exactly the $(wc -l <"$NT_TMP/expected") expected files and directories"
else
        nt_fail "rpm -qlp differs from the expected list (- expected, + packaged):"
        diff -u "$NT_TMP/expected" "$NT_TMP/got" | sed -n '3,$p' | grep '^[-+]' | sed 's/^/  | /'
fi
case $libdir in
*/lib64) ;;
*) [ "$(uname -m)" = x86_64 ] && echo "note: %{_libdir} is $libdir here" ;;
esac
if grep -qx "$libdir/security/pam_neostra.so" "$NT_TMP/got"; then
        nt_pass "the module is at %{_libdir}/security/pam_neostra.so ($libdir/security)"
else
        nt_fail "no $libdir/security/pam_neostra.so in the package"
fi

# Modes and owners: "perms user group f:flags path" per file.
q --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} f:%{FILEFLAGS:fflags} %{FILENAMES}\n]' |
        grep -v ' /usr/lib/\.build-id\(/\| \|$\)' >"$NT_TMP/modes"
mode_is() { # PATH PERMS USER GROUP
        _m=$(awk -v p="$1" '$5 == p { print $1, $2, $3 }' "$NT_TMP/modes")
        if [ "$_m" = "$2 $3 $4" ]; then
                nt_pass "$1: $2 $3:$4"
        else
                nt_fail "$1 is '${_m:-missing}', not '$2 $3 $4'"
        fi
}
mode_is "$sysconfdir/neostra/neostrad.conf" -rw-r----- root neostra
mode_is "$sysconfdir/neostra" drwxr-xr-x root root
mode_is "$sysconfdir/neostra/neostrad.conf.d" drwxr-xr-x root root
mode_is "$localstatedir/lib/neostra" drwx------ neostra neostra
# sudo by role: the directory as Fedora's sudo has it, the file as sudo wants it.
mode_is "$sysconfdir/sudoers.d" drwxr-x--- root root
mode_is "$sysconfdir/sudoers.d/neostra" -r--r----- root root
mode_is "$rundir/neostra" drwxr-xr-x neostra neostra
mode_is "$libdir/security/pam_neostra.so" -rwxr-xr-x root root
mode_is "$sbindir/neostrad" -rwxr-xr-x root root
mode_is "$bindir/neostractl" -rwxr-xr-x root root
for f in "$unitdir/neostrad.service" "$unitdir/neostrad.socket" "$sysusersdir/neostrad.conf" \
         "$tmpfilesdir/neostrad.conf"; do
        mode_is "$f" -rw-r--r-- root root
done
odd=$(awk -v conf="$sysconfdir/neostra/neostrad.conf" -v state="$localstatedir/lib/neostra" \
          -v run="$rundir/neostra" '
        $1 ~ /^.....w|^........w|^...[sS]|^......[sS]/ { print; next }
        $5 == state || $5 == run { next }
        $5 == conf { if ($2 != "root") print; next }
        $2 != "root" || $3 != "root" { print }' "$NT_TMP/modes")
if [ -z "$odd" ]; then
        nt_pass "nothing group/world-writable, setuid or setgid; everything else root:root"
else
        nt_fail "odd modes or owners:"
        printf '%s\n' "$odd" | sed 's/^/  | /'
fi

# %config(noreplace) and %ghost.
if [ "$(q -c | tr '\n' ' ')" = "$sysconfdir/neostra/neostrad.conf $sysconfdir/sudoers.d/neostra " ]; then
        nt_pass "rpm -qcp: the config files are $sysconfdir/neostra/neostrad.conf and $sysconfdir/sudoers.d/neostra"
else
        nt_fail "rpm -qcp says: $(q -c | tr '\n' ' ')"
fi
flags_of() { awk -v p="$1" '$5 == p { print $4 }' "$NT_TMP/modes"; }
case $(flags_of "$sysconfdir/neostra/neostrad.conf") in
*c*n*|*n*c*) nt_pass "neostrad.conf is %config(noreplace)" ;;
*) nt_fail "neostrad.conf flags '$(flags_of "$sysconfdir/neostra/neostrad.conf")', not config+noreplace" ;;
esac
case $(flags_of "$sysconfdir/sudoers.d/neostra") in
*c*n*|*n*c*) nt_pass "sudoers.d/neostra is %config(noreplace)" ;;
*) nt_fail "sudoers.d/neostra flags '$(flags_of "$sysconfdir/sudoers.d/neostra")', not config+noreplace" ;;
esac
case $(flags_of "$rundir/neostra") in
*g*) nt_pass "$rundir/neostra is %ghost (tmpfiles.d and RuntimeDirectory= make it)" ;;
*) nt_fail "$rundir/neostra is not %ghost" ;;
esac
case $(flags_of "$docdir/README.md") in
*d*) nt_pass "README.md is %doc" ;;
*) nt_fail "README.md is not %doc" ;;
esac

# Scriptlets: "NAME scriptlet (using /bin/sh):" starts each in --scripts.
q --scripts >"$NT_TMP/scripts"
scriptlet() { # preinstall|postinstall|preuninstall|postuninstall
        awk -v s="$1" '/^[a-z]+ scriptlet/ { on = ($1 == s); next } on' "$NT_TMP/scripts"
}
has_all() { # SCRIPTLET EXTENDED-REGEX... (each must match)
        _s=$1
        shift
        scriptlet "$_s" >"$NT_TMP/s.$_s"
        for _re in "$@"; do
                grep -qE -- "$_re" "$NT_TMP/s.$_s" || { echo "  $_s lacks /$_re/"; return 1; }
        done
}
if has_all preinstall 'neostra' 'useradd|systemd-sysusers'; then
        nt_pass "%pre creates the user neostra (sysusers)"
else
        nt_fail "%pre does not create the user neostra:"
        sed 's/^/  | /' "$NT_TMP/s.preinstall"
fi
if has_all postinstall 'systemd-tmpfiles.*neostrad\.conf' \
        'neostrad\.socket' 'neostrad\.service' 'preset|systemd-update-helper'; then
        nt_pass "%post runs tmpfiles and presets neostrad.socket and neostrad.service"
else
        nt_fail "%post:"
        sed 's/^/  | /' "$NT_TMP/s.postinstall"
fi
if has_all preuninstall 'neostrad\.socket' 'neostrad\.service' 'disable|systemd-update-helper'; then
        nt_pass "%preun disables and stops neostrad.socket and neostrad.service"
else
        nt_fail "%preun:"
        sed 's/^/  | /' "$NT_TMP/s.preuninstall"
fi
if has_all postuninstall 'try-restart|systemd-update-helper|restart' 'neostrad\.service'; then
        nt_pass "%postun restarts neostrad.service on upgrade"
else
        nt_fail "%postun:"
        sed 's/^/  | /' "$NT_TMP/s.postuninstall"
fi

# The payload itself.
if command -v rpm2archive >/dev/null 2>&1; then
        root=$NT_TMP/payload
        mkdir "$root"
        if rpm2archive -n - <"$rpmfile" 2>"$NT_LOGS/rpm2archive.err" | tar -C "$root" -xf - 2>>"$NT_LOGS/rpm2archive.err"; then
                if grep -qx "ExecStart=$sbindir/neostrad" "$root$unitdir/neostrad.service" &&
                   ! grep -q '@[A-Z]*@' "$root$unitdir/neostrad.service"; then
                        nt_pass "the packaged neostrad.service runs ExecStart=$sbindir/neostrad"
                else
                        nt_fail "the packaged neostrad.service: $(grep '^ExecStart=\|@[A-Z]*@' "$root$unitdir/neostrad.service")"
                fi
                if [ "$("$root$sbindir/neostrad" --version 2>&1)" = "neostrad $version" ]; then
                        nt_pass "the packaged neostrad --version says $version"
                else
                        nt_fail "the packaged neostrad --version: $("$root$sbindir/neostrad" --version 2>&1)"
                fi
                so=$root$libdir/security/pam_neostra.so
                if command -v readelf >/dev/null 2>&1; then
                        syms=$(readelf --dyn-syms -W "$so" 2>/dev/null | awk '$5 == "GLOBAL" && $7 != "UND" { print $8 }' | sort | tr '\n' ' ')
                        if [ "$syms" = "pam_sm_acct_mgmt pam_sm_authenticate pam_sm_chauthtok pam_sm_close_session pam_sm_open_session pam_sm_setcred " ]; then
                                nt_pass "the packaged module exports exactly the six pam_sm_* functions"
                        else
                                nt_fail "the packaged module exports: $syms"
                        fi
                        if readelf -d "$so" | grep -q 'BIND_NOW' && readelf -d "$root$sbindir/neostrad" | grep -q 'BIND_NOW' &&
                           readelf -h "$root$sbindir/neostrad" | grep -q 'Type:.*DYN'; then
                                nt_pass "module and daemon are linked with -z now (and the daemon is PIE)"
                        else
                                nt_fail "module or daemon lacks BIND_NOW or PIE"
                        fi
                fi
                while read -r src dst; do
                        if cmp -s "$NT_TOP/$src" "$root$dst"; then
                                nt_pass "$dst is $src"
                        else
                                nt_fail "$dst differs from $src"
                        fi
                done <<EOF
packaging/neostrad.conf $sysconfdir/neostra/neostrad.conf
packaging/systemd/neostrad.sysusers $sysusersdir/neostrad.conf
packaging/systemd/neostrad.tmpfiles $tmpfilesdir/neostrad.conf
packaging/systemd/neostrad.socket $unitdir/neostrad.socket
packaging/systemd/neostra-metrics.timer $unitdir/neostra-metrics.timer
EOF
        else
                nt_fail "rpm2archive could not unpack the payload:"
                sed 's/^/  | /' "$NT_LOGS/rpm2archive.err"
        fi
else
        echo "note: no rpm2archive; the payload is not unpacked"
fi

# ---- 4. an unpackaged file stops the build -------------------------------------
neg=$NT_TMP/neg
mkdir -p "$neg/SOURCES" "$neg/BUILD" "$neg/RPMS" "$neg/SRPMS"
cat >"$neg/unpackaged.spec" <<'EOF'
Name: rpmcheck-unpackaged
Version: 1
Release: 1
Summary: installs one file more than it lists
License: MIT
BuildArch: noarch
%description
rpm-check.sh: this build must fail.
%install
mkdir -p %{buildroot}/usr/share/rpmcheck
echo a >%{buildroot}/usr/share/rpmcheck/listed
echo b >%{buildroot}/usr/share/rpmcheck/unlisted
%files
/usr/share/rpmcheck/listed
EOF
if rpmbuild -bb --nodeps --define "_topdir $neg" --define "_unpackaged_files_terminate_build 1" \
        --define "_missing_doc_files_terminate_build 1" "$neg/unpackaged.spec" >"$NT_LOGS/neg.log" 2>&1; then
        nt_fail "rpmbuild accepted a spec that leaves a file unpackaged"
elif grep -q 'Installed (but unpackaged) file(s) found' "$NT_LOGS/neg.log"; then
        nt_pass "the same rpmbuild refuses an installed but unpackaged file"
else
        nt_fail "the unpackaged-file build failed for another reason:"
        tail -n 10 "$NT_LOGS/neg.log" | sed 's/^/  | /'
fi

echo "rpm-check took $(( $(date +%s) - started )) s; the RPM: $rpmfile"
nt_finish
