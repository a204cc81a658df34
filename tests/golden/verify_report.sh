# hmp verify --report DIR: report.json is what --json prints, byte for
# byte; heatmap.svg and histogram.svg are standalone SVG, the same bytes on
# every run; missing parents are made; a report that cannot be written is
# exit 1.
dir=$(mktemp -d)
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
$PY - "$dir" <<'PY'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(11)
q, k, v = (rng.standard_normal((2, 3, 40, 16)).astype(np.float32) for _ in range(3))
s = q.astype(np.float64) @ k.astype(np.float64).transpose(0, 1, 3, 2) / np.sqrt(16)
p = np.exp(s - s.max(-1, keepdims=True))
o = ((p @ v.astype(np.float64)) / p.sum(-1, keepdims=True)).astype(np.float32)
for n, a in dict(q=q, k=k, v=v, o=o).items():
    np.save(f"{d}/{n}.npy", a)
bad = o.copy(); bad.view(np.uint32)[1, 2, 30, 7] += 3
np.save(f"{d}/bad.npy", bad)
PY
cd "$dir"
$HMP verify --q q.npy --k k.npy --v v.npy --out o.npy --report out/a/b > text.txt; echo "exit: $?"
tail -1 text.txt
ls out/a/b
$HMP verify --q q.npy --k k.npy --v v.npy --out o.npy --json > o.json
cmp o.json out/a/b/report.json && echo "report.json = --json output"
$HMP verify --q q.npy --k k.npy --v v.npy --out o.npy --json --report out/a/b > both.json
cmp o.json both.json && echo "--json --report prints the same"
for f in heatmap histogram; do
  head -3 out/a/b/$f.svg | sed -n 's/.*<title>\(.*\)<\/title>.*/\1/p'
  grep -c '<svg xmlns="http://www.w3.org/2000/svg"' out/a/b/$f.svg
  tail -1 out/a/b/$f.svg
done
grep -o '<g id="cells"[^>]*data-col-bin="[0-9]*"' out/a/b/heatmap.svg
grep -o '>b[0-9] h[0-9]<' out/a/b/heatmap.svg | tr '\n' ' '; echo
grep -o 'data-bin="[a-z]*"' out/a/b/histogram.svg | sort | uniq -c | grep -v range
grep -o 'data-count="[0-9]*"' out/a/b/histogram.svg | tr -dc '0-9\n' | awk '{ s += $1 } END { print s " entries in the histogram" }'
# --tol 1 and an output 3 ulps off in one entry: a magenta cell, the same bytes twice
$HMP verify --q q.npy --k k.npy --v v.npy --out bad.npy --tol 1 --report r1 > /dev/null; echo "exit: $?"
$HMP verify --q q.npy --k k.npy --v v.npy --out bad.npy --tol 1 --report r2 > /dev/null; echo "exit: $?"
for f in report.json heatmap.svg histogram.svg; do cmp r1/$f r2/$f && echo "$f: same bytes"; done
grep -c 'fill="#ff00ff"' r1/heatmap.svg
grep -o '"over_bound": [0-9]*' r1/report.json
# cannot write: a file in the way, then a directory where a report file goes
$HMP verify --q q.npy --k k.npy --v v.npy --out o.npy --report q.npy/r > /dev/null; echo "exit: $?"
mkdir -p r3/histogram.svg
$HMP verify --q q.npy --k k.npy --v v.npy --out o.npy --report r3 > /dev/null; echo "exit: $?"
$HMP verify --q q.npy --k k.npy --v v.npy --out o.npy --report; echo "exit: $?"
cd / && rm -rf "$dir"
