#!/bin/sh
# `make check`: the whole suite twice (plain, then ASan+UBSan), the mock
# API's self-test, a short smoke of every fuzz target, and the canary scan
# over everything the suite left.  Ends with "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
# The canary scan looks only at test directories made after this.
mkdir -p build
NEOSTRA_SUITE_MARKER=$top/build/.suite-start
: >"$NEOSTRA_SUITE_MARKER"
export NEOSTRA_SUITE_MARKER
total_p=0 total_f=0 total_s=0

tally() { # log file of a run-tests.sh pass
        line=$(grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed' "$1" | tail -n1)
        p=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
        f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
        s=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
        [ -n "$p" ] || { p=0; f=1; }
        total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + ${s:-0}))
}

build() { # builddir sanitize
        if ! make --no-print-directory -j"$jobs" BUILDDIR="$1" SANITIZE="$2" tests-build >"$top/.build-$1.log" 2>&1; then
                cat "$top/.build-$1.log"
                echo "build of $1 failed"
                total_f=$((total_f + 1))
                rm -f "$top/.build-$1.log"
                return 1
        fi
        rm -f "$top/.build-$1.log"
}

for pass in "build 0 plain" "build-asan 1 asan+ubsan"; do
        set -- $pass
        echo "== building $1 ($3)"
        build "$1" "$2" || continue
        sh tests/run-tests.sh "$1" "$3" | tee "$1/run-tests.out"
        tally "$1/run-tests.out"
done

echo "== mock API self-test"
sh tests/mock_api_selftest.sh > build/mock-selftest.log 2>&1
tail -n1 build/mock-selftest.log
tally_line=$(tail -n1 build/mock-selftest.log)
echo "mock: $tally_line" > build/mock-selftest.out
tally build/mock-selftest.out

echo "== fuzz smoke"
if make --no-print-directory -j"$jobs" BUILDDIR=build fuzz-build >build/fuzz-build.log 2>&1; then
        sh tests/fuzz/smoke.sh build | tee build/fuzz-smoke.out
        tally build/fuzz-smoke.out
else
        cat build/fuzz-build.log
        total_f=$((total_f + 1))
fi

# The packages: each script skips (and says why) when its tools are
# missing; make check installs them (packaging/build-deps.txt, debian-deps.txt).
for part in "package-check tests/package/package-check.sh" "rpm-check tests/package/rpm-check.sh"; do
        set -- $part
        echo "== $1"
        sh "$2" build >"build/$1.log" 2>&1
        # Failures with their context, skips, and the count.
        grep -E -A12 '^FAIL' "build/$1.log"
        grep -E -i '^(skip|# skip)' "build/$1.log"
        grep -E "^$1: [0-9]+ passed" "build/$1.log" | tail -n1 | tee "build/$1.out"
        tally "build/$1.out"
done

echo "== canary scan"
sh tests/canary-scan.sh | tee build/canary.out
tally build/canary.out

echo
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
