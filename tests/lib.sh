# tests/lib.sh: shell helpers shared by pam_neostra's test scripts and
# `make demo`.  POSIX sh, Linux only (reads /proc).  Source it, then:
#
#   nt_init TOP BUILDDIR     where the tree and the built programs are
#   nt_tmpdir                private /tmp/neostra-test-XXXXXXXX in $NT_TMP
#   nt_trap                  stop everything and remove $NT_TMP on any exit
#   nt_gen_certs DIR         throw-away CA and server certificate
#   nt_mock_start USERS [CERTDIR]   mock API on ephemeral ports
#   nt_daemon_config NAME    [identities]/[cache]/[daemon] lines of a config
#                            whose socket is $NT_TMP/NAME.sock
#   nt_daemon_start NAME [CONFIG]   neostrad, ready when that socket accepts
#   nt_http METHOD PORT PATH [BODY] a request to the mock's control endpoints
#   nt_free_port             a loopback port nobody listens on
#   nt_pam_wrapper_env DIR   env(1) arguments to run a program under pam_wrapper
#   nt_spawn NAME CMD...     any other background process, tracked
#   nt_wait PID              wait for it (interruptible), forget it
#   nt_stop_all              stop what we started, by PID; report exits
#   nt_end_checks            clean exits and no sanitizer report, counted
#   nt_private_ns "$@"       re-run the calling script in a private mount namespace
#   nt_add_test_user NAME UID   a local account visible only in that namespace
#   nt_canary_new            a canary password, recorded for canary-scan.sh
#   nt_find_canary CANARY PATH...   files that contain the canary
#
# Everything is started in the calling shell (never inside $(...)), so the
# PIDs are our own children: we stop them by PID and reap them with wait,
# never by name.  Every wait has a deadline; nothing sleeps to synchronise.
#
# Variables set: NT_TOP, NT_BUILD, NT_TMP, NT_LOGS, NT_PYTHON, NT_PIDS,
# NT_MOCK_PID, NT_MOCK_HTTP_PORT, NT_MOCK_HTTPS_PORT, NT_LAST_PID,
# NT_STOP_FAILED (after nt_stop_all).

# shellcheck shell=sh disable=SC2034 # variables are for the sourcing script
NT_PYTHON=/usr/bin/python3
NT_PIDS=
NT_TMP=
NT_LOGS=
NT_STOP_FAILED=0
# Canaries look like this; tests/canary-scan.sh searches for the pattern.
NT_CANARY_PREFIX=NEOSTRA-CANARY-

nt_say() {
        printf '%s\n' "$*"
}

nt_die() {
        printf '%s\n' "error: $*" >&2
        exit 1
}

nt_init() { # TOP BUILDDIR
        NT_TOP=$(cd "$1" && pwd) || nt_die "no source tree at $1"
        NT_BUILD=$(cd "$2" && pwd) || nt_die "no build directory at $2"
        [ -x "$NT_PYTHON" ] || nt_die "$NT_PYTHON is needed for the mock API"
}

# Monotonic time in centiseconds (/proc/uptime never goes backwards).
nt_now_cs() {
        read -r _nt_up _nt_idle </proc/uptime
        _nt_int=${_nt_up%.*}
        _nt_frac=${_nt_up#*.}
        echo $((_nt_int * 100 + ${_nt_frac#0}))
}

# nt_wait_until SECONDS WHAT COMMAND...: poll COMMAND until it succeeds.
# Returns 1 (after saying what did not happen) when the deadline passes.
nt_wait_until() {
        _nt_end=$(( $(nt_now_cs) + $1 * 100 ))
        _nt_what=$2
        shift 2
        while ! "$@"; do
                if [ "$(nt_now_cs)" -ge "$_nt_end" ]; then
                        nt_say "timed out waiting for $_nt_what" >&2
                        return 1
                fi
                sleep 0.02
        done
        return 0
}

# ---- temporary directory and cleanup ---------------------------------------

nt_tmpdir() {
        NT_TMP=$(mktemp -d /tmp/neostra-test-XXXXXXXX) || nt_die "mktemp failed"
        NT_LOGS=$NT_TMP/logs
        mkdir -m 0700 "$NT_LOGS" || nt_die "cannot create $NT_LOGS"
        # Lets tests/canary-scan.sh tell a live test's directory from a
        # leftover one.
        echo $$ >"$NT_TMP/.owner-pid"
}

nt_cleanup() {
        nt_stop_case_pids
        [ -n "${NT_CLEANUP_HOOK:-}" ] && $NT_CLEANUP_HOOK
        nt_stop_all
        # nt_bind's mounts, newest first, once nothing started here uses them.
        for _nt_m in ${NT_MOUNTS:-}; do
                umount "$_nt_m" 2>/dev/null
        done
        NT_MOUNTS=
        if [ -n "${NT_TEST_USER_MOUNTS:-}" ]; then
                umount /etc/passwd /etc/group 2>/dev/null
                NT_TEST_USER_MOUNTS=
        fi
        [ -n "$NT_TMP" ] && nt_pam_wrapper_cleanup
        if [ -n "$NT_TMP" ] && [ -d "$NT_TMP" ]; then
                if [ "${NT_KEEP:-0}" = 1 ]; then
                        nt_say "NT_KEEP=1: keeping $NT_TMP (it holds a canary password; remove it)" >&2
                else
                        rm -rf "$NT_TMP"
                fi
        fi
        NT_TMP=
}

# Cleanup on every way out.  INT/TERM/HUP exit (which runs the EXIT trap)
# with the conventional status; EXIT keeps the status the script had.
nt_trap() {
        # shellcheck disable=SC2154 # assigned inside the trap
        trap '_nt_status=$?; trap - EXIT; nt_cleanup; exit $_nt_status' EXIT
        trap 'exit 129' HUP
        trap 'exit 130' INT
        trap 'exit 143' TERM
}

# ---- counting ------------------------------------------------------------------

# nt_counts NAME [PYFILE]: start counting for a script that ends with
# "NAME: N passed, N failed[, N skipped]" (nt_finish); PYFILE holds the
# cases nt_run_cases runs.
nt_counts() {
        NT_NAME=$1
        NT_CASES=${2:-}
        NT_PASSED=0 NT_FAILED=0 NT_SKIPPED=0
}
nt_pass() { NT_PASSED=$((NT_PASSED + 1)); echo "ok - $*"; }
nt_fail() { NT_FAILED=$((NT_FAILED + 1)); echo "FAIL - $*"; }
# Print the closing line and exit with the result.
nt_finish() {
        _nt_s=
        [ "$NT_SKIPPED" -gt 0 ] && _nt_s=", $NT_SKIPPED skipped"
        echo "$NT_NAME: $NT_PASSED passed, $NT_FAILED failed$_nt_s"
        [ "$NT_FAILED" -eq 0 ]
        exit
}
# nt_run_cases CASE...: "python3 PYFILE CASE" each; exit 0 passed, 77
# skipped, anything else failed (the case prints its own ok/FAIL line).
nt_run_cases() {
        for _nt_case in "$@"; do
                "$NT_PYTHON" "$NT_CASES" "$_nt_case"
                case $? in
                0) NT_PASSED=$((NT_PASSED + 1)) ;;
                77) NT_SKIPPED=$((NT_SKIPPED + 1)) ;;
                *) NT_FAILED=$((NT_FAILED + 1)) ;;
                esac
        done
}

# Daemons and mock APIs that Python cases started themselves list their PIDs
# in $NT_TMP/case-pids (export NEOSTRA_PIDS="$NT_TMP/case-pids") until they
# reap them.  Whatever a dead case left is stopped here: SIGTERM, then
# SIGKILL, by PID, and only while the PID is still one of ours.
nt_stop_case_pids() {
        [ -n "$NT_TMP" ] && [ -s "$NT_TMP/case-pids" ] || return 0
        for _nt_p in $(cat "$NT_TMP/case-pids"); do
                grep -qsaE 'neostrad|mock_api' "/proc/$_nt_p/cmdline" || continue
                kill -TERM "$_nt_p" 2>/dev/null
                nt_wait_until 10 "pid $_nt_p to stop" _nt_gone "$_nt_p" || kill -KILL "$_nt_p" 2>/dev/null
        done
}

# nt_end_checks: the closing checks of a suite: everything stops with exit
# status 0 at SIGTERM, and no log under $NT_TMP has a sanitizer report
# (the tails of the daemon logs are shown when anything failed).
nt_end_checks() {
        nt_stop_case_pids
        nt_stop_all
        if [ "$NT_STOP_FAILED" -eq 0 ]; then
                nt_pass "every process we started exits 0 at SIGTERM"
        else
                nt_fail "$NT_STOP_FAILED process(es) did not exit 0 at SIGTERM"
        fi
        if grep -rE 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$NT_TMP" --include='*.log'; then
                nt_fail "sanitizer report in a log"
        else
                nt_pass "no sanitizer report in any log"
        fi
        if [ "$NT_FAILED" -ne 0 ]; then
                for _nt_l in "$NT_TMP"/*/neostrad.log "$NT_LOGS"/*.log; do
                        [ -f "$_nt_l" ] || continue
                        echo "---- $_nt_l (tail)"
                        tail -n 20 "$_nt_l"
                done
        fi
}

# ---- a private mount namespace for test accounts ------------------------------

# nt_private_ns "$@": call first thing (after nt_init).  Runs the calling
# script again, once, in a mount namespace of its own, so it may bind-mount
# over files in /etc; those mounts vanish with the namespace, and the host's
# files are never touched.  Returns 1 (the caller skips) without unshare.
nt_private_ns() {
        [ "${NT_IN_PRIVATE_NS:-}" = 1 ] && return 0
        command -v unshare >/dev/null 2>&1 || return 1
        NT_IN_PRIVATE_NS=1 exec unshare --mount --propagation private sh "$0" "$@"
}

# nt_own_ns: after nt_private_ns, make sure this process really has a mount
# namespace of its own (its parent's is another one): nothing may ever be
# mounted in the namespace a test was started in.  Fails the test otherwise.
nt_own_ns() {
        [ "$(readlink /proc/self/ns/mnt)" != "$(readlink "/proc/$PPID/ns/mnt")" ] && return 0
        nt_fail "not in a mount namespace of our own; not mounting anything"
        nt_finish
}

# nt_bind SOURCE TARGET: a bind mount inside nt_private_ns, undone by
# nt_cleanup (nt_trap) once every process started here has stopped (the
# namespace drops it anyway when the script ends).
nt_bind() {
        [ "${NT_IN_PRIVATE_NS:-}" = 1 ] || nt_die "nt_bind needs nt_private_ns first"
        mount --bind "$1" "$2" || return 1
        NT_MOUNTS="$2 ${NT_MOUNTS:-}"
}

# nt_add_test_user NAME UID: inside nt_private_ns, /etc/passwd and
# /etc/group gain NAME with UID (and a group of the same number), for tests
# that need an ordinary local account (a peer that is not root).
nt_add_test_user() {
        [ "${NT_IN_PRIVATE_NS:-}" = 1 ] || nt_die "nt_add_test_user needs nt_private_ns first"
        if [ -z "${NT_TEST_USER_MOUNTS:-}" ]; then
                cp /etc/passwd "$NT_TMP/passwd" && cp /etc/group "$NT_TMP/group" || return 1
                chmod 0644 "$NT_TMP/passwd" "$NT_TMP/group"
                mount --bind "$NT_TMP/passwd" /etc/passwd && mount --bind "$NT_TMP/group" /etc/group ||
                        return 1
                NT_TEST_USER_MOUNTS=1
        fi
        # Appended to the mounted copies; the home is inside $NT_TMP, so
        # nothing (pam_mkhomedir, say) creates it on the real root.
        echo "$1:x:$2:$2:pam_neostra test user:$NT_TMP/home/$1:/usr/sbin/nologin" >>"$NT_TMP/passwd" &&
                echo "$1:x:$2:" >>"$NT_TMP/group"
}

# ---- processes ---------------------------------------------------------------

# _nt_track PID NAME
_nt_track() {
        NT_PIDS="$NT_PIDS $1:$2"
        NT_LAST_PID=$1
}

_nt_alive() { # PID: running (not gone, not a zombie)
        [ -r "/proc/$1/stat" ] || return 1
        _nt_state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
        [ -n "$_nt_state" ] && [ "$_nt_state" != Z ] && [ "$_nt_state" != X ]
}

_nt_gone() {
        ! _nt_alive "$1"
}

# nt_stop PID NAME: SIGTERM, wait up to 15 s, then SIGKILL; reap it.
# Returns the exit status (143 etc. for a signal).
nt_stop() {
        _nt_pid=$1
        # Stopped by hand before the end: nt_stop_all must not wait again.
        NT_PIDS=$(printf ' %s ' "$NT_PIDS" | sed "s/ $_nt_pid:[^ ]*//; s/^ *//; s/ *$//")
        if _nt_alive "$_nt_pid"; then
                kill -TERM "$_nt_pid" 2>/dev/null
                if ! nt_wait_until 15 "$2 (pid $_nt_pid) to stop" _nt_gone "$_nt_pid"; then
                        kill -KILL "$_nt_pid" 2>/dev/null
                fi
        fi
        wait "$_nt_pid" 2>/dev/null
}

# nt_spawn NAME COMMAND...: run COMMAND in the background, tracked like the
# daemons (so an interrupted test stops it too).  Redirect the call.
nt_spawn() {
        _nt_n=$1
        shift
        "$@" &
        _nt_track $! "$_nt_n"
}

# nt_wait PID: wait for a process from nt_spawn and forget it; returns its
# exit status.  A trapped signal interrupts the wait (and runs the trap).
nt_wait() {
        wait "$1"
        _nt_rc=$?
        _nt_keep=
        for _nt_e in $NT_PIDS; do
                [ "${_nt_e%%:*}" = "$1" ] || _nt_keep="$_nt_keep $_nt_e"
        done
        NT_PIDS=$_nt_keep
        return $_nt_rc
}

# Stop everything started through this file, newest first.  Sets
# NT_STOP_FAILED to the number of processes that did not exit with 0
# (a sanitizer report at exit, a crash, a hang) and names them.
nt_stop_all() {
        NT_STOP_FAILED=0
        _nt_list=
        for _nt_e in $NT_PIDS; do
                _nt_list="$_nt_e $_nt_list"
        done
        NT_PIDS=
        for _nt_e in $_nt_list; do
                _nt_p=${_nt_e%%:*}
                _nt_n=${_nt_e#*:}
                nt_stop "$_nt_p" "$_nt_n"
                _nt_rc=$?
                if [ "$_nt_rc" -ne 0 ]; then
                        NT_STOP_FAILED=$((NT_STOP_FAILED + 1))
                        nt_say "$_nt_n (pid $_nt_p) exited with status $_nt_rc" >&2
                fi
        done
}

# ---- certificates, mock API, daemons ------------------------------------------

nt_gen_certs() { # DIR
        sh "$NT_TOP/tests/gen-certs.sh" "$1"
}

_nt_port_file_ready() {
        [ -s "$1" ] || _nt_gone "$2"
}

# nt_mock_start USERS_FILE [CERT_DIR]: http (and https with CERT_DIR) on
# ephemeral loopback ports.  Log in $NT_LOGS/mock.log.
nt_mock_start() {
        _nt_users=$1
        _nt_pf=$NT_TMP/mock.ports
        rm -f "$_nt_pf"
        if [ -n "${2:-}" ]; then
                set -- --https-port 0 --cert "$2/server.pem" --key "$2/server.key"
        else
                set --
        fi
        # The canary must not reach a child's environment needlessly.
        env -u NEOSTRA_CANARY "$NT_PYTHON" "$NT_TOP/tests/mock_api.py" --users "$_nt_users" \
                --http-port 0 --port-file "$_nt_pf" "$@" >>"$NT_LOGS/mock.log" 2>&1 &
        NT_MOCK_PID=$!
        _nt_track "$NT_MOCK_PID" mock_api
        nt_wait_until 10 "the mock API's port file" _nt_port_file_ready "$_nt_pf" "$NT_MOCK_PID" ||
                return 1
        if _nt_gone "$NT_MOCK_PID"; then
                nt_say "the mock API exited at start:" >&2
                sed 's/^/  | /' "$NT_LOGS/mock.log" >&2
                return 1
        fi
        NT_MOCK_HTTP_PORT=$(sed -n 's/.*"http": *\([0-9][0-9]*\).*/\1/p' "$_nt_pf")
        NT_MOCK_HTTPS_PORT=$(sed -n 's/.*"https": *\([0-9][0-9]*\).*/\1/p' "$_nt_pf")
        [ -n "$NT_MOCK_HTTP_PORT" ] || { nt_say "bad port file $_nt_pf" >&2; return 1; }
}

# A loopback TCP port nobody listens on (bound, then released).
nt_free_port() {
        "$NT_PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# nt_http GET|POST PORT PATH [BODY]: a control request to the mock; prints the body.
nt_http() {
        "$NT_PYTHON" - "$@" <<'EOF'
import sys, urllib.request
method, port, path = sys.argv[1:4]
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), data=body, method=method)
with urllib.request.urlopen(req, timeout=10) as r:
    sys.stdout.write(r.read().decode())
EOF
}

nt_socket_path() { # NAME
        echo "$NT_TMP/$1.sock"
}

# nt_daemon_config NAME: the [identities], [cache] and [daemon] sections a
# test daemon needs (root, sockets and cache inside $NT_TMP).  Append them
# to a config that has the test's own [api], [users], [access], [groups].
nt_daemon_config() {
        [ -d "$NT_TMP/cache-$1" ] || mkdir -m 0700 "$NT_TMP/cache-$1"
        cat <<EOF
[identities]
userdb = no

[cache]
directory = $NT_TMP/cache-$1

[daemon]
user = root
socket = $NT_TMP/$1.sock
userdb_socket = $NT_TMP/$1-userdb.sock
EOF
}

_nt_socket_accepts() { # PATH PID
        _nt_gone "$2" && return 0    # the caller notices the death
        "$NT_PYTHON" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(1)
try:
    s.connect(sys.argv[1])
except OSError:
    sys.exit(1)' "$1"
}

# nt_daemon_start NAME [CONFIG]: neostrad --debug with CONFIG (default
# $NT_TMP/NAME.conf) whose socket is $NT_TMP/NAME.sock; log in
# $NT_LOGS/NAME.log.  Returns once the socket accepts (10 s at most).
nt_daemon_start() {
        _nt_name=$1
        _nt_conf=${2:-$NT_TMP/$1.conf}
        _nt_sock=$(nt_socket_path "$_nt_name")
        env -u NEOSTRA_CANARY -u NOTIFY_SOCKET -u LISTEN_FDS -u LISTEN_PID \
                "$NT_BUILD/neostrad" -c "$_nt_conf" --debug >>"$NT_LOGS/$_nt_name.log" 2>&1 &
        _nt_track $! "neostrad-$_nt_name"
        _nt_dpid=$!
        nt_wait_until 10 "neostrad $_nt_name to listen on $_nt_sock" \
                _nt_socket_accepts "$_nt_sock" "$_nt_dpid" || return 1
        if _nt_gone "$_nt_dpid"; then
                nt_say "neostrad $_nt_name exited at start:" >&2
                sed 's/^/  | /' "$NT_LOGS/$_nt_name.log" >&2
                return 1
        fi
}

# ---- PAM service files from the README's examples ------------------------------

# nt_pam_rewrite "MODULE ARGS" MODDIR [ACCOUNT_EXTRA] < packaging/pam/*.example:
# the example's lines as a service file: comments and blank lines dropped,
# the first "pam_*.so" word of a line is the module; pam_neostra.so becomes
# the built module followed by MODULE ARGS (socket=, config=), any other
# module MODDIR/name; ACCOUNT_EXTRA is appended to pam_neostra's account line.
nt_pam_rewrite() {
        awk -v neo="$NT_BUILD/pam_neostra.so $1" -v moddir="$2" -v extra="${3:-}" '
                /^[ \t]*#/ || /^[ \t]*$/ { next }
                {
                        line = $0
                        if (match(line, /[ \t]pam_[A-Za-z0-9_]+\.so([ \t]|$)/)) {
                                tok = substr(line, RSTART + 1, RLENGTH - 1)
                                sub(/[ \t]$/, "", tok)
                                repl = tok == "pam_neostra.so" ? neo : moddir "/" tok
                                line = substr(line, 1, RSTART) repl substr(line, RSTART + 1 + length(tok))
                                if (tok == "pam_neostra.so" && $1 == "account" && extra != "")
                                        line = line " " extra
                        }
                        print line
                }'
}

# ---- pam_wrapper -------------------------------------------------------------

# nt_pam_wrapper_env SERVICE_DIR: prints the env(1) arguments that run a
# program under pam_wrapper with the services in SERVICE_DIR.  Deep binding
# is off because the sanitizers refuse RTLD_DEEPBIND (pam_wrapper 1.1.4
# reads UID_WRAPPER_DISABLE_DEEPBIND, a copy-and-paste slip; later versions
# PAM_WRAPPER_DISABLE_DEEPBIND, so set both); ASan must also be told not to
# insist on coming first in the preload list.
nt_pam_wrapper_env() {
        _nt_asan=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
        case $_nt_asan in
        *verify_asan_link_order*) ;;
        *) _nt_asan="$_nt_asan:verify_asan_link_order=0" ;;
        esac
        echo "LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$1" \
             "PAM_WRAPPER_DISABLE_DEEPBIND=1 UID_WRAPPER_DISABLE_DEEPBIND=1 ASAN_OPTIONS=$_nt_asan"
}

nt_have_pam_wrapper() {
        for _nt_d in $(pkg-config --variable=libdir pam_wrapper 2>/dev/null) \
                     /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
                [ -e "$_nt_d/libpam_wrapper.so" ] && return 0
        done
        return 1
}

# pam_wrapper copies the services to /tmp/pam.X and removes that in a
# destructor, which does not run when the process dies of a signal or a
# sanitizer.  Remove the copies that name our $NT_TMP and whose owner is gone.
nt_pam_wrapper_cleanup() {
        for _nt_d in /tmp/pam.?; do
                [ -d "$_nt_d" ] || continue
                grep -qsF "$NT_TMP/" "$_nt_d"/* 2>/dev/null || continue
                _nt_o=$(cat "$_nt_d/pid" 2>/dev/null)
                if [ -n "$_nt_o" ] && _nt_alive "$_nt_o"; then
                        continue
                fi
                rm -rf "$_nt_d"
        done
}

# ---- canaries --------------------------------------------------------------------

# nt_canary_new: prints a canary password: $NEOSTRA_CANARY when set (it must
# look like NEOSTRA-CANARY-<letters and digits>, so tests/canary-scan.sh can
# find it), else a fresh random one.  Its SHA-256, never the canary itself,
# is appended to $NT_BUILD/test-logs/canaries.sha256 for the scanner.
nt_canary_new() {
        if [ -n "${NEOSTRA_CANARY:-}" ]; then
                _nt_c=$NEOSTRA_CANARY
                case $_nt_c in
                "$NT_CANARY_PREFIX"*) ;;
                *) nt_say "NEOSTRA_CANARY must start with $NT_CANARY_PREFIX" >&2; return 1 ;;
                esac
                case ${_nt_c#"$NT_CANARY_PREFIX"} in
                ""|*[!A-Za-z0-9]*)
                        nt_say "NEOSTRA_CANARY must be $NT_CANARY_PREFIX followed by letters and digits" >&2
                        return 1 ;;
                esac
        else
                _nt_hex=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
                [ ${#_nt_hex} -eq 32 ] || { nt_say "cannot read /dev/urandom" >&2; return 1; }
                _nt_c=$NT_CANARY_PREFIX$_nt_hex
        fi
        mkdir -p "$NT_BUILD/test-logs" || return 1
        printf '%s' "$_nt_c" | sha256sum | cut -d' ' -f1 >>"$NT_BUILD/test-logs/canaries.sha256" || return 1
        printf '%s\n' "$_nt_c"
}

# nt_find_canary CANARY PATH...: prints the files under PATH that contain
# CANARY (binary files included, sockets and FIFOs skipped).  The canary
# goes to grep through a pipe, never on a command line.
nt_find_canary() {
        _nt_c=$1
        shift
        printf '%s\n' "$_nt_c" | grep -rlaF -D skip -f - -- "$@" 2>/dev/null
        return 0
}
