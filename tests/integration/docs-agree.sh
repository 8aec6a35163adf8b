#!/bin/sh
# docs-agree.sh BUILDDIR: the man pages, README.md, the shipped config
# (packaging/neostrad.conf) and the programs' --help say the same as the
# code, value by value, not only that each thing is mentioned
# (docs_agree.py says exactly what it compares):
#  - every config key's default (common/conf-keys.c, common/conf.c) in
#    neostrad.conf.5, the shipped file and README.md's config blocks,
#    durations and booleans normalised; examples marked as examples; the
#    shipped defaults, uncommented, pass neostrad --test-config;
#  - every PAM argument of pam_neostra/args.c, with its value syntax and
#    default, in pam_neostra.8 (SYNOPSIS and OPTIONS) and README.md's table;
#  - neostractl's commands and arguments (from `neostractl --help`) in
#    neostractl.1's SYNOPSIS and COMMANDS and README.md's command line;
#    both programs' options, arguments and defaults in --help, their page
#    and the synopses;
#  - the Debian profile's account line in the RPM notes, README.md and
#    pam_neostra.8; --test-config's summary lines and the sd_notify
#    messages (the watchdog's too) in neostrad.8;
#  - roff that groff formats without a warning but renders wrong: running
#    text inside .BR/.IR (words run together), a blank before punctuation
#    after a font macro, a text line starting with '.
# manpages.sh checks the pages format cleanly and document every name.
# Ends with "docs-agree: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
nt_counts docs-agree
nt_tmpdir
nt_trap

for p in neostrad neostractl; do
        if [ ! -x "$NT_BUILD/$p" ]; then
                nt_fail "$NT_BUILD/$p is not built"
                nt_finish
        fi
done

"$NT_PYTHON" "$here/docs_agree.py" check "$NT_TOP" "$NT_BUILD" >"$NT_TMP/check.out" 2>&1
st=$?
while IFS= read -r l; do
        case $l in
        "ok "*) nt_pass "${l#ok }" ;;
        "problem "*) nt_fail "${l#problem }" ;;
        *) nt_fail "docs_agree.py: $l" ;;
        esac
done <"$NT_TMP/check.out"
[ "$st" -eq 0 ] || nt_fail "docs_agree.py check exited $st"
nt_finish
