#!/bin/sh
# metrics.sh BUILDDIR: `neostractl metrics` and the figures behind it
# (README, "Metrics").  A daemon against the mock API; the cases in
# metrics.py check that
#   - the output passes `promtool check metrics` (Debian's prometheus
#     package; skipped without it);
#   - each kind of login moves its neostra_decisions_total series by one
#     and no other: online success, a wrong password (refused by the
#     API), root (not ours), an API answering 503 for a user without a
#     verifier (unavailable), the same 503 for a user with one (offline
#     success); `neostractl auth` moves the account step's series too;
#     and the sign-in latency histogram counts each API call;
#   - --textfile DIR writes DIR/neostra.prom with the same series, mode
#     0644, by rename (a reader never sees half a file, no temporary file
#     is left), and "neostra_up 0" when the daemon does not answer;
#   - GetStatus gives a caller other than root the version and the API
#     state only (no counts), and `neostractl metrics` refuses it;
#   - a fake daemon's strings (quotes, backslashes, newlines) come out
#     escaped, and its ill-formed members (wrong types, negative counts,
#     falling histogram bounds) are left out.  promtool accepts the rest.
# Then the shipped units: neostra-metrics.service (@BINDIR@ replaced by
# BUILDDIR) and .timer load cleanly (systemd-analyze verify), and the
# packages install the timer disabled.
# Ends with "metrics: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1

nt_counts metrics "$here/metrics.py"
nt_tmpdir
nt_trap

cat >"$NT_TMP/users.json" <<'EOF'
{"users": {
  "alice@example.com": {"password": "alice-pw", "roles": ["admin"]},
  "carol@example.com": {"password": "carol-pw", "roles": ["admin"]}
}}
EOF
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }
{
        printf '[api]\nurl = http://127.0.0.1:%s\ntimeout = 5s\n\n' "$NT_MOCK_HTTP_PORT"
        printf '[users]\nemail_template = %%u@example.com\n\n'
        nt_daemon_config m
} >"$NT_TMP/m.conf"
nt_daemon_start m || { nt_fail "neostrad start"; nt_finish; }
# A caller other than root must reach the socket (search only: the logs
# stay 0700).
chmod 0711 "$NT_TMP"

export NEOSTRA_SOCK="$(nt_socket_path m)"
export NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT"
export NEOSTRA_DAEMON_LOG="$NT_LOGS/m.log"
export NEOSTRA_TMP="$NT_TMP" NEOSTRA_PIDS="$NT_TMP/case-pids"
export NEOSTRA_NEOSTRAD="$NT_BUILD/neostrad" NEOSTRA_CTL="$NT_BUILD/neostractl"

# counters first: it expects a daemon nobody has logged in to yet.
nt_run_cases counters promtool textfile textfile_down non_root hostile_answer

# ---- the units the packages ship ---------------------------------------------------

units=$NT_TMP/units
mkdir "$units"
sed "s|@BINDIR@|$NT_BUILD|g" "$NT_TOP/packaging/systemd/neostra-metrics.service.in" >"$units/neostra-metrics.service"
cp "$NT_TOP/packaging/systemd/neostra-metrics.timer" "$NT_TOP/packaging/systemd/neostrad.socket" "$units/"
if grep -q '@[A-Z]*@' "$units/neostra-metrics.service"; then
        nt_fail "neostra-metrics.service.in has a placeholder other than @BINDIR@"
elif grep -qx "ExecStart=$NT_BUILD/neostractl metrics --textfile /var/lib/prometheus/node-exporter" \
        "$units/neostra-metrics.service"; then
        nt_pass "neostra-metrics.service runs neostractl metrics --textfile /var/lib/prometheus/node-exporter"
else
        nt_fail "neostra-metrics.service does not run neostractl metrics --textfile /var/lib/prometheus/node-exporter"
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "skipped: systemd-analyze is not installed (the units are not verified)"
        NT_SKIPPED=$((NT_SKIPPED + 1))
elif (cd "$units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
        ./neostra-metrics.timer ./neostra-metrics.service) >"$NT_LOGS/verify.out" 2>&1 &&
        ! [ -s "$NT_LOGS/verify.out" ]; then
        nt_pass "systemd-analyze verify: neostra-metrics.timer and .service load cleanly"
else
        nt_fail "systemd-analyze verify complains about the metrics units:"
        sed 's/^/  | /' "$NT_LOGS/verify.out"
fi
# Disabled by the packages: Debian's rules name them with --no-enable,
# the RPM's %post presets only neostrad's units, make install enables
# nothing.
if grep -qE '^[[:space:]]*dh_installsystemd .*--no-enable .*--no-start .*neostra-metrics\.timer' \
        "$NT_TOP/packaging/debian/rules" &&
   ! grep -E '^%systemd_post .*neostra-metrics' "$NT_TOP/packaging/rpm/pam_neostra.spec" >/dev/null &&
   grep -q '^%{_unitdir}/neostra-metrics.timer$' "$NT_TOP/packaging/rpm/pam_neostra.spec" &&
   ! grep -E 'systemctl (enable|start).*neostra-metrics' "$NT_TOP/Makefile" >/dev/null; then
        nt_pass "the packages ship neostra-metrics.timer disabled"
else
        nt_fail "the packaging does not ship neostra-metrics.timer, or enables it"
fi

nt_end_checks
nt_finish
