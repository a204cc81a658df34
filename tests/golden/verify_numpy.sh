# hmp verify on files numpy writes: a float32 kernel's f16 output (passes its
# bound), the same output with one entry 4 ulps off (caught by --tol 1),
# JSON, and bad input (exit 2).
dir=$(mktemp -d)
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
$PY - "$dir" <<'PY'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(7)
q, k, v = (rng.standard_normal((2, 16, 8)).astype(np.float16) for _ in range(3))
s = q.astype(np.float32) @ k.astype(np.float32).transpose(0, 2, 1) / np.float32(np.sqrt(8))
p = np.exp(s - s.max(-1, keepdims=True))
o = ((p @ v.astype(np.float32)) / p.sum(-1, keepdims=True)).astype(np.float16)
for n, a in dict(q=q, k=k, v=v, o=o).items():
    np.save(f"{d}/{n}.npy", a)
bad = o.copy(); bad.view(np.uint16)[1, 3, 5] += 4
np.save(f"{d}/bad.npy", bad)
qn = q.copy(); qn[0, 2, 1] = np.nan
np.save(f"{d}/qnan.npy", qn)
np.save(f"{d}/short.npy", o[:, :8])
PY
cd "$dir"
$HMP verify --q q.npy --k k.npy --v v.npy --out o.npy | head -6; echo "exit: $?"
$HMP verify --q q.npy --k k.npy --v v.npy --out bad.npy --tol 1 > out.txt; echo "exit: $?"
grep -E 'correctly|over it|^  \[1,3,5\]|PASS|FAIL' out.txt
$HMP verify --q q.npy --k k.npy --v v.npy --out o.npy --json | grep -E '"entries"|"over_bound"|"nonfinite"|"pass"'
$HMP verify --q qnan.npy --k k.npy --v v.npy --out o.npy; echo "exit: $?"
$HMP verify --q q.npy --k k.npy --v v.npy --out short.npy; echo "exit: $?"
$HMP verify --q q.npy --k k.npy --v v.npy --out missing.npy; echo "exit: $?"
head -c 100 o.npy > cut.npy
$HMP verify --q q.npy --k k.npy --v v.npy --out cut.npy 2>&1; echo "exit: $?"
cd / && rm -rf "$dir"
