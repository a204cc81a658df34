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
# hmp eval end to end on `hmp gen attention 128 64` (parse, recognise,
# evaluate, print): through the matrix program, then with --no-matrix (node
# by node); wall seconds, and whether the two print the same bytes.
edir=$(mktemp -d)
"$top/$BUILD/hmp" gen attention 128 64 > "$edir/a.hmp" || exit 1
echo "== hmp eval (gen attention 128 64, 30 digits)"
for mode in matrix no-matrix; do
    opt=""; [ "$mode" = no-matrix ] && opt=--no-matrix
    start=$(date +%s.%N)
    "$top/$BUILD/hmp" eval "$edir/a.hmp" $opt > "$edir/$mode.out" || exit 1
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" -v m="$mode" 'BEGIN { printf "  %s: %.3f s\n", m, b - a }'
done
if cmp -s "$edir/matrix.out" "$edir/no-matrix.out"; then echo "  same output"; else echo "  OUTPUTS DIFFER"; exit 1; fi
rm -rf "$edir"
# hmp verify of f32 outputs against numpy's f64 attention on the same inputs
# (the same OpenBLAS), timed in the same run: the best of 3 for each.
# Cases: n = 4096, d = 64, one head; n = 1024, d = 128; 8 heads of n = 1024,
# d = 64.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
dir=$(mktemp -d)
echo "== verify (threads: ${OMP_NUM_THREADS:-$(nproc)})"
for case in "1 4096 64" "1 1024 128" "8 1024 64"; do
    set -- $case
    "$PY" - "$dir" "$1" "$2" "$3" <<'PY' || exit 1
import sys, time, numpy as np
d, heads, n, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(3)
shape = (heads, n, dim) if heads > 1 else (n, dim)
q, k, v = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))
best = 1e9
for rep in range(3):
    t = time.time()
    s = q.astype(np.float64) @ np.swapaxes(k.astype(np.float64), -1, -2) / np.sqrt(dim)
    p = np.exp(s - s.max(-1, keepdims=True))
    o64 = (p @ v.astype(np.float64)) / p.sum(-1, keepdims=True)
    best = min(best, time.time() - t)
open(d + "/numpy_seconds", "w").write("%.6f" % best)
s = q @ np.swapaxes(k, -1, -2) / np.float32(np.sqrt(dim)); p = np.exp(s - s.max(-1, keepdims=True))
o = ((p @ v) / p.sum(-1, keepdims=True)).astype(np.float32)
for name, a in dict(q=q, k=k, v=v, o=o).items(): np.save(d + "/" + name + ".npy", a)
PY
    best=""
    for rep in 1 2 3; do
        start=$(date +%s.%N)
        "$top/$BUILD/hmp" verify --q "$dir/q.npy" --k "$dir/k.npy" --v "$dir/v.npy" --out "$dir/o.npy" --json > "$dir/report.json"
        end=$(date +%s.%N)
        best=$(awk -v a="$start" -v b="$end" -v best="$best" 'BEGIN { t = b - a; if (best == "" || t < best) best = t; printf "%.6f", best }')
    done
    printf 'heads %s n %s d %s: ' "$1" "$2" "$3"
    grep -E '"entries"|"refined"|"fallback"|"pass"' "$dir/report.json" | tr -d '\n ' ; echo
    awk -v t="$best" -v np="$(cat "$dir/numpy_seconds")" \
        'BEGIN { printf "  numpy f64 attention %.3f s; hmp verify (f32 output) %.3f s: %.1fx\n", np, t, t / np }'
done
rm -rf "$dir"
