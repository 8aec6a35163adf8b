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
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
