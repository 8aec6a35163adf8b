#!/bin/sh
# tests/canary-scan.sh [BUILDDIR...]: the last step of `make check`.  The
# PAM tests sign in with a canary password (NEOSTRA-CANARY- and letters or
# digits, see tests/lib.sh nt_canary_new) and check their own logs; this
# looks again, afterwards, at everything the suite left: the build
# directories (default: build and build-asan: test logs, outputs, binaries)
# and any /tmp/neostra-test-* directory whose test is over.  One check per
# place scanned, then "canary: N passed, N failed"; non-zero when a canary
# was found, or when no test recorded one (a suite whose PAM tests never
# ran must not pass this silently).
#
# Tests record the SHA-256 of each canary, never the canary itself, in
# BUILDDIR/test-logs/canaries.sha256.  The scan searches for the canary's
# shape and hashes what it finds, so the record names which run leaked.
# The records are consumed: the next suite run must make its own.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
[ $# -gt 0 ] || set -- build build-asan

pattern='NEOSTRA-CANARY-[A-Za-z0-9]+'
passed=0 failed=0

records=
for b in "$@"; do
        [ -f "$b/test-logs/canaries.sha256" ] && records="$records $b/test-logs/canaries.sha256"
done
if [ -n "$records" ]; then
        # shellcheck disable=SC2086 # a list of paths without spaces
        known=$(cat $records | sort -u)
        echo "canary: $(echo "$known" | grep -c .) canary(s) recorded by the tests"
else
        known=
        echo "canary: FAILED: no canary recorded (no */test-logs/canaries.sha256 in: $*):" \
             "the PAM tests did not run, so nothing proves the scan would find a leak"
        failed=$((failed + 1))
fi

# scan LABEL PATH: one check.  Names the files, never what was found.
scan() {
        files=$(grep -rlaE -D skip -- "$pattern" "$2" 2>/dev/null)
        if [ -z "$files" ]; then
                echo "canary: ok: none in $1"
                passed=$((passed + 1))
                return
        fi
        echo "canary: FAILED: found in $1:"
        echo "$files" | while IFS= read -r f; do
                what="a canary-shaped string of no recorded run"
                for token in $(grep -oaE -- "$pattern" "$f" | sort -u); do
                        h=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
                        if echo "$known" | grep -qxF "$h"; then
                                what="a canary of this suite run"
                                break
                        fi
                done
                echo "    $f: $what"
        done
        failed=$((failed + 1))
}

for b in "$@"; do
        if [ -d "$b" ]; then
                scan "$b/" "$b"
        else
                echo "canary: $b/ does not exist, not scanned"
        fi
done

# A live test's directory holds its users file (with the canary) by design;
# anything else under /tmp/neostra-test-* is a leftover.
for d in /tmp/neostra-test-*; do
        [ -d "$d" ] || continue
        # Only directories this suite run made (run-suite.sh leaves a
        # marker at its start): older ones are some earlier run's business.
        if [ -n "${NEOSTRA_SUITE_MARKER:-}" ] && [ -e "$NEOSTRA_SUITE_MARKER" ] &&
           [ -z "$(find "$d" -maxdepth 0 -newer "$NEOSTRA_SUITE_MARKER")" ]; then
                echo "canary: $d predates this run, not scanned"
                continue
        fi
        owner=$(cat "$d/.owner-pid" 2>/dev/null)
        if [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then
                echo "canary: $d belongs to a running test (pid $owner), not scanned"
                continue
        fi
        scan "leftover $d" "$d"
done

for r in $records; do
        rm -f "$r"
done

echo "canary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
