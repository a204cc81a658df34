#!/bin/sh
# Runs the benchmarks (make bench). Figures go to docs/PERFORMANCE.md by hand,
# with the command that gave them.
BUILD=${BUILD:-build-bench}
top=$(cd "$(dirname "$0")/.." && pwd)
echo "== machine: $(nproc) cores, $(uname -m), $(${CC:-cc} --version | head -1)"
for b in "$top/$BUILD"/tests/bench_*; do
    case "$b" in *.o|*.d) continue;; esac
    [ -x "$b" ] || continue
    echo "== ${b##*/}"
    "$b" || exit 1
done
