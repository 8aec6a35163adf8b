#!/bin/sh
# Install the Debian packages of dependency lists (in packaging/) that are
# missing.
#   packaging/install-deps.sh build-deps.txt                  make, make deb, make rpm
#   packaging/install-deps.sh build-deps.txt debian-deps.txt  and the tests (make check)
#   packaging/install-deps.sh bench-deps.txt                  what `make bench` compares with
# Without a list: build-deps.txt and debian-deps.txt.  Prints nothing and
# changes nothing when all are present.
#
# Some packages switch themselves on for the whole host when installed:
# libpam-ldapd/libnss-ldapd add pam_ldap to /etc/pam.d/common-* (through
# pam-auth-update) and "ldap" to /etc/nsswitch.conf.  The benchmark runs them
# only in a private mount namespace, so this script undoes both right after
# the install: the machine's own logins never change.
set -eu
here=$(dirname "$0")
[ $# -gt 0 ] || set -- build-deps.txt debian-deps.txt
if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "install-deps: not a Debian system; install the equivalents of: $*" >&2
        exit 0
fi
missing=""
for list in "$@"; do
        [ -f "$here/$list" ] || { echo "install-deps: no list $here/$list" >&2; exit 1; }
        for pkg in $(grep -v '^[[:space:]]*#' "$here/$list"); do
                status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
                case " $missing " in *" $pkg "*) continue ;; esac
                [ "$status" = "installed" ] || missing="$missing $pkg"
        done
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing Debian packages:$missing" >&2
        echo "install-deps: run as root, or: apt-get install$missing" >&2
        exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
saved=$(mktemp -d /tmp/neostra-install-deps.XXXXXX)
cleanup() {
        [ -z "${policy:-}" ] || rm -f /usr/sbin/policy-rc.d
        rm -rf "$saved"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# Test dependencies such as openssh-server, slapd and nslcd must not start
# services on this host (the tests run their own, on loopback or in private
# namespaces): without a policy-rc.d, put one that refuses every start in
# place for the install only.
policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# install-deps.sh: no service starts during this install\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        policy=1
fi
cp -p /etc/nsswitch.conf "$saved/nsswitch.conf" 2>/dev/null || true
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Undo what LDAP client packages switch on for the host.
if [ -e /usr/share/pam-configs/ldap ] && command -v pam-auth-update >/dev/null; then
        pam-auth-update --package --disable ldap
fi
# prometheus (for promtool) enables its server at install: the tests need
# only the tool, so a server we installed stays off, now and at boot.
case " $missing " in
*" prometheus "*)
        # systemctl disable works without systemd running (the links only).
        if [ -d /run/systemd/system ]; then
                systemctl disable --now prometheus.service >/dev/null 2>&1 || true
        elif command -v systemctl >/dev/null; then
                systemctl disable prometheus.service >/dev/null 2>&1 || true
        fi
        if command -v update-rc.d >/dev/null; then
                update-rc.d prometheus disable >/dev/null 2>&1 || true
        fi
        echo "install-deps: prometheus installed for promtool; its service is disabled"
        ;;
esac
if [ -e "$saved/nsswitch.conf" ] && ! cmp -s "$saved/nsswitch.conf" /etc/nsswitch.conf; then
        cp -p "$saved/nsswitch.conf" /etc/nsswitch.conf
        echo "install-deps: restored /etc/nsswitch.conf"
fi
