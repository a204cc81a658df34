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
# hmp verify of an f32 output (n = 4096, d = 64, one head) against numpy's f64
# attention on the same inputs, timed in the same run.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
dir=$(mktemp -d)
echo "== verify"
"$PY" - "$dir" <<'PY' || exit 1
import sys, time, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(3)
n, dim = 4096, 64
q, k, v = (rng.standard_normal((n, dim)).astype(np.float32) for _ in range(3))
t = time.time()
s = q.astype(np.float64) @ k.astype(np.float64).T / np.sqrt(dim)
p = np.exp(s - s.max(-1, keepdims=True))
o64 = (p @ v.astype(np.float64)) / p.sum(-1, keepdims=True)
print("numpy f64 attention n=%d d=%d: %.3f s" % (n, dim, time.time() - t))
open(d + "/numpy_seconds", "w").write("%.6f" % (time.time() - t))
s = q @ k.T / np.float32(np.sqrt(dim)); p = np.exp(s - s.max(-1, keepdims=True))
o = ((p @ v) / p.sum(-1, keepdims=True)).astype(np.float32)
for name, a in dict(q=q, k=k, v=v, o=o).items(): np.save(d + "/" + name + ".npy", a)
PY
start=$(date +%s.%N)
"$top/$BUILD/hmp" verify --q "$dir/q.npy" --k "$dir/k.npy" --v "$dir/v.npy" --out "$dir/o.npy" --json > "$dir/report.json"
end=$(date +%s.%N)
grep -E '"entries"|"fallback"|"pass"' "$dir/report.json" | tr -d '\n'; echo
awk -v a="$start" -v b="$end" -v np="$(cat "$dir/numpy_seconds")" \
    'BEGIN { printf "hmp verify (f32 output): %.3f s, %.1fx numpy f64 attention\n", b - a, (b - a) / np }'
rm -rf "$dir"
