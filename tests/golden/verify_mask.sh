# hmp verify --mask with numpy masks: bool (heads, n, n) where head 1 is
# causal (the right output passes, the masks swapped fail, and the verdict
# names head 0), uint8 and additive float masks, (batch, heads, n, n) and
# broadcasts for 4-D inputs; masks of a wrong shape or with other values
# are bad input (exit 2).
dir=$(mktemp -d)
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
$PY - "$dir" <<'PY'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(5)
def attention(q, k, v, m):
    s = q.astype(np.float64) @ np.swapaxes(k.astype(np.float64), -1, -2) / np.sqrt(q.shape[-1])
    s = np.where(m, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    return ((p @ v.astype(np.float64)) / p.sum(-1, keepdims=True)).astype(np.float32)
n = 10
q, k, v = (rng.standard_normal((2, 2, n, 8)).astype(np.float32) for _ in range(3))
band = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :]) <= 2
causal = np.tril(np.ones((n, n), dtype=bool))
heads = np.stack([band, causal])
for x, a in dict(q=q, k=k, v=v).items():
    np.save(f"{d}/{x}3.npy", a[0])
    np.save(f"{d}/{x}4.npy", a)
np.save(f"{d}/o3.npy", attention(q[0], k[0], v[0], heads))
np.save(f"{d}/heads.npy", heads)
np.save(f"{d}/swapped.npy", heads[::-1].copy())
np.save(f"{d}/heads_u8.npy", heads.astype(np.uint8))
np.save(f"{d}/heads_add.npy", np.where(heads, 0, -np.inf).astype(np.float32))
np.save(f"{d}/shared.npy", causal)
np.save(f"{d}/three.npy", np.stack([band, causal, band]))
np.save(f"{d}/u8_bad.npy", np.where(heads, 1, 3).astype(np.uint8))
bad = heads.astype(np.uint8); bad[1, 3, 4] = 2
np.save(f"{d}/bad_b1.npy", bad.view(bool))
np.save(f"{d}/half.npy", heads.astype(np.float32) * np.float32(0.5))
per = np.stack([heads, heads[::-1]])
np.save(f"{d}/o4.npy", attention(q, k, v, per))
np.save(f"{d}/per.npy", per)
np.save(f"{d}/per_batch.npy", np.stack([band, causal])[:, None])
np.save(f"{d}/o4b.npy", attention(q, k, v, np.stack([band, causal])[:, None]))
for x, a in dict(q=q, k=k, v=v).items():
    np.save(f"{d}/{x}2.npy", a[0, 1])
np.save(f"{d}/o2.npy", attention(q[0, 1], k[0, 1], v[0, 1], causal))
PY
cd "$dir"
v3() { $HMP verify --q q3.npy --k k3.npy --v v3.npy --out o3.npy "$@"; }
v4() { $HMP verify --q q4.npy --k k4.npy --v v4.npy "$@"; }
v3 --mask heads.npy --tol 1 > out.txt; echo "exit: $?"; tail -1 out.txt
v3 --mask heads_u8.npy > out.txt; echo "exit: $?"; tail -1 out.txt
v3 --mask heads_add.npy > out.txt; echo "exit: $?"; tail -1 out.txt
v3 --mask swapped.npy --json > out.json; echo "exit: $?"
grep -o '"index": \[[0-9]*' out.json | sort | uniq -c
v3 --mask shared.npy --json | grep -o '"index": \[[0-9]*' | sort | uniq -c
v3 --mask three.npy; echo "exit: $?"
v3 --mask bad_b1.npy; echo "exit: $?"
v3 --mask half.npy; echo "exit: $?"
v3 --mask u8_bad.npy; echo "exit: $?"
v4 --out o4.npy --mask per.npy > out.txt; echo "exit: $?"; tail -1 out.txt
v4 --out o4.npy --mask heads.npy > out.txt; echo "exit: $?"; tail -1 out.txt
v4 --out o4b.npy --mask per_batch.npy > out.txt; echo "exit: $?"; tail -1 out.txt
v4 --out o4b.npy --mask heads.npy > out.txt; echo "exit: $?"; tail -1 out.txt
v4 --out o4.npy --mask three.npy; echo "exit: $?"
$HMP verify --q q2.npy --k k2.npy --v v2.npy --out o2.npy --mask shared.npy > out.txt; echo "exit: $?"; tail -1 out.txt
$HMP verify --q q2.npy --k k2.npy --v v2.npy --out o2.npy --mask heads.npy; echo "exit: $?"
cd / && rm -rf "$dir"
