# Writes the PyTorch-made fixtures of tests/golden/verify_torch.sh: attention
# outputs computed by PyTorch (CPU, float32 and bfloat16) under the conventions
# hmp verify must follow. Run from this folder with a python3 that has torch and
# numpy (Debian: python3-torch); the tests need only the .npy files it writes.
import numpy as np
import torch

torch.manual_seed(2024)


def save(name, t):
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: its bits as '<u2'
        a = t.contiguous().view(torch.int16).numpy().view(np.uint16)
    else:
        a = t.contiguous().numpy()
    np.save(name + ".npy", a)


def attention(q, k, v, mask=None, scale=None):
    # PyTorch's reference: softmax(q k^T * scale + mask) v, in q's dtype
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    s = q @ k.transpose(-1, -2) * scale
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


B, H, HKV, NQ, NK, D = 2, 4, 2, 6, 9, 16
q = torch.randn(B, H, NQ, D)
k = torch.randn(B, H, NK, D)
v = torch.randn(B, H, NK, D)

# is_causal in PyTorch: top-left alignment, torch.ones(L, S).tril()
tl = torch.ones(NQ, NK, dtype=torch.bool).tril()
save("q", q); save("k", k); save("v", v)
save("causal_tl", attention(q, k, v, tl))

# grouped-query attention: K and V heads repeated with repeat_interleave
kg, vg = torch.randn(B, HKV, NK, D), torch.randn(B, HKV, NK, D)
save("kg", kg); save("vg", vg)
save("gqa", attention(q, kg.repeat_interleave(H // HKV, dim=1), vg.repeat_interleave(H // HKV, dim=1)))

# FlashAttention's layout (batch, seqlen, heads, d), self-attention
ks, vs = torch.randn(B, H, NQ, D), torch.randn(B, H, NQ, D)
o = attention(q, ks, vs)
save("q_bnhd", q.transpose(1, 2)); save("k_bnhd", ks.transpose(1, 2)); save("v_bnhd", vs.transpose(1, 2))
save("o_bnhd", o.transpose(1, 2))

# bf16 inputs, scores and softmax in float32, P cast to bf16 for P @ V in bf16
qb, kb, vb = (t.to(torch.bfloat16) for t in (torch.randn(1, 2, 32, 32), torch.randn(1, 2, 48, 32), torch.randn(1, 2, 48, 32)))
s = qb.float() @ kb.float().transpose(-1, -2) * 32 ** -0.5
p = torch.softmax(s, dim=-1)
save("qb", qb); save("kb", kb); save("vb", vb)
save("ob", p.to(torch.bfloat16) @ vb)

# the same output with one entry 4% off: a wrong kernel
bad = (p.to(torch.bfloat16) @ vb).clone()
bad[0, 1, 5, 7] = bad[0, 1, 5, 7] * 1.04
save("ob_bad", bad)
