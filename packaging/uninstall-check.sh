#!/bin/sh
# uninstall-check.sh PAMCONFDIR: before `make uninstall` removes
# pam_neostra.so, refuse (exit 1) while a PAM file still names the module:
# PAM would then fail to load it, and a line with default=die or
# requisite would refuse every login, root's included.  Lists each file and
# line, and what to do.  FORCE=1 (make uninstall FORCE=1) only warns.
set -u
dir=${1:?usage: $0 PAMCONFDIR}
[ -d "$dir" ] || exit 0
found=$(grep -EHn '^[[:space:]]*-?(auth|account|session|password)[[:space:]].*pam_neostra\.so' "$dir"/* 2>/dev/null)
[ -z "$found" ] && exit 0
if [ "${FORCE:-0}" = 1 ]; then
        echo "uninstall: warning: these PAM lines still name pam_neostra.so (FORCE=1: removing it anyway):" >&2
        printf '%s\n' "$found" | sed 's/^/  /' >&2
        exit 0
fi
echo "uninstall: refusing to remove pam_neostra.so: these PAM lines still name it, and without the" >&2
echo "uninstall: module they could refuse every login (root's too):" >&2
printf '%s\n' "$found" | sed 's/^/  /' >&2
echo "uninstall: remove those lines first (pam-auth-update --remove neostra neostra-groups for the" >&2
echo "uninstall: package's profiles), or run make uninstall FORCE=1" >&2
exit 1
