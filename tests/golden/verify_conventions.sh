# hmp verify on the conventions of real kernels, outputs made by numpy in
# float32: grouped-query attention (K, V with 2 heads for Q's 4, repeated as
# torch.repeat_interleave does; the tiled mapping fails), FlashAttention's
# (batch, n, heads, d) layout (passes with --layout bnhd; without it, a
# hint), PyTorch's top-left causal alignment with n_q < n_k (and the other
# alignment fails), --dtype names and mismatches, --option=value; an
# infinite a-priori bound (f16 compute) is refused, not a PASS, and
# --max-err-scaled judges instead (a planted error fails it); int64
# (batch, 1, 1, n_k) padding masks, and a mask value that is not 0 or 1; a
# sliding window (--window 2,0, FlashAttention's window_size); hints when a
# run fails on many entries and one convention explains it; a kernel that
# rounds P to f16 before P*V passes the default model (P in O's format) and
# fails the model that keeps P wide (--probs-dtype f32); ref_ratio against
# hmp's own naive kernel (--ref-ratio, --max-ref-ratio 2).
dir=$(mktemp -d)
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
$PY - "$dir" <<'PY'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(11)
B, Hq, Hkv, nq, nk, D = 2, 4, 2, 5, 7, 8
def attn(q, k, v, vis=None):
    s = q @ np.swapaxes(k, -1, -2) / np.float32(np.sqrt(D))
    if vis is not None: s = np.where(vis, s, np.float32(-np.inf))
    p = np.exp(s - s.max(-1, keepdims=True))
    return ((p @ v) / p.sum(-1, keepdims=True)).astype(np.float32)
q = rng.standard_normal((B, Hq, nq, D)).astype(np.float32)
k, v = (rng.standard_normal((B, Hkv, nk, D)).astype(np.float32) for _ in range(2))
save = lambda name, a: np.save(f"{d}/{name}.npy", np.ascontiguousarray(a))
save("gq", q); save("gk", k); save("gv", v)
save("go", attn(q, np.repeat(k, 2, axis=1), np.repeat(v, 2, axis=1)))
save("go_tiled", attn(q, np.tile(k, (1, 2, 1, 1)), np.tile(v, (1, 2, 1, 1))))
k4, v4 = (rng.standard_normal((B, Hq, nk, D)).astype(np.float32) for _ in range(2))
T = lambda a: np.swapaxes(a, 1, 2)
save("fq", T(q)); save("fk", T(k4)); save("fv", T(v4)); save("fo", T(attn(q, k4, v4)))
i, j = np.arange(nq)[:, None], np.arange(nk)[None, :]
save("k4", k4); save("v4", v4)
save("tl", attn(q, k4, v4, j <= i)); save("br", attn(q, k4, v4, j <= i + nk - nq))
h = [rng.standard_normal((2, 64, 32)).astype(np.float16) for _ in range(3)]
s = h[0].astype(np.float32) @ np.swapaxes(h[1].astype(np.float32), -1, -2) / np.float32(np.sqrt(32))
p = np.exp(s - s.max(-1, keepdims=True))
ho = ((p @ h[2].astype(np.float32)) / p.sum(-1, keepdims=True)).astype(np.float16)
for name, a in zip(["hq", "hk", "hv", "ho"], h + [ho]): save(name, a)
bad = ho.copy(); bad[0, 3, 5] *= 1.5; save("hbad", bad)
pad = np.ones((B, 1, 1, nk), dtype=np.int64); pad[0, ..., 5:] = 0; pad[1, ..., 6:] = 0
save("pad", pad); save("pad32", pad.astype(np.int32)); pad[1, 0, 0, 2] = -1; save("padbad", pad)
pad[1, 0, 0, 2] = 1
save("po", attn(q, k4, v4, np.broadcast_to(pad.astype(bool), (B, Hq, nq, nk))))
save("wo", attn(q, k4, v4, (j >= i + nk - nq - 2) & (j <= i + nk - nq)))
save("rnd", rng.standard_normal((B, Hq, nq, D)).astype(np.float32))
n = 256  # one sink key, the others tied, values positive: P's roundings add up
pq = rng.standard_normal((1, 8, 32)).astype(np.float16)
pk = np.repeat(rng.standard_normal((1, 1, 32)), n, axis=1).astype(np.float16); pk[0, 0] = (pq[0, 0] * 4).astype(np.float16)
pv = (np.abs(rng.standard_normal((1, n, 16))) + 0.25).astype(np.float16)
s = pq.astype(np.float32) @ np.swapaxes(pk.astype(np.float32), -1, -2) / np.float32(np.sqrt(32))
p = np.exp(s - s.max(-1, keepdims=True))
po = ((p.astype(np.float16).astype(np.float32) @ pv.astype(np.float32)) / p.sum(-1, keepdims=True)).astype(np.float16)
save("pq", pq); save("pk", pk); save("pv", pv); save("pro", po)
sk, sv = (rng.standard_normal((B, Hq, nq, D)).astype(np.float32) for _ in range(2))
save("sq", T(q)); save("sk", T(sk)); save("sv", T(sv)); save("so", T(attn(q, sk, sv)))
PY
cd "$dir"
echo "-- grouped-query: repeated heads pass, tiled heads fail"
$HMP verify --q gq.npy --k gk.npy --v gv.npy --out go.npy | tail -1
$HMP verify --q gq.npy --k gk.npy --v gv.npy --out go_tiled.npy > out.txt; echo "exit: $?"
grep -E '^bound|^FAIL' out.txt
echo "-- FlashAttention's layout"
$HMP verify --q fq.npy --k fk.npy --v fv.npy --out fo.npy --layout bnhd --json | grep -E '"entries"|"settings"|"pass"'
$HMP verify --q fq.npy --k fk.npy --v fv.npy --out fo.npy; echo "exit: $?"
echo "-- causal alignment, n_q = 5 < n_k = 7"
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out tl.npy --causal --causal-align top-left | tail -1
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out tl.npy --causal | tail -1
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out br.npy --causal | tail -1
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out br.npy --causal --causal-align=top-left | tail -1
echo "-- f16 compute: no finite bound; --max-err-scaled"
$HMP verify --q hq.npy --k hk.npy --v hv.npy --out ho.npy --compute f16; echo "exit: $?"
$HMP verify --q hq.npy --k hk.npy --v hv.npy --out ho.npy --compute f16 --max-err-scaled 8 | grep -E '^entries|^bound|PASS|FAIL'
$HMP verify --q hq.npy --k hk.npy --v hv.npy --out hbad.npy --compute f16 --max-err-scaled 8 > out.txt; echo "exit: $?"
grep -E '^bound|^failing|^  \[0,3,5\]|FAIL' out.txt
$HMP verify --q hq.npy --k hk.npy --v hv.npy --out ho.npy --max-err-scaled 8 --tol 1 2>&1 | head -1
echo "-- padding masks"
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out po.npy --mask pad.npy | tail -1
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out po.npy --mask pad32.npy | tail -1
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out po.npy | tail -1
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out po.npy --mask padbad.npy; echo "exit: $?"
echo "-- sliding window"
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out wo.npy --window 2,0 | tail -1
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out wo.npy --causal | tail -1
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out wo.npy --window 2,0 --causal-align top-left | tail -1
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out wo.npy --window 2 2>&1 | head -1
echo "-- hints"
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out tl.npy | grep -E '^hint|PASS|FAIL'
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out tl.npy --causal | grep -E '^hint|PASS|FAIL'
$HMP verify --q gq.npy --k v4.npy --v k4.npy --out br.npy --causal | grep -E '^hint|PASS|FAIL'
$HMP verify --q gq.npy --k k4.npy --v v4.npy --out br.npy --causal --scale 1 --json | grep -E '"hints"|"pass"'
$HMP verify --q gq.npy --k gk.npy --v gv.npy --out go_tiled.npy | grep -E '^hint|PASS|FAIL'
$HMP verify --q gq.npy --k gk.npy --v gv.npy --out rnd.npy | grep -E '^hint|PASS|FAIL' # no convention explains noise
$HMP verify --q sq.npy --k sk.npy --v sv.npy --out so.npy | grep -E '^hint|PASS|FAIL' # self-attention, bnhd read as bhnd
echo "-- P rounded to f16 before P*V"
$HMP verify --q pq.npy --k pk.npy --v pv.npy --out pro.npy | grep -E '^entries|^bound|PASS|FAIL'
$HMP verify --q pq.npy --k pk.npy --v pv.npy --out pro.npy --probs-dtype f32 | grep -E '^entries|^bound|PASS|FAIL'
echo "-- reference ratio"
$HMP verify --q gq.npy --k gk.npy --v gv.npy --out go.npy --max-ref-ratio 2 | grep -E '^ref_ratio|PASS|FAIL'
$HMP verify --q gq.npy --k gk.npy --v gv.npy --out go_tiled.npy --max-ref-ratio 2 --json | grep -E '"ref_ratio"|"max_ref_ratio"|"pass"'
echo "-- names and usage"
$HMP verify --q=gq.npy --k=gk.npy --v=gv.npy --out=go.npy --dtype=torch.float32 | tail -1
$HMP verify --q gq.npy --k gk.npy --v gv.npy --out go.npy --dtype fp16; echo "exit: $?"
$HMP verify --q gq.npy --k gk.npy --v gv.npy --out go.npy --dtype fp8 2>&1; echo "exit: $?"
$HMP verify --q gq.npy --k gk.npy --v gv.npy --out go.npy --layout nhd 2>&1 | head -1
$HMP verify --q gq.npy --k gk.npy --v gv.npy --out go.npy --causal-align left 2>&1 | head -1
cd / && rm -rf "$dir"
