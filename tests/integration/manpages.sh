#!/bin/sh
# manpages.sh BUILDDIR: the man pages kept beside what they describe
# (pam_neostra/pam_neostra.8, neostrad/neostrad.8, neostrad/neostrad.conf.5,
# neostrad/neostractl.1).
#
# 1. Each page formats without a single warning: groff -ww -z -man, and
#    man --warnings (which also reports lines it cannot break at 80
#    columns) when man-db is installed.
# 2. The pages cannot fall behind the code: the lists are taken from the
#    sources, so a new key, argument, command or option without
#    documentation fails here.
#    - every key of common/conf-keys.c's key table is documented in its section
#      of neostrad.conf.5 and shown in its section of packaging/neostrad.conf,
#      and every key those two document is in the table;
#    - every argument parse_args() in pam_neostra/args.c accepts is an entry
#      under OPTIONS in pam_neostra.8, and every entry there is accepted;
#    - every command of neostractl's usage() (and of its dispatch in main)
#      is under COMMANDS in neostractl.1; every long option of neostractl
#      and neostrad is in its page.
#    (docs-agree.sh then compares what they say: defaults, value syntax,
#    synopses, against the code, README.md and --help.)
# 3. make install DESTDIR=<tmp> PREFIX=/usr puts the four pages in
#    share/man/man1, man5 and man8, where man -M finds them, and
#    make uninstall removes them again.
# Ends with "manpages: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
nt_counts manpages
nt_tmpdir
nt_trap

top=$NT_TOP
conf_c=$top/common/conf-keys.c
pam_c=$top/pam_neostra/args.c
ctl_c=$top/neostrad/neostractl.c
daemon_c=$top/neostrad/neostrad.c
shipped=$top/packaging/neostrad.conf
page_pam=$top/pam_neostra/pam_neostra.8
page_daemon=$top/neostrad/neostrad.8
page_conf=$top/neostrad/neostrad.conf.5
page_ctl=$top/neostrad/neostractl.1
pages="$page_pam $page_daemon $page_conf $page_ctl"

skip() { NT_SKIPPED=$((NT_SKIPPED + 1)); echo "skipped - $*"; }
# report LIST PASS-MESSAGE FAIL-MESSAGE: passed when LIST is empty, else
# failed with LIST appended to the message.
report() {
        if [ -z "$1" ]; then
                nt_pass "$2"
        else
                nt_fail "$3$1"
        fi
}

for p in $pages; do
        if [ -f "$p" ]; then
                nt_pass "${p#"$top"/} exists"
        else
                nt_fail "${p#"$top"/} is missing"
                nt_finish
        fi
done

# ---- 1. no formatting warnings ------------------------------------------------

if command -v groff >/dev/null 2>&1; then
        for p in $pages; do
                out=$(LC_ALL=C.UTF-8 groff -ww -z -man "$p" 2>&1)
                rc=$?
                if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
                        nt_pass "groff -ww -z -man ${p#"$top"/}: no warnings"
                else
                        nt_fail "groff -ww -z -man ${p#"$top"/} (exit $rc):"
                        printf '%s\n' "$out" | sed 's/^/  | /'
                fi
        done
else
        skip "groff is not installed (Debian: groff-base, in packaging/debian-deps.txt)"
fi

if command -v man >/dev/null 2>&1 && man --help 2>&1 | grep -q -- '--warnings'; then
        for p in $pages; do
                out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$p" 2>&1 >/dev/null)
                rc=$?
                if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
                        nt_pass "man --warnings -l ${p#"$top"/}: no warnings"
                else
                        nt_fail "man --warnings -l ${p#"$top"/} (exit $rc):"
                        printf '%s\n' "$out" | sed 's/^/  | /'
                fi
        done
else
        skip "man-db's man (with --warnings) is not installed"
fi

# Each page's NAME line is what whatis/apropos index (man-db's lexgrog).
if command -v lexgrog >/dev/null 2>&1; then
        for p in $pages; do
                if lexgrog "$p" >/dev/null 2>&1; then
                        nt_pass "lexgrog parses the NAME section of ${p#"$top"/}"
                else
                        nt_fail "lexgrog cannot parse the NAME section of ${p#"$top"/}"
                fi
        done
else
        skip "lexgrog (man-db) is not installed"
fi

# ---- 2. the lists from the sources -----------------------------------------------

# The body of one man page section: from ".SH <title>" (quotes optional) to
# the next .SH.
man_section() { # PAGE TITLE
        awk -v t="$2" '
                /^\.SH/ { s = $0; sub(/^\.SH[ \t]+/, "", s); gsub(/"/, "", s); on = (s == t); next }
                on' "$1"
}

# "section key" for every entry of common/conf-keys.c's key table.
conf_keys() {
        sed -n '/^const struct key_def conf_keys\[\] = {/,/^};/p' "$conf_c" |
                grep -o 'SECTION_[A-Z]*, *"[a-z_0-9]*"' |
                sed 's/^SECTION_\([A-Z]*\), *"\(.*\)"$/\1 \2/' | tr '[:upper:]' '[:lower:]'
}
# Every section name of the table conf_section_names[].
conf_sections() {
        sed -n '/^const char \*const conf_section_names\[/,/^};/p' "$conf_c" |
                sed -n 's/.*\] = "\([a-z]*\)",.*/\1/p'
}

keys=$(conf_keys)
nkeys=$(printf '%s\n' "$keys" | grep -c .)
sections=$(conf_sections)
nsections=$(printf '%s\n' "$sections" | grep -c .)
# A table we failed to read must not pass as "nothing to check".
if [ "$nkeys" -ge 20 ] && [ "$nsections" -ge 5 ]; then
        nt_pass "read $nkeys keys in $nsections sections from common/conf-keys.c"
else
        nt_fail "could not read the key table of common/conf-keys.c ($nkeys keys, $nsections sections)"
fi

upper() { printf '%s' "$1" | tr '[:lower:]' '[:upper:]'; }

# The shipped config's lines of one [section], up to the next [section].
shipped_section() { # SECTION
        awk -v t="[$1]" '/^\[/ { on = ($0 == t); next } on' "$shipped"
}

missing_conf='' missing_shipped=''
for s in $sections; do
        grep -q "^\.SH \"\[$(upper "$s")\] SECTION\"" "$page_conf" ||
                missing_conf="$missing_conf [$s]"
        grep -qx "\[$s\]" "$shipped" || missing_shipped="$missing_shipped [$s]"
done
report "$missing_conf" "every section has its own part of neostrad.conf.5" "neostrad.conf.5 has no section for:"
report "$missing_shipped" "every section is in packaging/neostrad.conf" "packaging/neostrad.conf has no section:"

missing_conf='' missing_shipped=''
while read -r s k; do
        [ -n "$k" ] || continue
        man_section "$page_conf" "[$(upper "$s")] SECTION" | grep -qE "^\.BI $k= " ||
                missing_conf="$missing_conf [$s]$k"
        shipped_section "$s" | grep -qE "^(#|# Example: )?$k =" || missing_shipped="$missing_shipped [$s]$k"
done <<EOF
$keys
EOF
report "$missing_conf" "every config key is documented in its section of neostrad.conf.5" "neostrad.conf.5 does not document:"
report "$missing_shipped" "every config key is shown in its section of packaging/neostrad.conf" "packaging/neostrad.conf does not show:"

# The other way round: nothing documented that the parser would refuse.
stale=
for s in $sections; do
        for k in $(man_section "$page_conf" "[$(upper "$s")] SECTION" | sed -n 's/^\.BI \([a-z_0-9]*\)= .*/\1/p'); do
                printf '%s\n' "$keys" | grep -qx "$s $k" || stale="$stale [$s]$k"
        done
done
report "$stale" "neostrad.conf.5 documents no key the parser lacks" "neostrad.conf.5 documents keys common/conf-keys.c does not have:"
stale=
for s in $sections; do
        [ "$s" = groups ] && continue   # its keys are role names
        for k in $(shipped_section "$s" | sed -n 's/^#\{0,1\} \{0,1\}\([a-z_0-9]*\) =.*/\1/p'); do
                printf '%s\n' "$keys" | grep -qx "$s $k" || stale="$stale [$s]$k"
        done
done
report "$stale" "packaging/neostrad.conf shows no key the parser lacks" "packaging/neostrad.conf shows keys common/conf-keys.c does not have:"

# PAM arguments: strcmp(arg, "flag") and arg_value(arg, "name") in parse_args().
parse_args=$(sed -n '/^void parse_args(/,/^}/p' "$pam_c")
pam_flags=$(printf '%s\n' "$parse_args" | grep -o 'strcmp(arg, "[a-z_]*")' | sed 's/.*"\(.*\)")/\1/')
pam_values=$(printf '%s\n' "$parse_args" | grep -o 'arg_value(arg, "[a-z_]*")' | sed 's/.*"\(.*\)")/\1/')
nargs=$(printf '%s\n%s\n' "$pam_flags" "$pam_values" | grep -c .)
if [ "$nargs" -ge 10 ]; then
        nt_pass "read $nargs PAM arguments from parse_args()"
else
        nt_fail "could not read parse_args() in pam_neostra/args.c ($nargs arguments)"
fi
pam_options=$(man_section "$page_pam" OPTIONS)
missing=
for a in $pam_flags; do
        printf '%s\n' "$pam_options" | grep -qx "\.B $a" || missing="$missing $a"
done
for a in $pam_values; do
        printf '%s\n' "$pam_options" | grep -qE "^\.BI $a= " || missing="$missing $a="
done
report "$missing" "every PAM argument is under OPTIONS in pam_neostra.8" "pam_neostra.8 does not document:"
stale=
for a in $(printf '%s\n' "$pam_options" | sed -n 's/^\.B \([a-z_]*\)$/\1/p'); do
        printf '%s\n' "$pam_flags" | grep -qx "$a" || stale="$stale $a"
done
for a in $(printf '%s\n' "$pam_options" | sed -n 's/^\.BI \([a-z_]*\)= .*/\1/p'); do
        printf '%s\n' "$pam_values" | grep -qx "$a" || stale="$stale $a="
done
report "$stale" "pam_neostra.8 documents no argument parse_args() lacks" "pam_neostra.8 documents arguments parse_args() does not accept:"

# neostractl commands: the "Commands:" block of usage() and the dispatch.
usage=$(sed -n '/^static void usage(/,/^}/p' "$ctl_c")
usage_cmds=$(printf '%s\n' "$usage" | sed -n '/"Commands:\\n"/,/"Options:\\n"/p' |
        sed -n 's/^[[:space:]]*"  \([a-z][a-z-]*\).*/\1/p')
dispatch_cmds=$(sed -n '/^int main(/,/^}/p' "$ctl_c" | grep -o 'strcmp(cmd, "[a-z-]*")' |
        sed 's/.*"\(.*\)")/\1/')
ncmds=$(printf '%s\n' "$usage_cmds" | grep -c .)
if [ "$ncmds" -ge 5 ]; then
        nt_pass "read $ncmds commands from neostractl's usage()"
else
        nt_fail "could not read the commands of neostractl's usage() ($ncmds)"
fi
ctl_cmds=$(man_section "$page_ctl" COMMANDS)
missing=
for c in $(printf '%s\n%s\n' "$usage_cmds" "$dispatch_cmds" | sort -u); do
        printf '%s\n' "$ctl_cmds" | grep -qE "^\.BI? \"?$c( |\"|$)|^\.BR $c " || missing="$missing $c"
done
report "$missing" "every neostractl command is under COMMANDS in neostractl.1" "neostractl.1 does not document the commands:"
missing=
for c in $dispatch_cmds; do
        printf '%s\n' "$usage_cmds" | grep -qx "$c" || missing="$missing $c"
done
report "$missing" "every command neostractl runs is in its usage()" "neostractl runs commands its usage() does not list:"

# Long options, from the struct option tables, as "\-\-name" in the pages.
long_options() { # FILE
        sed -n '/struct option [a-z_]*\[\] = {/,/};/p' "$1" | sed -n 's/^[[:space:]]*{ *"\([a-z-]*\)",.*/\1/p'
}
for pair in "$ctl_c:$page_ctl" "$daemon_c:$page_daemon"; do
        src=${pair%%:*} page=${pair#*:}
        opts=$(long_options "$src")
        if [ -z "$opts" ]; then
                nt_fail "could not read the long options of ${src#"$top"/}"
                continue
        fi
        missing=
        for o in $opts; do
                esc=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
                man_section "$page" OPTIONS | grep -q "\\\\-\\\\-$esc" || missing="$missing --$o"
        done
        report "$missing" "every long option of ${src#"$top"/} is under OPTIONS in ${page#"$top"/}" "${page#"$top"/} does not document:"
done

# ---- 3. make install / uninstall ---------------------------------------------------

dest=$NT_TMP/destdir
mandir=$dest/usr/share/man
# -o: never rebuild here (another build type may own these objects);
# install what this run tested.
if make --no-print-directory -C "$top" BUILDDIR="$NT_BUILD" DESTDIR="$dest" PREFIX=/usr \
        -o "$NT_BUILD/pam_neostra.so" -o "$NT_BUILD/neostrad" -o "$NT_BUILD/neostractl" \
        install >"$NT_LOGS/install.log" 2>&1; then
        nt_pass "make install DESTDIR=... PREFIX=/usr"
else
        nt_fail "make install failed:"
        sed 's/^/  | /' "$NT_LOGS/install.log"
fi
for want in "1 neostractl $page_ctl" "5 neostrad.conf $page_conf" "8 neostrad $page_daemon" \
            "8 pam_neostra $page_pam"; do
        # shellcheck disable=SC2086 # split into its three words on purpose
        set -- $want
        f=$mandir/man$1/$2.$1
        if [ -f "$f" ] && [ "$(stat -c %a "$f")" = 644 ] && cmp -s "$f" "$3"; then
                nt_pass "/usr/share/man/man$1/$2.$1 installed, mode 0644"
        else
                nt_fail "/usr/share/man/man$1/$2.$1 missing, not mode 0644 or not the page in the tree"
                continue
        fi
        if command -v man >/dev/null 2>&1; then
                found=$(man -M "$mandir" -w "$1" "$2" 2>/dev/null)
                if [ "$found" = "$f" ]; then
                        nt_pass "man -M <destdir>/usr/share/man -w $1 $2 finds it"
                else
                        nt_fail "man -w $1 $2 found '$found', not $f"
                fi
        fi
done
if make --no-print-directory -C "$top" BUILDDIR="$NT_BUILD" DESTDIR="$dest" PREFIX=/usr \
        uninstall >"$NT_LOGS/uninstall.log" 2>&1; then
        left=$(find "$mandir" -type f 2>/dev/null)
        if [ -z "$left" ]; then
                nt_pass "make uninstall removes the man pages"
        else
                nt_fail "make uninstall left: $left"
        fi
else
        nt_fail "make uninstall failed:"
        sed 's/^/  | /' "$NT_LOGS/uninstall.log"
fi

nt_finish
