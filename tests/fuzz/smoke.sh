#!/bin/sh
# A short run of every fuzz target (make check); `make fuzz` runs longer.
#   tests/fuzz/smoke.sh BUILDDIR [SECONDS]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${1:?usage: smoke.sh BUILDDIR [SECONDS]}
secs=${2:-15}
passed=0 failed=0
for f in "$top/$builddir"/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        name=$(basename "$f")
        corpus="$top/tests/fuzz/corpus/${name#fuzz_}"
        work=$(mktemp -d)
        if "$f" -max_total_time="$secs" -max_len=70000 -print_final_stats=0 \
                "$work" "$corpus" >"$work.log" 2>&1; then
                passed=$((passed + 1))
                echo "  $name: ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$work.log" || grep -Eo '#[0-9]+' "$work.log" | tail -n1) runs)"
        else
                failed=$((failed + 1))
                echo "  $name: FAILED"
                tail -n 40 "$work.log" | sed 's/^/  | /'
        fi
        rm -rf "$work" "$work.log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
