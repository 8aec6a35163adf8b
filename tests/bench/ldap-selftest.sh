#!/bin/sh
# ldap-selftest.sh BUILDDIR: a quick check of the pam_ldap -> nslcd -> slapd
# baseline (tests/bench/ldap-baseline.sh) before `make bench` measures it.
# Not part of `make check`: the packages it needs are bench-only.
#
# In the baseline's private namespace, full PAM transactions through
# $BUILDDIR/tests/pamcheck (pam_start_confdir; the password on stdin, never
# on a command line), or through $BUILDDIR/bench/neostra-bench --logins 1
# when pamcheck is not built:
#   - benchuser with the right password: authenticate and acct_mgmt succeed
#   - benchuser with a wrong password: authentication fails
#   - a user the directory does not have: refused
# and, back on the host afterwards:
#   - /etc/nsswitch.conf, /etc/nslcd.conf and /etc/pam.d/* are unchanged,
#     and benchuser does not resolve there
#   - slapd and nslcd are gone and the temporary directory is removed
# Ends with "ldap-baseline: N passed, N failed[, N skipped]".
# shellcheck disable=SC2317
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"

# ---- inside the baseline's namespace ------------------------------------------
if [ "${1:-}" = --inner ]; then
        nt_init "$here/../.." "$2"
        state=$3
        nt_counts ldap-baseline
        pamcheck=$NT_BUILD/tests/pamcheck
        driver=$NT_BUILD/bench/neostra-bench
        # login USER PWFILE: one transaction; its output in $out, status returned.
        login() {
                if [ -x "$pamcheck" ]; then
                        out=$("$pamcheck" -d "$BENCH_LDAP_CONFDIR" "$BENCH_LDAP_SERVICE" "$1" <"$2" 2>&1)
                else
                        out=$("$driver" --confdir "$BENCH_LDAP_CONFDIR" --service "$BENCH_LDAP_SERVICE" \
                                --user "$1" --password-file "$2" --workers 1 --logins 1 2>&1)
                fi
        }
        show() { printf '%s\n' "$out" | sed 's/^/  | /'; }
        if [ ! -x "$pamcheck" ] && [ ! -x "$driver" ]; then
                nt_fail "neither $pamcheck nor $driver is built (make tests-build)"
        else
                wrongfile=$BENCH_LDAP_TMP/wrong-password
                if ! { wrong=$(nt_canary_new) && (umask 077 && printf '%s' "$wrong" >"$wrongfile"); }; then
                        nt_fail "a wrong password"
                fi
                user=$BENCH_LDAP_USER
                login "$user" "$BENCH_LDAP_PASSWORD_FILE"
                rc=$?
                if [ $rc -eq 0 ] && { [ ! -x "$pamcheck" ] ||
                        printf '%s\n' "$out" | grep -q "pam_acct_mgmt($user): *Success"; }; then
                        nt_pass "$user, right password: authenticate and acct_mgmt succeed"
                else
                        nt_fail "$user, right password: exit $rc"
                fi
                show
                login "$user" "$wrongfile"
                rc=$?
                if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "Authentication failure"; then
                        nt_pass "$user, wrong password: refused (Authentication failure)"
                else
                        nt_fail "$user, wrong password: exit $rc"
                fi
                show
                login nosuchbenchuser "$BENCH_LDAP_PASSWORD_FILE"
                rc=$?
                if [ $rc -eq 1 ]; then
                        nt_pass "a user not in the directory: refused"
                else
                        nt_fail "a user not in the directory: exit $rc"
                fi
                show
        fi
        printf '%s %s %s %s %s\n' "$NT_PASSED" "$NT_FAILED" "$BENCH_LDAP_TMP" \
                "$BENCH_LDAP_SLAPD_PID" "$BENCH_LDAP_NSLCD_PID" >"$state"
        exit 0
fi

# ---- on the host ------------------------------------------------------------------
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
nt_counts ldap-baseline

host_sums() {
        md5sum /etc/nsswitch.conf /etc/nslcd.conf /etc/pam.d/* 2>&1
}
before=$(host_sums)
state=$(mktemp /tmp/ldap-selftest-XXXXXXXX) || nt_die "mktemp failed"
trap 'rm -f "$state"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

sh "$here/ldap-baseline.sh" "$NT_BUILD" -- sh "$here/ldap-selftest.sh" --inner "$NT_BUILD" "$state"
rc=$?
if [ $rc -eq 77 ]; then
        NT_SKIPPED=$((NT_SKIPPED + 1))
        nt_finish
fi
if [ $rc -ne 0 ] || [ ! -s "$state" ]; then
        nt_fail "the baseline did not run (exit $rc)"
else
        read -r p f tmp spid npid <"$state"
        NT_PASSED=$((NT_PASSED + p)) NT_FAILED=$((NT_FAILED + f))
        left=
        for pid in $spid $npid; do
                grep -qsaE 'slapd|nslcd' "/proc/$pid/cmdline" && left="$left $pid"
        done
        if [ -z "$left" ] && [ ! -e "$tmp" ]; then
                nt_pass "slapd and nslcd stopped, $tmp removed"
        else
                nt_fail "left behind: pids:${left:- none}, $tmp"
        fi
fi
if [ "$(host_sums)" = "$before" ]; then
        nt_pass "the host's /etc/nsswitch.conf, /etc/nslcd.conf and /etc/pam.d are unchanged"
else
        nt_fail "the host's /etc/nsswitch.conf, /etc/nslcd.conf or /etc/pam.d changed"
fi
if getent passwd benchuser >/dev/null; then
        nt_fail "benchuser resolves on the host"
else
        nt_pass "benchuser does not resolve on the host"
fi
nt_finish
