#!/bin/sh
# test-config.sh BUILDDIR: `neostrad --test-config` reports, with file:line,
# what would stop or cripple the daemon or the module (a missing user, files,
# cache directory, an email template that makes no email, a config the
# module would refuse, paths the unit's sandbox hides, sockets other than
# the socket unit's), as errors or named warnings; --strict refuses
# warnings too.  The table of cases is tests/integration/test_config_cases.py.
# Needs root (files owned by other users).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
if [ "$(id -u)" -ne 0 ]; then
        echo "skipped: test-config needs root"
        echo "test-config: 0 passed, 0 failed, 1 skipped"
        exit 0
fi
exec "$NT_PYTHON" "$here/test_config_cases.py" "$NT_BUILD/neostrad"
