#!/bin/sh
# Run every test program built in BUILDDIR and print one closing line
# "N passed, N failed[, N skipped]".  Each program prints either cmocka's
# summary or its own "N passed, N failed" line; both are added up.
#
#   tests/run-tests.sh BUILDDIR [LABEL]
set -u
builddir=${1:?usage: run-tests.sh BUILDDIR [LABEL]}
label=${2:-$builddir}
top=$(cd "$(dirname "$0")/.." && pwd)
export NEOSTRA_TOP="$top" NEOSTRA_BUILD="$top/$builddir"
# Leaks in short-lived test programs are reported too; the daemon is
# checked for leaks at exit by its own ASan run.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:verify_asan_link_order=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

passed=0 failed=0 skipped=0
logdir="$top/$builddir/test-logs"
mkdir -p "$logdir"

count_output() { # file exit-status name
        p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' "$1" | tail -n1)
        f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$1" | tail -n1)
        s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s).*/\1/p' "$1" | tail -n1)
        if [ -z "$p$f" ]; then
                line=$(grep -E '^([A-Za-z0-9-]+: )?[0-9]+ passed, [0-9]+ failed' "$1" | tail -n1)
                p=$(echo "$line" | sed -n 's/.*\b\([0-9][0-9]*\) passed.*/\1/p')
                f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p')
                s=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) skipped.*/\1/p')
        fi
        p=${p:-0} f=${f:-0} s=${s:-0}
        if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
                # Crashed or exited non-zero without saying which test failed.
                f=1
        fi
        passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
        printf '  %-28s %3d passed, %d failed%s\n' "$3" "$p" "$f" \
                "$( [ "$s" -gt 0 ] && echo ", $s skipped")"
        if [ "$f" -gt 0 ]; then
                echo "  ---- output of $3 ($1) ----"
                tail -n 60 "$1" | sed 's/^/  | /'
        fi
}

run() { # name command...
        name=$1; shift
        out="$logdir/$name.log"
        "$@" >"$out" 2>&1
        count_output "$out" $? "$name"
}

echo "== tests in $builddir ($label)"
for t in "$top/$builddir"/tests/test_*; do
        [ -x "$t" ] || continue
        run "$(basename "$t")" "$t"
done
[ -x "$top/$builddir/tests/pamtest" ] && run pamtest "$top/tests/pam/run-pamtest.sh" "$top/$builddir"
for t in "$top"/tests/integration/*.sh; do
        [ -f "$t" ] || continue
        run "$(basename "$t" .sh)" sh "$t" "$top/$builddir"
done
# A seconds-long smoke of make bench's load driver (never a timing check).
[ -x "$top/$builddir/bench/neostra-bench" ] && run bench-smoke sh "$top/tests/bench/smoke.sh" "$top/$builddir"

echo "$label: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
