#!/bin/sh
# package-check.sh BUILDDIR: the Debian package, built, linted, installed
# into a throwaway Debian 12 chroot and checked there (issue 5).
#
#  1. packaging/debian/build-deb.sh BUILDDIR builds it (debhelper, in a
#     copy of the tree) and leaves the .deb in BUILDDIR.
#  2. lintian -EvIL +pedantic on the .changes (.dsc, .deb, .buildinfo): no
#     error, no warning that packaging/debian/source/lintian-overrides or
#     packaging/debian/pam-neostra.lintian-overrides does not override, and
#     every override has a comment saying why.
#  3. debootstrap --variant=minbase bookworm from http://deb.debian.org (the
#     result is cached as BUILDDIR/package-check-cache/bookworm-minbase-
#     DATE.tar.gz, so a re-run the same day skips it), in a private mount
#     namespace: proc and a tmpfs /run are mounted for the chroot there
#     only; /dev is the chroot's own (debootstrap makes the nodes); a
#     policy-rc.d in the chroot keeps every service from starting.  The host's
#     /etc is never touched (checked at the end).
#  4. apt-get install ./pam-neostra_*.deb inside the chroot (dependencies
#     from the mirror), then: files, modes and owners, dpkg -L, the
#     conffiles (the config and sudoers.d/neostra, its rule commented
#     out) and the statoverride, the user neostra and /var/lib/neostra,
#     the socket enabled, the PAM stacks pam-auth-update wrote (common-auth
#     exactly the README's stack), neostrad --test-config on the shipped
#     config (also as neostra), and logins through those stacks
#     (tests/pamcheck.c, built here) for root and a local user, right and
#     wrong password, with neostrad stopped and with neostrad running
#     unconfigured (started by hand as root; it drops to neostra).
#  4b. upgrade to the same tree built as the next revision, with neostrad
#     running, a Neostra user signed in and the admin's changes in the
#     conffile and a drop-in: the maintainer scripts try-restart the service
#     and never stop or restart the socket; config, statoverride and cache
#     survive; the old daemon answers through the upgrade and the new one
#     from the old cache (an offline login on the old verifier).
#  5. apt-get remove: programs gone, config and cache kept, pam_neostra out
#     of /etc/pam.d (the files as before the install), logins still work;
#     apt-get purge: /etc/neostra and /var/lib/neostra gone.
#
# Without root, dpkg-buildpackage, lintian, debootstrap, unshare or chroot,
# or when the mirror cannot be reached, it says what is missing and counts
# it as skipped.  Ends with "package-check: N passed, N failed[, N skipped]"
# and how long it took.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
nt_counts package-check
: "${PKGCHECK_T0:=$(date +%s)}"
export PKGCHECK_T0

MIRROR=${NEOSTRA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
PKG=pam-neostra

finish() {
        echo "package-check took $(($(date +%s) - PKGCHECK_T0)) s"
        nt_finish
}
skip_rest() {
        echo "skipped: $*"
        NT_SKIPPED=$((NT_SKIPPED + 1))
        finish
}

[ "$(id -u)" -eq 0 ] || skip_rest "needs root (debootstrap, chroot, a private mount namespace)"
for tool in dpkg-buildpackage dh lintian debootstrap unshare chroot cc; do
        command -v "$tool" >/dev/null 2>&1 || skip_rest "$tool is not installed (make deps installs it)"
done
# The chroot's mounts live in a mount namespace of our own.
nt_private_ns "$@" || skip_rest "cannot make a private mount namespace (unshare)"
mount --make-rprivate / || skip_rest "cannot make the mount namespace private"

# The host, to compare at the end.
host_state() {
        md5sum /etc/pam.d/common-* /etc/nsswitch.conf 2>&1
        echo "neostra: $(getent passwd neostra)"
        echo "group neostra: $(getent group neostra)"
}
host_before=$(host_state)

nt_tmpdir
R=$NT_TMP/root

# Cleanup (before nt_cleanup removes $NT_TMP): stop what runs in the chroot,
# then unmount; $NT_TMP is removed only when nothing is mounted below it.
chroot_cleanup() {
        nt_stop_all
        for _p in /proc/[0-9]*; do
                [ "$(readlink "$_p/root" 2>/dev/null)" = "$R" ] || continue
                echo "stopping leftover chroot process ${_p#/proc/}: $(tr '\0' ' ' <"$_p/cmdline" 2>/dev/null)"
                kill -KILL "${_p#/proc/}" 2>/dev/null
        done
        for _m in run proc; do
                mountpoint -q "$R/$_m" 2>/dev/null && umount -l "$R/$_m"
        done
        if grep -q " $NT_TMP/" /proc/self/mountinfo; then
                echo "still mounted below $NT_TMP; keeping it:" >&2
                grep " $NT_TMP/" /proc/self/mountinfo >&2
                NT_KEEP=1
        fi
}
NT_CLEANUP_HOOK=chroot_cleanup
nt_trap

show() { # FILE: the tail of a log, indented
        tail -n "${2:-25}" "$1" | sed 's/^/  | /'
}
check() { # DESCRIPTION COMMAND...: one ok/FAIL line
        _d=$1
        shift
        if "$@"; then nt_pass "$_d"; else nt_fail "$_d"; fi
}

# ---- 1. build --------------------------------------------------------------

if sh "$NT_TOP/packaging/debian/build-deb.sh" "$NT_BUILD" >"$NT_LOGS/build-deb.log" 2>&1; then
        nt_pass "make deb: packaging/debian/build-deb.sh builds the package"
else
        nt_fail "packaging/debian/build-deb.sh failed:"
        show "$NT_LOGS/build-deb.log" 40
        finish
fi
debversion=$(dpkg-parsechangelog -l "$NT_TOP/packaging/debian/changelog" -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb=$NT_BUILD/${PKG}_${debversion}_$arch.deb
changes=$NT_BUILD/deb/${PKG}_${debversion}_$arch.changes
check "the .deb is in BUILDDIR ($(basename "$deb"))" test -s "$deb"
# The same tree as revision 2: what the upgrade below installs over it.
up_rev=$(( ${debversion##*-} + 1 ))
up_version=${debversion%-*}-$up_rev
up_deb=$NT_BUILD/upgrade/${PKG}_${up_version}_$arch.deb
if NEOSTRA_DEB_REVISION=$up_rev sh "$NT_TOP/packaging/debian/build-deb.sh" "$NT_BUILD/upgrade" \
        >"$NT_LOGS/build-deb-upgrade.log" 2>&1 && [ -s "$up_deb" ]; then
        nt_pass "the same tree builds as revision $up_rev too ($(basename "$up_deb"), for the upgrade)"
else
        nt_fail "building revision $up_rev failed:"
        show "$NT_LOGS/build-deb-upgrade.log" 20
fi

# ---- 2. lintian ------------------------------------------------------------

# As installed (bookworm's lintian), everything it has, overrides shown.
lintian -EvIL +pedantic --show-overrides "$changes" >"$NT_LOGS/lintian.out" 2>&1
lrc=$?
grep -v '^running with root privileges' "$NT_LOGS/lintian.out" | grep -E '^[EWIPXO]: ' |
        grep -v -e '^O: ' -e '^X: .*very-long-line-length-in-source-file' | sed 's/^/  lintian /'
if [ "$lrc" -eq 0 ] && ! grep -q '^E: ' "$NT_LOGS/lintian.out"; then
        nt_pass "lintian: no errors"
else
        nt_fail "lintian: errors (exit $lrc):"
        grep -E '^E: |^[a-z]' "$NT_LOGS/lintian.out" | sed 's/^/  | /'
fi
if grep -q '^W: ' "$NT_LOGS/lintian.out"; then
        nt_fail "lintian: warnings that no lintian-overrides file justifies:"
        grep '^W: ' "$NT_LOGS/lintian.out" | sed 's/^/  | /'
else
        nt_pass "lintian: no warnings that are not overridden"
fi
# Every override line comes after a comment (the justification).
uncommented=
for f in "$NT_TOP/packaging/debian/source/lintian-overrides" "$NT_TOP"/packaging/debian/*.lintian-overrides; do
        [ -f "$f" ] || continue
        uncommented="$uncommented$(awk -v f="${f#"$NT_TOP"/}" '
                /^[[:space:]]*#/ { c = 1; next }
                /^[[:space:]]*$/ { c = 0; next }
                !c { print "  " f ":" NR ": " $0 }' "$f")"
done
if [ -z "$uncommented" ]; then
        nt_pass "every lintian override has a comment saying why"
else
        nt_fail "lintian overrides without a comment:"
        echo "$uncommented"
fi

# ---- 3. a Debian 12 chroot -------------------------------------------------

# tests/pamcheck.c as the PAM driver in the chroot (libpam and libc only).
if ! cc -O2 -o "$NT_TMP/pamcheck" "$NT_TOP/tests/pamcheck.c" -lpam >"$NT_LOGS/pamcheck-cc.log" 2>&1; then
        nt_fail "cannot build tests/pamcheck.c:"
        show "$NT_LOGS/pamcheck-cc.log"
        finish
fi

cachedir=$NT_BUILD/package-check-cache
cache=$cachedir/$SUITE-minbase-$arch-$(date -u +%Y%m%d).tar.gz
mkdir -p "$R"
if [ -s "$cache" ] && tar -C "$R" --numeric-owner -xzf "$cache" 2>"$NT_LOGS/untar.log"; then
        echo "chroot: $SUITE minbase from the cache $(basename "$cache")"
else
        rm -rf "$R"
        mkdir -p "$R"
        echo "chroot: debootstrap --variant=minbase $SUITE $MIRROR (about a minute)"
        if ! debootstrap --variant=minbase "$SUITE" "$R" "$MIRROR" >"$NT_LOGS/debootstrap.log" 2>&1; then
                show "$NT_LOGS/debootstrap.log" 15
                # Whatever debootstrap left mounted (it mounts proc itself).
                for _m in proc sys; do mountpoint -q "$R/$_m" && umount -l "$R/$_m"; done
                skip_rest "debootstrap could not make a $SUITE chroot from $MIRROR (no network to the mirror?)"
        fi
        chroot "$R" apt-get clean >/dev/null 2>&1
        rm -f "$cachedir"/$SUITE-minbase-"$arch"-*.tar.gz
        mkdir -p "$cachedir"
        tar -C "$R" --numeric-owner -czf "$cache.tmp" . && mv "$cache.tmp" "$cache" ||
                { rm -f "$cache.tmp"; echo "chroot: could not cache it (going on)"; }
fi

mount -t proc proc "$R/proc" || { nt_fail "cannot mount proc in the chroot"; finish; }
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$R/run" || { nt_fail "cannot mount /run in the chroot"; finish; }
mkdir -p "$R/run/lock"
chmod 1777 "$R/run/lock"
# The chroot's own copies: name resolution for apt, nothing starts.
cp /etc/resolv.conf "$R/etc/resolv.conf"
printf '#!/bin/sh\n# package-check: nothing starts in this chroot\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 0755 "$R/usr/sbin/policy-rc.d"
cp "$NT_TMP/pamcheck" "$R/usr/local/bin/pamcheck"
cp "$deb" "$R/tmp/"
[ -s "$up_deb" ] && cp "$up_deb" "$R/tmp/"

# in_chroot COMMAND...: a clean environment, as root, inside.
in_chroot() {
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
                DEBIAN_FRONTEND=noninteractive ${PAMCHECK_PASSWORD:+PAMCHECK_PASSWORD="$PAMCHECK_PASSWORD"} \
                chroot "$R" "$@"
}

if in_chroot apt-get -q update >"$NT_LOGS/apt-update.log" 2>&1; then
        :
else
        show "$NT_LOGS/apt-update.log" 10
        skip_rest "apt-get update in the chroot cannot reach $MIRROR"
fi
for f in common-auth common-account common-session common-password; do
        cp "$R/etc/pam.d/$f" "$NT_TMP/$f.before"
done

# ---- 4. install -------------------------------------------------------------

if in_chroot apt-get -q -y install "/tmp/$(basename "$deb")" >"$NT_LOGS/apt-install.log" 2>&1; then
        nt_pass "apt-get install ./$(basename "$deb") in a $SUITE chroot (dependencies from the mirror)"
else
        nt_fail "apt-get install of the .deb failed:"
        show "$NT_LOGS/apt-install.log" 30
        finish
fi
status=$(in_chroot dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null)
check "dpkg says $PKG is installed ($status)" [ "$status" = "ii " ]
# Both alternatives of the sysusers dependency and libnss-systemd (Recommends).
for p in systemd libnss-systemd; do
        check "$p came along (Depends/Recommends)" \
                [ "$(in_chroot dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ]
done

# expect_file PATH MODE OWNER:GROUP [TYPE]: exists inside with these.
expect_file() {
        # Names as the chroot knows them (its passwd, not the host's).
        _got=$(in_chroot stat -c '%a %U:%G %F' "$1" 2>/dev/null)
        _want="$2 $3 ${4:-regular file}"
        if [ "$_got" = "$_want" ]; then
                nt_pass "$1 is $_want"
        else
                nt_fail "$1: want $_want, got ${_got:-nothing}"
        fi
}
expect_file "/lib/$multiarch/security/pam_neostra.so" 644 root:root
expect_file /usr/sbin/neostrad 755 root:root
expect_file /usr/bin/neostractl 755 root:root
expect_file /etc/neostra/neostrad.conf 640 root:neostra
expect_file /etc/neostra/neostrad.conf.d 755 root:root directory
expect_file /etc/sudoers.d/neostra 440 root:root
expect_file /lib/systemd/system/neostrad.service 644 root:root
expect_file /lib/systemd/system/neostrad.socket 644 root:root
expect_file /lib/systemd/system/neostra-metrics.service 644 root:root
expect_file /lib/systemd/system/neostra-metrics.timer 644 root:root
expect_file /usr/lib/sysusers.d/neostrad.conf 644 root:root
expect_file /usr/lib/tmpfiles.d/neostrad.conf 644 root:root
expect_file /usr/lib/systemd/catalog/neostra.catalog 644 root:root
expect_file /usr/share/man/man1/neostractl.1.gz 644 root:root
expect_file /usr/share/man/man5/neostrad.conf.5.gz 644 root:root
expect_file /usr/share/man/man8/neostrad.8.gz 644 root:root
expect_file /usr/share/man/man8/pam_neostra.8.gz 644 root:root
expect_file /usr/share/pam-configs/neostra 644 root:root
expect_file /usr/share/pam-configs/neostra-groups 644 root:root
expect_file /usr/share/doc/pam-neostra/copyright 644 root:root
# The README (dh_installdocs may compress it), the doc/ it links to, and
# the PAM examples it shows.
readme_doc() { [ -f "$R/usr/share/doc/pam-neostra/README.md" ] || [ -f "$R/usr/share/doc/pam-neostra/README.md.gz" ]; }
check "README.md is in /usr/share/doc/pam-neostra" readme_doc
docs_missing=
for f in "$NT_TOP"/doc/*.md; do
        b=/usr/share/doc/pam-neostra/doc/${f##*/}
        [ -f "$R$b" ] || [ -f "$R$b.gz" ] || docs_missing="$docs_missing $b"
done
check "every doc/*.md is in /usr/share/doc/pam-neostra/doc${docs_missing:+ (missing:$docs_missing)}" [ -z "$docs_missing" ]
for f in common-auth common-account common-session sudo; do
        expect_file "/usr/share/doc/pam-neostra/examples/$f.example" 644 root:root
done

in_chroot dpkg -L "$PKG" >"$NT_TMP/dpkg-L" 2>&1
missing=
for f in "/lib/$multiarch/security/pam_neostra.so" /usr/sbin/neostrad /usr/bin/neostractl \
         /etc/neostra/neostrad.conf /etc/neostra/neostrad.conf.d /lib/systemd/system/neostrad.service \
         /lib/systemd/system/neostrad.socket /usr/lib/sysusers.d/neostrad.conf \
         /usr/lib/tmpfiles.d/neostrad.conf /usr/lib/systemd/catalog/neostra.catalog \
         /usr/share/man/man1/neostractl.1.gz \
         /usr/share/man/man5/neostrad.conf.5.gz /usr/share/man/man8/neostrad.8.gz \
         /usr/share/man/man8/pam_neostra.8.gz /usr/share/pam-configs/neostra \
         /usr/share/pam-configs/neostra-groups /etc/sudoers.d/neostra; do
        grep -qx "$f" "$NT_TMP/dpkg-L" || missing="$missing $f"
done
check "dpkg -L $PKG lists every file above${missing:+ (missing:$missing)}" [ -z "$missing" ]
conffiles=$(in_chroot dpkg-query -W -f='${Conffiles}' "$PKG" 2>/dev/null)
check "the conffiles are /etc/neostra/neostrad.conf and /etc/sudoers.d/neostra" \
        [ "$(echo "$conffiles" | awk 'NF { print $1 }' | sort | tr '\n' ' ')" = "/etc/neostra/neostrad.conf /etc/sudoers.d/neostra " ]
check "/etc/sudoers.d/neostra grants nothing (its rule commented out)" \
        sh -c "! grep -v -e '^#' -e '^[[:space:]]*\$' '$R/etc/sudoers.d/neostra' | grep -q ."
so=$(in_chroot dpkg-statoverride --list /etc/neostra/neostrad.conf 2>&1)
check "dpkg-statoverride keeps it root:neostra 0640 across upgrades ($so)" \
        [ "$so" = "root neostra 640 /etc/neostra/neostrad.conf" ]
check "the shipped config sets no [api] url (unconfigured until the admin says where)" \
        sh -c "! grep -q '^[[:space:]]*url[[:space:]]*=' '$R/etc/neostra/neostrad.conf'"
check "neostrad.service runs /usr/sbin/neostrad" grep -qx 'ExecStart=/usr/sbin/neostrad' "$R/lib/systemd/system/neostrad.service"
check "neostrad.socket is enabled (sockets.target.wants)" \
        test -L "$R/etc/systemd/system/sockets.target.wants/neostrad.socket"
check "neostrad.service itself is not enabled (socket-activated)" \
        test ! -e "$R/etc/systemd/system/multi-user.target.wants/neostrad.service"
check "neostra-metrics.timer is not enabled (the administrator's choice)" \
        test ! -e "$R/etc/systemd/system/timers.target.wants/neostra-metrics.timer"
check "neostra-metrics.service runs /usr/bin/neostractl metrics --textfile" \
        grep -qx 'ExecStart=/usr/bin/neostractl metrics --textfile /var/lib/prometheus/node-exporter' \
        "$R/lib/systemd/system/neostra-metrics.service"

# The user and the cache directory.
pw=$(in_chroot getent passwd neostra)
uid=$(echo "$pw" | cut -d: -f3)
sys_max=$(awk '$1 == "SYS_UID_MAX" { print $2 }' "$R/etc/login.defs")
case $pw in
neostra:x:*:*:*:/var/lib/neostra:/usr/sbin/nologin)
        if [ -n "$uid" ] && [ "$uid" -gt 0 ] && [ "$uid" -le "${sys_max:-999}" ]; then
                nt_pass "user neostra: system uid $uid, home /var/lib/neostra, shell /usr/sbin/nologin"
        else
                nt_fail "user neostra has uid $uid, not a system uid: $pw"
        fi ;;
*) nt_fail "user neostra: got '$pw'" ;;
esac
gr=$(in_chroot getent group neostra)
check "group neostra exists ($gr)" [ -n "$gr" ]
expect_file /var/lib/neostra 700 neostra:neostra directory

# The PAM stacks pam-auth-update wrote.  stack FILE: active lines, spaces squeezed.
stack() {
        grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$1" | sed 's/[[:space:]][[:space:]]*/ /g; s/ $//'
}
stack "$R/etc/pam.d/common-auth" >"$NT_TMP/auth.got"
stack "$NT_TOP/packaging/pam/common-auth.example" >"$NT_TMP/auth.want"
if cmp -s "$NT_TMP/auth.got" "$NT_TMP/auth.want"; then
        nt_pass "common-auth is exactly README's stack (packaging/pam/common-auth.example): pam_unix, pam_neostra, pam_deny, pam_permit, setcred_only"
else
        nt_fail "common-auth differs from packaging/pam/common-auth.example:"
        diff "$NT_TMP/auth.want" "$NT_TMP/auth.got" | sed 's/^/  | /'
fi
stack "$R/etc/pam.d/common-account" >"$NT_TMP/account.got"
cat >"$NT_TMP/account.want" <<'EOF'
account [success=1 new_authtok_reqd=done default=ignore] pam_unix.so
account requisite pam_deny.so
account required pam_permit.so
account [success=ok ignore=ignore user_unknown=ignore authinfo_unavail=ignore default=bad] pam_neostra.so
EOF
if cmp -s "$NT_TMP/account.got" "$NT_TMP/account.want"; then
        nt_pass "common-account: pam_unix first, then pam_neostra (refuses a denied role; ignores an unknown user and a daemon that is down)"
else
        nt_fail "common-account is not as intended:"
        diff "$NT_TMP/account.want" "$NT_TMP/account.got" | sed 's/^/  | /'
fi
stack "$R/etc/pam.d/common-session" >"$NT_TMP/session.got"
stack "$NT_TOP/packaging/pam/common-session.example" >"$NT_TMP/session.want"
# README's lines, in its order (other modules' lines may come between).
if awk 'NR == FNR { want[++n] = $0; next } $0 == want[i + 1] { i++ } END { exit i != n }' \
        "$NT_TMP/session.want" "$NT_TMP/session.got" &&
   [ "$(grep -n pam_unix.so "$NT_TMP/session.got" | cut -d: -f1 | head -n1)" -lt \
     "$(grep -n pam_mkhomedir.so "$NT_TMP/session.got" | cut -d: -f1 | head -n1)" ]; then
        nt_pass "common-session: pam_unix, then README's pam_mkhomedir and pam_neostra lines"
else
        nt_fail "common-session is not as intended:"
        sed 's/^/  | /' "$NT_TMP/session.got"
fi
check "common-session-noninteractive has no pam_neostra or pam_mkhomedir (interactive only)" \
        sh -c "! grep -qE 'pam_(neostra|mkhomedir)' '$R/etc/pam.d/common-session-noninteractive'"
check "common-password is unchanged (pam_neostra has no password lines)" \
        cmp -s "$NT_TMP/common-password.before" "$R/etc/pam.d/common-password"

for f in auth account session; do
        sed "s/^/  common-$f: /" "$NT_TMP/$f.got"
done

# The same package over itself (the upgrade path: prerm upgrade, postinst
# configure with the old version): the stacks stay as they are.
if in_chroot dpkg -i "/tmp/$(basename "$deb")" >"$NT_LOGS/dpkg-reinstall.log" 2>&1 &&
   stack "$R/etc/pam.d/common-auth" | cmp -s - "$NT_TMP/auth.got" &&
   stack "$R/etc/pam.d/common-account" | cmp -s - "$NT_TMP/account.got"; then
        nt_pass "dpkg -i of the same version over it (upgrade path) keeps the stacks"
else
        nt_fail "dpkg -i over the installed package:"
        show "$NT_LOGS/dpkg-reinstall.log"
fi

# The shipped config passes --test-config, as root and as the daemon's user.
in_chroot /usr/sbin/neostrad --test-config -c /etc/neostra/neostrad.conf >"$NT_LOGS/test-config.out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q 'configuration ok' "$NT_LOGS/test-config.out" &&
   grep -q 'not configured yet' "$NT_LOGS/test-config.out"; then
        nt_pass "neostrad --test-config passes on the shipped config and says it is not configured yet"
else
        nt_fail "neostrad --test-config on the shipped config (exit $rc):"
        show "$NT_LOGS/test-config.out"
fi
in_chroot setpriv --reuid=neostra --regid=neostra --clear-groups \
        /usr/sbin/neostrad --test-config -c /etc/neostra/neostrad.conf >"$NT_LOGS/test-config-user.out" 2>&1
check "user neostra can read the config (what a SIGHUP reload needs)" \
        grep -q 'configuration ok' "$NT_LOGS/test-config-user.out"

# ---- logins through the installed stacks --------------------------------------

pw_root="root-Pw-$$-$(date +%s)"
pw_local="local-Pw-$$-$(date +%s)"
wrong="wrong-Pw-$$"
in_chroot useradd -m -s /bin/bash localuser >"$NT_LOGS/useradd.log" 2>&1 &&
        printf 'root:%s\nlocaluser:%s\n' "$pw_root" "$pw_local" | in_chroot chpasswd >>"$NT_LOGS/useradd.log" 2>&1 ||
        { nt_fail "cannot make the local user:"; show "$NT_LOGS/useradd.log"; finish; }
cat >"$R/etc/pam.d/neostra-check" <<'EOF'
# package-check: what login, su and sshd include on Debian.
@include common-auth
@include common-account
@include common-session
EOF

# login WHEN USER PASSWORD WANT: WANT is ok (authenticate and account
# succeed) or fail (authenticate fails; which error depends on who said no
# last: pam_deny's "Authentication failure", or pam_neostra's "User not
# known" from a daemon that cannot map a name without '@' to an email).
login() {
        _out=$NT_LOGS/login-$2-$4.out
        PAMCHECK_PASSWORD=$3 in_chroot /usr/local/bin/pamcheck neostra-check "$2" >"$_out" 2>&1
        _rc=$?
        case $4 in
        ok) if [ "$_rc" -eq 0 ]; then nt_pass "$1: $2 logs in with the right password"
            else nt_fail "$1: $2 cannot log in with the right password:"; show "$_out"; fi ;;
        fail) _res=$(sed -n 's/^ *pam_authenticate([^)]*): *//p' "$_out")
              if [ "$_rc" -ne 0 ] && [ -n "$_res" ] && [ "$_res" != Success ]; then
                      nt_pass "$1: $2 with a wrong password is refused ($_res)"
              else nt_fail "$1: $2 with a wrong password is not refused:"; show "$_out"; fi ;;
        esac
}
logins() { # WHEN
        login "$1" root "$pw_root" ok
        login "$1" root "$wrong" fail
        login "$1" localuser "$pw_local" ok
        login "$1" localuser "$wrong" fail
}

logins "neostrad not running"

# neostrad by hand, as root: binds both sockets and drops to neostra.
sock=$R/run/neostra/io.neostra.Auth
# (env execs chroot, chroot execs neostrad: the PID is the daemon's.)
nt_spawn neostrad env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        chroot "$R" /usr/sbin/neostrad >"$NT_LOGS/neostrad.log" 2>&1
daemon_pid=$NT_LAST_PID
if nt_wait_until 20 "neostrad's socket" test -S "$sock"; then
        nt_pass "neostrad started by hand in the chroot binds /run/neostra/io.neostra.Auth"
        # It binds first, then hands the socket to neostra and drops to it.
        daemon_uid() { awk '/^Uid:/ { print $2 }' "/proc/$daemon_pid/status" 2>/dev/null; }
        dropped() { [ "$(daemon_uid)" = "$uid" ]; }
        nt_wait_until 10 "neostrad to drop to neostra" dropped
        check "neostrad runs as neostra (uid $(daemon_uid))" dropped
        check "the socket belongs to neostra" [ "$(stat -c %u "$sock")" = "$uid" ]
        in_chroot neostractl status >"$NT_LOGS/neostractl-status.out" 2>&1
        rc=$?
        check "neostractl status answers (exit $rc)" [ -s "$NT_LOGS/neostractl-status.out" ]
        sed 's/^/  | /' "$NT_LOGS/neostractl-status.out" | head -n 8
        logins "neostrad running, not configured"
        nt_stop "$daemon_pid" neostrad
        rc=$?
        check "neostrad exits 0 at SIGTERM (exit $rc)" [ "$rc" -eq 0 ]
else
        nt_fail "neostrad did not bind its socket:"
        show "$NT_LOGS/neostrad.log"
        nt_stop "$daemon_pid" neostrad
fi

# ---- 4b. upgrade -------------------------------------------------------------------
# Revision 2 of the same tree over revision 1 while neostrad runs (by hand:
# systemd does not run here, so its part, the try-restart of the service
# with the sockets kept open, is checked in the maintainer scripts) with a
# Neostra user signed in and the admin's changes to the conffile and a
# drop-in: the config and the cache survive, the running daemon keeps
# answering through the upgrade, the new one answers from the same cache
# (an offline login rests on the verifier made before the upgrade).
upgrade() {
        [ -s "$R/tmp/$(basename "$up_deb")" ] || { nt_fail "upgrade: no revision $up_rev package"; return; }
        rm -rf "$NT_TMP/up" && mkdir -m 0700 "$NT_TMP/up"
        dpkg-deb -e "$up_deb" "$NT_TMP/up/control" || { nt_fail "upgrade: dpkg-deb -e"; return; }
        # What the upgrade does under systemd: try-restart the service (new
        # binary, same sockets), never stop or restart the socket.
        active() { grep -v '^[[:space:]]*#' "$NT_TMP/up/control/$1" 2>/dev/null; }
        check "upgrade: postinst try-restarts neostrad.service" \
                grep -q "deb-systemd-invoke try-restart 'neostrad.service' >" "$NT_TMP/up/control/postinst"
        if active postinst | grep -E 'deb-systemd-invoke (try-restart|restart|stop)' | grep -q 'neostrad\.socket' ||
           active preinst | grep -q 'deb-systemd-invoke stop' ||
           ! active prerm | grep -q '"\$1" = remove'; then
                nt_fail "upgrade: the maintainer scripts stop or restart neostrad.socket on upgrade"
                active postinst | grep -n 'deb-systemd-invoke' | sed 's/^/  | /'
        else
                nt_pass "upgrade: neostrad.socket is never stopped or restarted by an upgrade (prerm stops it on remove only)"
        fi

        pw_neo="neo-Pw-$$-$(date +%s)"
        printf '{"users": {"neouser@example.com": {"password": "%s", "roles": ["admin"]}}}\n' "$pw_neo" \
                >"$NT_TMP/up/users.json"
        nt_mock_start "$NT_TMP/up/users.json" || { nt_fail "upgrade: mock API start"; return; }
        mock_pid=$NT_MOCK_PID
        in_chroot useradd -M -s /bin/bash neouser >>"$NT_LOGS/useradd.log" 2>&1 ||
                { nt_fail "upgrade: useradd neouser"; return; }
        # The admin's changes: one in the conffile, the rest in a drop-in.
        sed -i 's/^#minimum_uid = 1000$/minimum_uid = 1000/' "$R/etc/neostra/neostrad.conf"
        grep -q '^minimum_uid = 1000$' "$R/etc/neostra/neostrad.conf" ||
                { nt_fail "upgrade: cannot edit the conffile"; return; }
        mkdir -p "$R/etc/neostra/neostrad.conf.d"
        printf '[api]\nurl = http://127.0.0.1:%s\n[users]\nemail_template = %%u@example.com\nlocal_accounts = neouser\n' \
                "$NT_MOCK_HTTP_PORT" >"$R/etc/neostra/neostrad.conf.d/50-site.conf"
        in_chroot chgrp neostra /etc/neostra/neostrad.conf.d/50-site.conf
        chmod 0640 "$R/etc/neostra/neostrad.conf.d/50-site.conf"
        conf_sums() { md5sum "$R/etc/neostra/neostrad.conf" "$R/etc/neostra/neostrad.conf.d/50-site.conf"; }
        # neostractl's exit status 3: the daemon cannot be reached.
        daemon_answers() {
                in_chroot neostractl status >/dev/null 2>&1
                [ $? -ne 3 ]
        }
        statoverride_kept() {
                in_chroot dpkg-statoverride --list /etc/neostra/neostrad.conf | grep -qx 'root neostra 640 /etc/neostra/neostrad.conf'
        }
        sums_before=$(conf_sums)
        start_daemon() {
                nt_spawn neostrad env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
                        chroot "$R" /usr/sbin/neostrad >>"$NT_LOGS/neostrad-upgrade.log" 2>&1
                daemon_pid=$NT_LAST_PID
                nt_wait_until 20 "neostrad to answer" daemon_answers
        }
        start_daemon || { nt_fail "upgrade: neostrad (revision 1) did not start"; show "$NT_LOGS/neostrad-upgrade.log"; return; }
        login "upgrade, revision 1" neouser "$pw_neo" ok
        login "upgrade, revision 1" neouser "$wrong" fail
        in_chroot neostractl user neouser >"$NT_LOGS/user-before.out" 2>&1

        if in_chroot apt-get -q -y install "/tmp/$(basename "$up_deb")" >"$NT_LOGS/apt-upgrade.log" 2>&1; then
                nt_pass "upgrade: apt-get install ./$(basename "$up_deb") over revision 1, neostrad running"
        else
                nt_fail "upgrade: apt-get install of revision $up_rev failed:"
                show "$NT_LOGS/apt-upgrade.log"
        fi
        check "upgrade: dpkg says $up_version is installed" \
                [ "$(in_chroot dpkg-query -W -f='${Version} ${db:Status-Abbrev}' "$PKG")" = "$up_version ii " ]
        check "upgrade: the conffile (edited) and the drop-in are as the admin left them" \
                [ "$(conf_sums)" = "$sums_before" ]
        check "upgrade: the config keeps its statoverride (root:neostra 0640)" statoverride_kept
        check "upgrade: the running neostrad (pid $daemon_pid) kept answering" daemon_answers
        login "upgrade, old daemon after the upgrade" neouser "$pw_neo" ok
        # systemd would try-restart it now: the same, by hand.
        nt_stop "$daemon_pid" neostrad
        rc=$?
        check "upgrade: the old neostrad exits 0 at SIGTERM (exit $rc)" [ "$rc" -eq 0 ]
        start_daemon || { nt_fail "upgrade: neostrad (revision $up_rev) did not start"; show "$NT_LOGS/neostrad-upgrade.log"; return; }
        nt_pass "upgrade: neostrad of revision $up_rev starts on the old config and cache"
        in_chroot neostractl user neouser >"$NT_LOGS/user-after.out" 2>&1
        if grep -q 'neouser' "$NT_LOGS/user-after.out" && ! grep -qi 'unknown\|not known\|no such' "$NT_LOGS/user-after.out"; then
                nt_pass "upgrade: neostractl user neouser: the cached user survived"
        else
                nt_fail "upgrade: the cache lost neouser:"
                show "$NT_LOGS/user-after.out"
        fi
        # The API goes away: the verifier made before the upgrade answers.
        nt_stop "$mock_pid" mock_api
        login "upgrade, revision $up_rev, API down" neouser "$pw_neo" ok
        if grep -q 'offlineSuccess; user=neouser' "$NT_LOGS/neostrad-upgrade.log"; then
                nt_pass "upgrade: that login was an offline success (the cache's verifier from before the upgrade)"
        else
                nt_fail "upgrade: no offline success for neouser after the upgrade"
                show "$NT_LOGS/neostrad-upgrade.log"
        fi
        login "upgrade, revision $up_rev, API down" neouser "$wrong" fail
        nt_stop "$daemon_pid" neostrad
        rc=$?
        check "upgrade: neostrad of revision $up_rev exits 0 at SIGTERM (exit $rc)" [ "$rc" -eq 0 ]
        rm -f "$R/etc/neostra/neostrad.conf.d/50-site.conf"
}
upgrade

# ---- 5. remove, purge -----------------------------------------------------------

if in_chroot apt-get -q -y remove "$PKG" >"$NT_LOGS/apt-remove.log" 2>&1; then
        nt_pass "apt-get remove $PKG"
else
        nt_fail "apt-get remove $PKG failed:"
        show "$NT_LOGS/apt-remove.log"
fi
check "after remove: dpkg keeps only its config files (rc)" \
        [ "$(in_chroot dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null)" = "rc " ]
gone=
for f in /usr/sbin/neostrad /usr/bin/neostractl "/lib/$multiarch/security/pam_neostra.so" \
         /usr/share/pam-configs/neostra /usr/share/pam-configs/neostra-groups \
         /lib/systemd/system/neostrad.service /lib/systemd/system/neostrad.socket \
         /lib/systemd/system/neostra-metrics.service /lib/systemd/system/neostra-metrics.timer; do
        [ -e "$R$f" ] && gone="$gone $f"
done
check "after remove: module, programs, units and PAM profiles are gone${gone:+ (still there:$gone)}" [ -z "$gone" ]
check "after remove: /etc/neostra/neostrad.conf is kept" test -f "$R/etc/neostra/neostrad.conf"
check "after remove: /var/lib/neostra is kept" test -d "$R/var/lib/neostra"
check "after remove: no pam_neostra in /etc/pam.d" sh -c "! grep -rl pam_neostra '$R/etc/pam.d/'"
same=1
for f in common-auth common-account common-session common-password; do
        cmp -s "$NT_TMP/$f.before" "$R/etc/pam.d/$f" || { same=0; diff "$NT_TMP/$f.before" "$R/etc/pam.d/$f" | sed "s|^|  $f: |"; }
done
check "after remove: /etc/pam.d/common-{auth,account,session,password} are as before the install" [ "$same" = 1 ]
logins "after remove"

# Back again from "rc" (the user, the statoverride and the cache are still
# there), then away again.
if in_chroot apt-get -q -y install "/tmp/$(basename "$deb")" >"$NT_LOGS/apt-reinstall.log" 2>&1 &&
   stack "$R/etc/pam.d/common-auth" | cmp -s - "$NT_TMP/auth.got" &&
   [ "$(in_chroot stat -c '%a %U:%G' /etc/neostra/neostrad.conf)" = "640 root:neostra" ] &&
   in_chroot apt-get -q -y remove "$PKG" >>"$NT_LOGS/apt-reinstall.log" 2>&1 &&
   ! grep -rq pam_neostra "$R/etc/pam.d/"; then
        nt_pass "installed again after remove (stacks and config as the first time), removed again"
else
        nt_fail "install after remove, or the second remove:"
        show "$NT_LOGS/apt-reinstall.log"
fi

if in_chroot apt-get -q -y purge "$PKG" >"$NT_LOGS/apt-purge.log" 2>&1; then
        nt_pass "apt-get purge $PKG"
else
        nt_fail "apt-get purge $PKG failed:"
        show "$NT_LOGS/apt-purge.log"
fi
status=$(in_chroot dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null)
case $status in
""|"un "|"pn ") nt_pass "after purge: dpkg has forgotten $PKG" ;;
*) nt_fail "after purge: dpkg still has $PKG as '$status'" ;;
esac
check "after purge: /etc/neostra is gone" test ! -e "$R/etc/neostra"
check "after purge: /etc/sudoers.d/neostra is gone" test ! -e "$R/etc/sudoers.d/neostra"
check "after purge: /var/lib/neostra is gone" test ! -e "$R/var/lib/neostra"
check "after purge: no statoverride left" [ -z "$(in_chroot dpkg-statoverride --list /etc/neostra/neostrad.conf)" ]
check "after purge: the system user neostra stays (Debian practice)" \
        [ -n "$(in_chroot getent passwd neostra)" ]

# ---- the host ---------------------------------------------------------------------

host_after=$(host_state)
if [ "$host_before" = "$host_after" ]; then
        nt_pass "the host's /etc/pam.d/common-*, /etc/nsswitch.conf and user neostra are as before"
else
        nt_fail "the host changed:"
        printf '%s\n' "$host_before" >"$NT_TMP/host.before"
        printf '%s\n' "$host_after" | diff "$NT_TMP/host.before" - | sed 's/^/  | /'
fi

finish
