#!/bin/sh
# Install the Debian packages listed in a dependency list that are missing.
#   packaging/install-deps.sh                  build, test and packaging tools
#   packaging/install-deps.sh bench-deps.txt   what `make bench` compares with
# Prints nothing and changes nothing when all are present.
#
# Some packages switch themselves on for the whole host when installed:
# libpam-ldapd/libnss-ldapd add pam_ldap to /etc/pam.d/common-* (through
# pam-auth-update) and "ldap" to /etc/nsswitch.conf.  The benchmark runs them
# only in a private mount namespace, so this script undoes both right after
# the install: the machine's own logins never change.
set -eu
here=$(dirname "$0")
list="$here/${1:-debian-deps.txt}"
missing=""
for pkg in $(grep -v '^[[:space:]]*#' "$list"); do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = "installed" ] || missing="$missing $pkg"
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
if [ -e "$saved/nsswitch.conf" ] && ! cmp -s "$saved/nsswitch.conf" /etc/nsswitch.conf; then
        cp -p "$saved/nsswitch.conf" /etc/nsswitch.conf
        echo "install-deps: restored /etc/nsswitch.conf"
fi
