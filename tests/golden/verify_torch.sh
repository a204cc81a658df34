# hmp verify on outputs PyTorch computed (torch/make_fixtures.py made them,
# committed so that the tests need no torch), each convention both ways:
# is_causal's top-left alignment with n_q < n_k, grouped-query attention by
# repeat_interleave, FlashAttention's layout, and bf16 with P cast to bf16
# (and the same output with one entry 4% off).
cd torch
v() { $HMP verify "$@" | grep -E '^entries|^hint|^PASS|^FAIL'; }
echo "-- is_causal (top-left), 6 queries, 9 keys"
v --q q.npy --k k.npy --v v.npy --out causal_tl.npy --causal --causal-align top-left
v --q q.npy --k k.npy --v v.npy --out causal_tl.npy --causal
echo "-- grouped-query attention, 4 query heads, 2 KV heads"
v --q q.npy --k kg.npy --v vg.npy --out gqa.npy
v --q q.npy --k vg.npy --v kg.npy --out gqa.npy
echo "-- (batch, seqlen, heads, d)"
v --q q_bnhd.npy --k k_bnhd.npy --v v_bnhd.npy --out o_bnhd.npy --layout bnhd
v --q q_bnhd.npy --k k_bnhd.npy --v v_bnhd.npy --out o_bnhd.npy
echo "-- bf16, P cast to bf16 before P @ V"
v --q qb.npy --k kb.npy --v vb.npy --out ob.npy --dtype bf16
v --q qb.npy --k kb.npy --v vb.npy --out ob.npy --dtype bf16 --max-ref-ratio 2
v --q qb.npy --k kb.npy --v vb.npy --out ob_bad.npy --dtype bf16
$HMP verify --q qb.npy --k kb.npy --v vb.npy --out ob.npy; echo "exit: $?"
