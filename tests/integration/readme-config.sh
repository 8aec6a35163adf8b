#!/bin/sh
# readme-config.sh BUILDDIR: every config example the README (and doc/*.md)
# shows passes `neostrad --test-config --strict` as pasted, and the README's
# other promises about itself hold.  The rules are in
# tests/integration/readme_config.py.  Needs root (the config files must be
# root's, as the PAM module requires).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
if [ "$(id -u)" -ne 0 ]; then
        echo "skipped: readme-config needs root (config files owned by root)"
        echo "readme-config: 0 passed, 0 failed, 1 skipped"
        exit 0
fi
exec "$NT_PYTHON" "$here/readme_config.py" "$NT_BUILD/neostrad"
