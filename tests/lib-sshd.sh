# shellcheck shell=sh
# tests/lib-sshd.sh: OpenSSH's real sshd for end-to-end PAM tests
# (sshd-e2e.sh, ldap-coexist.sh).  Sourced after tests/lib.sh, inside a
# private mount namespace (nt_private_ns) whose /run holds /run/sshd.
#
#   nt_sshd_moddir            the system's PAM module directory (pam_unix.so)
#   nt_sshd_start USER...     sshd on 127.0.0.1 and a free port, allowing
#                             only USER...; sets port, spid and sshd_log
#   login USER PASSWORD       `id` over ssh: $rc, $cs, $NT_TMP/ssh.out
#   expect_session USER PASSWORD DESC
#   expect_refused USER PASSWORD DESC password|account
#   within SECONDS DESC, has_group GROUP, id_line, log_mark, log_since MARK
#
# Logins are `sshpass -e ssh ... USER@127.0.0.1 id`; the password is in
# SSHPASS only, never on a command line.  Under an ASan build the module
# needs the ASan runtime in sshd: libasan is preloaded into sshd (which
# re-executes itself per connection with the same environment) with
# detect_leaks=0, as sshd leaks by design.
# shellcheck disable=SC2034 # port, spid, sshd_log, rc, cs are for the caller

NT_SSHD=/usr/sbin/sshd

# The directory holding the system's PAM modules (pam_unix.so); empty when
# there is none.
nt_sshd_moddir() {
        for _nt_d in "$(pkg-config --variable=libdir pam 2>/dev/null)/security" \
                     /usr/lib/x86_64-linux-gnu/security /lib/x86_64-linux-gnu/security \
                     /usr/lib64/security /lib64/security /usr/lib/security /lib/security; do
                if [ -f "$_nt_d/pam_unix.so" ]; then
                        echo "$_nt_d"
                        return 0
                fi
        done
        return 1
}

# nt_sshd_asan_env: sets sshd_env (the environment sshd needs to load the
# built module) and asan_rt; returns 1 when the module needs an ASan
# runtime that is missing.
nt_sshd_asan_env() {
        sshd_env=
        asan_rt=$(ldd "$NT_BUILD/pam_neostra.so" 2>/dev/null | awk '/libasan/ { print $3 }')
        [ -n "$asan_rt" ] || return 0
        [ -f "$asan_rt" ] || return 1
        sshd_env="LD_PRELOAD=$asan_rt ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:abort_on_error=0"
}

# nt_sshd_start USER...: a host key and an sshd_config in $NT_TMP, then
# sshd -D -e, logging at DEBUG3 (the only level at which it names
# pam_acct_mgmt's result) to $NT_LOGS/sshd.log.  Keyboard-interactive and
# password authentication through PAM; no keys, no root, only USER...
# Returns 1 (having said why) when sshd does not start.
nt_sshd_start() {
        nt_sshd_asan_env || { nt_say "the module is built with ASan but its runtime $asan_rt is missing"; return 1; }
        ssh-keygen -q -t ed25519 -N '' -C neostra-test -f "$NT_TMP/ssh_host_ed25519_key" </dev/null ||
                { nt_say "ssh-keygen failed"; return 1; }
        : >"$NT_TMP/authorized_keys"
        port=$(nt_free_port)
        cat >"$NT_TMP/sshd_config" <<EOC
ListenAddress 127.0.0.1:$port
HostKey $NT_TMP/ssh_host_ed25519_key
PidFile none
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication yes
PermitEmptyPasswords no
PubkeyAuthentication no
AuthorizedKeysFile $NT_TMP/authorized_keys
HostbasedAuthentication no
GSSAPIAuthentication no
KerberosAuthentication no
PermitRootLogin no
AllowUsers $*
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
LoginGraceTime 30
LogLevel DEBUG3
EOC
        if ! "$NT_SSHD" -t -f "$NT_TMP/sshd_config" >"$NT_LOGS/sshd-t.log" 2>&1; then
                nt_say "sshd -t: $(cat "$NT_LOGS/sshd-t.log")"
                return 1
        fi
        sshd_log=$NT_LOGS/sshd.log
        # sshd's connection process kills its unprivileged child when a login
        # fails and exits without waiting for it; that orphan goes to PID 1,
        # which in some containers never reaps it.  So the listener is made a
        # child subreaper (prctl PR_SET_CHILD_SUBREAPER survives execve):
        # orphans of its connections come back to it, its SIGCHLD handler
        # reaps them, and nt_sshd_no_children covers them as well.  python3
        # sets it and execs env, which execs sshd: one PID throughout.
        # shellcheck disable=SC2086 # sshd_env is empty or a list of assignments
        nt_spawn sshd "$NT_PYTHON" -c 'import ctypes, os, sys
PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER): " + os.strerror(ctypes.get_errno()))
os.execv(sys.argv[1], sys.argv[1:])' \
                /usr/bin/env -u NEOSTRA_CANARY $sshd_env "$NT_SSHD" -D -e -f "$NT_TMP/sshd_config" \
                -o "PidFile=none" >>"$sshd_log" 2>&1 </dev/null
        spid=$NT_LAST_PID
        if nt_wait_until 10 "sshd to listen on port $port" _nt_sshd_listening && _nt_alive "$spid"; then
                return 0
        fi
        nt_say "sshd did not start:"
        sed 's/^/  | /' "$sshd_log"
        return 1
}

_nt_sshd_listening() {
        grep -q "Server listening on 127.0.0.1 port $port" "$sshd_log" || _nt_gone "$spid"
}

# sshd -D forks a child per connection; they end with their connections.
# Wait for them (and the orphans the subreaper collects); the caller then
# stops the listener by its PID (nt_end_checks).
_nt_sshd_childless() { [ -z "$(pgrep -P "$spid")" ]; }
nt_sshd_no_children() {
        nt_wait_until 10 "sshd's connection children to exit" _nt_sshd_childless && return 0
        nt_fail "sshd still has connection children: $(pgrep -P "$spid" | tr '\n' ' ')"
        return 1
}

# login USER PASSWORD: `id` over ssh; output in $NT_TMP/ssh.out, status in
# $rc, time in $cs (centiseconds).  sshpass exits 5 at a second password
# prompt (a refused password) and ssh 255 when the server closes.
login() {
        _t0=$(nt_now_cs)
        SSHPASS=$2 timeout 30 sshpass -e ssh -F /dev/null \
                -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
                -o GlobalKnownHostsFile=/dev/null -o PubkeyAuthentication=no \
                -o GSSAPIAuthentication=no -o HostbasedAuthentication=no \
                -o ConnectTimeout=10 -o LogLevel=ERROR -p "$port" "$1@127.0.0.1" id \
                >"$NT_TMP/ssh.out" 2>&1 </dev/null
        rc=$?
        cs=$(( $(nt_now_cs) - _t0 ))
        { echo "== ssh $1 -> $rc ($((cs * 10)) ms)"; cat "$NT_TMP/ssh.out"; } >>"$NT_LOGS/ssh.log"
}
show_out() { sed 's/^/  | /' "$NT_TMP/ssh.out"; }
id_line() { grep '^uid=' "$NT_TMP/ssh.out" | head -n1; }
has_group() { id_line | grep -q "[=,][0-9]*($1)"; }
ms() { echo "$((cs * 10)) ms"; }
within() { # SECONDS DESC: the last login took less than SECONDS
        if [ "$cs" -lt $(($1 * 100)) ]; then
                nt_pass "$2 took $(ms) (< $1 s)"
        else
                nt_fail "$2 took $(ms) (>= $1 s)"
        fi
}
# Lines sshd logged since MARK (a line count taken before a login).
log_mark() { wc -l <"$sshd_log"; }
log_since() { tail -n +"$(( $1 + 1 ))" "$sshd_log"; }
# expect_session USER PASSWORD DESC: the login works and `id` ran as USER.
expect_session() {
        login "$1" "$2"
        _uid=$(getent passwd "$1" | cut -d: -f3)
        if [ "$rc" -eq 0 ] && id_line | grep -q "^uid=$_uid($1) "; then
                nt_pass "$3: logged in ($(ms)): $(id_line)"
                return 0
        fi
        nt_fail "$3: ssh exited $rc after $(ms)"
        show_out
        return 1
}
# expect_refused USER PASSWORD DESC KIND: the login fails, and how:
#   password  sshpass saw a second password prompt (exit 5): auth refused
#   account   ssh gave up (exit 255) and sshd logged pam_acct_mgmt
#             refusing (it says so at DEBUG3 only; VERBOSE prints "Failed
#             keyboard-interactive/pam" for a wrong password too), with no
#             authentication failure before it
expect_refused() {
        _m=$(log_mark)
        login "$1" "$2"
        if [ "$rc" -eq 0 ] || grep -q '^uid=' "$NT_TMP/ssh.out"; then
                nt_fail "$3: not refused (exit $rc)"
                show_out
                return 1
        fi
        case $4 in
        password)
                if [ "$rc" -eq 5 ]; then
                        nt_pass "$3: password refused (sshpass exit 5, $(ms))"
                        return 0
                fi
                nt_fail "$3: expected a refused password (sshpass exit 5), got exit $rc"
                ;;
        account)
                _acct=$(log_since "$_m" | grep 'do_pam_account pam_acct_mgmt = ' | head -n1)
                case $rc:$_acct in
                "255:"*"pam_acct_mgmt = 6 (Permission denied)"*)
                        if ! log_since "$_m" | grep -q "PAM: Authentication failure for $1 "; then
                                nt_pass "$3: refused at account time (ssh exit 255, $(ms); sshd: ${_acct#debug3: })"
                                return 0
                        fi
                        nt_fail "$3: her password was refused (expected a refusal at account time only)"
                        ;;
                *)
                        nt_fail "$3: expected a refusal at account time, got exit $rc, sshd: '$_acct'"
                        ;;
                esac
                ;;
        esac
        show_out
        log_since "$_m" | grep -i pam | sed 's/^/  | /'
        return 1
}
