#!/bin/sh
# Install the Debian packages listed in packaging/debian-deps.txt that are
# missing.  Prints nothing and changes nothing when all are present.
set -eu
list="$(dirname "$0")/debian-deps.txt"
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
# Test dependencies such as openssh-server must not start services on this
# host (the tests run their own sshd on loopback): without a policy-rc.d,
# put one that refuses every start in place for the install only.
if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# install-deps.sh: no service starts during this install\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT INT TERM
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
