#!/bin/sh
# unit-security.sh BUILDDIR: the sandbox of packaging/systemd/neostrad.service.in
# as systemd-analyze rates it (issue 5: exposure 1.5 or lower).
#
# A copy of the unit with @SBINDIR@ replaced (by BUILDDIR, so the
# ExecStart= binary exists), next to copies of both socket units, is
# checked with
#   systemd-analyze verify --man=no          (the three units load cleanly)
#   systemd-analyze security --offline=true  (rates the file, not a loaded
#                                             unit: no running systemd needed)
# and the overall exposure level is printed and compared with 1.5, both by
# reading the number and with --threshold=15 (systemd's threshold is the
# exposure times ten).  Without systemd-analyze, or with one that cannot
# rate a trivial unit offline here, the suite says skipped and why.
# Ends with "unit-security: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
nt_counts unit-security
MAX_EXPOSURE=1.5

skip_all() {
        echo "skipped: $*"
        NT_SKIPPED=$((NT_SKIPPED + 1))
        nt_finish
}

command -v systemd-analyze >/dev/null 2>&1 || skip_all "systemd-analyze is not installed"
systemd-analyze --help 2>&1 | grep -q -- '--offline' ||
        skip_all "this systemd-analyze has no --offline (systemd 250 or later is needed)"

nt_tmpdir
nt_trap
units=$NT_TMP/units
mkdir "$units"

# "Overall exposure level for UNIT: 1.2 OK" -> 1.2
exposure_of() { # FILE
        sed -n 's/.*Overall exposure level for [^:]*: *\([0-9][0-9]*\.[0-9]\).*/\1/p' "$1" | tail -n1
}

# Can it rate anything offline here at all?
printf '[Service]\nExecStart=/bin/true\n' >"$units/probe.service"
(cd "$units" && systemd-analyze security --offline=true --no-pager probe.service) \
        >"$NT_LOGS/probe.out" 2>&1
if [ -z "$(exposure_of "$NT_LOGS/probe.out")" ]; then
        sed 's/^/  | /' "$NT_LOGS/probe.out"
        skip_all "systemd-analyze security --offline=true cannot rate a trivial unit here"
fi
rm -f "$units/probe.service"

sed "s|@SBINDIR@|$NT_BUILD|g" "$NT_TOP/packaging/systemd/neostrad.service.in" >"$units/neostrad.service"
cp "$NT_TOP/packaging/systemd/neostrad.socket" "$units/"
if grep -q '@[A-Z]*@' "$units/neostrad.service"; then
        nt_fail "neostrad.service.in has a placeholder other than @SBINDIR@: $(grep '@[A-Z]*@' "$units/neostrad.service")"
else
        nt_pass "neostrad.service.in has no placeholder left after @SBINDIR@"
fi

if (cd "$units" && systemd-analyze verify --man=no neostrad.service neostrad.socket) \
        >"$NT_LOGS/verify.out" 2>&1 && [ ! -s "$NT_LOGS/verify.out" ]; then
        nt_pass "systemd-analyze verify: the service and its socket unit load without a message"
else
        nt_fail "systemd-analyze verify complains:"
        sed 's/^/  | /' "$NT_LOGS/verify.out"
fi

(cd "$units" && systemd-analyze security --offline=true --no-pager neostrad.service) \
        >"$NT_LOGS/security.out" 2>&1
score=$(exposure_of "$NT_LOGS/security.out")
if [ -z "$score" ]; then
        nt_fail "systemd-analyze security --offline=true gave no exposure level:"
        sed 's/^/  | /' "$NT_LOGS/security.out"
        nt_finish
fi
echo "exposure level of neostrad.service: $score (at most $MAX_EXPOSURE)"
# What still counts against it, for whoever tightens the unit next.
grep '^✗' "$NT_LOGS/security.out" | sed 's/  */ /g; s/^/  /'
if awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s + 0 <= m + 0) }'; then
        nt_pass "exposure level $score <= $MAX_EXPOSURE"
else
        nt_fail "exposure level $score > $MAX_EXPOSURE"
fi
threshold=$(awk -v m="$MAX_EXPOSURE" 'BEGIN { printf "%d", m * 10 + 0.5 }')
if (cd "$units" && systemd-analyze security --offline=true --threshold="$threshold" --no-pager neostrad.service) \
        >/dev/null 2>&1; then
        nt_pass "systemd-analyze security --threshold=$threshold accepts the unit"
else
        nt_fail "systemd-analyze security --threshold=$threshold refuses the unit"
fi

# The sandbox must not cost what the daemon needs (issue 5, the brief).
unit=$units/neostrad.service
for want in 'Type=notify' 'NotifyAccess=main' 'User=neostra' 'NoNewPrivileges=yes' \
            'CapabilityBoundingSet=' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
            'PrivateDevices=yes' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
            'SystemCallFilter=@system-service' 'MemoryDenyWriteExecute=yes' \
            'StateDirectory=neostra' 'RuntimeDirectory=neostra' 'ConfigurationDirectory=neostra' \
            'Sockets=neostrad.socket' 'Restart=on-failure' 'WatchdogSec=30s' \
            'SystemCallFilter=setpriority' 'Environment=GNUTLS_NO_IMPLICIT_INIT=1'; do
        if grep -qx "$want" "$unit"; then
                nt_pass "neostrad.service has $want"
        else
                nt_fail "neostrad.service lacks $want"
        fi
done

# One socket unit holds both sockets, at the paths the daemon defaults to.
sock=$units/neostrad.socket
for want in 'ListenStream=/run/neostra/io.neostra.Auth' 'ListenStream=/run/systemd/userdb/io.neostra'; do
        if grep -qx "$want" "$sock"; then
                nt_pass "neostrad.socket has $want"
        else
                nt_fail "neostrad.socket lacks $want"
        fi
done
for path in /run/neostra/io.neostra.Auth /run/systemd/userdb/io.neostra; do
        if grep -q "\"$path\"" "$NT_TOP/include/neostra/protocol.h"; then
                nt_pass "$path is also the daemon's default (protocol.h)"
        else
                nt_fail "$path is not a default in include/neostra/protocol.h"
        fi
done

# sysusers.d and tmpfiles.d: the user the unit runs as, and its directories.
if grep -q '^u neostra ' "$NT_TOP/packaging/systemd/neostrad.sysusers"; then
        nt_pass "sysusers.d creates the user neostra"
else
        nt_fail "packaging/systemd/neostrad.sysusers does not create the user neostra"
fi
if command -v systemd-tmpfiles >/dev/null; then
        root=$NT_TMP/root
        mkdir -p "$root/etc" "$root/var/lib" "$root/run"
        printf 'root:x:0:0::/root:/bin/sh\n' >"$root/etc/passwd"
        printf 'root:x:0:\n' >"$root/etc/group"
        if command -v systemd-sysusers >/dev/null &&
           systemd-sysusers --root="$root" "$NT_TOP/packaging/systemd/neostrad.sysusers" >"$NT_LOGS/sysusers.out" 2>&1 &&
           grep -q '^neostra:x:[0-9]*:[0-9]*:Neostra login daemon:/var/lib/neostra:/usr/sbin/nologin$' "$root/etc/passwd"; then
                nt_pass "systemd-sysusers makes the neostra system user from it"
        else
                nt_fail "systemd-sysusers could not make the user:"
                sed 's/^/  | /' "$NT_LOGS/sysusers.out" "$root/etc/passwd" 2>/dev/null
        fi
        if systemd-tmpfiles --root="$root" --create "$NT_TOP/packaging/systemd/neostrad.tmpfiles" \
                >"$NT_LOGS/tmpfiles.out" 2>&1 &&
           [ "$(stat -c %a "$root/var/lib/neostra")" = 700 ] &&
           [ "$(stat -c %a "$root/run/neostra")" = 755 ] &&
           [ -d "$root/etc/neostra/neostrad.conf.d" ]; then
                nt_pass "systemd-tmpfiles makes /var/lib/neostra 0700 and /run/neostra 0755"
        else
                nt_fail "systemd-tmpfiles did not make the directories as listed:"
                sed 's/^/  | /' "$NT_LOGS/tmpfiles.out"
        fi
fi

nt_finish
