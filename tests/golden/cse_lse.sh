# Softmax weights in the lse form: the row's lse computed once (2n operations
# for n scores), a masked score (-inf) dropped from the row and its weight 0,
# an output -inf a constant.
script='m = lse(s1, s2, s3, s4)
s3 = -inf
o = exp(s1 - m)*v1 + exp(s2 - m)*v2 + exp(s3 - m)*v3 + exp(s4 - m)*v4
w = exp(s2 - m)
masked = s3
output o, w, masked
'
printf '%s' "$script" | $HMP cse -
# In C: the helper hmp_lse (the largest score taken out) and -INFINITY.
printf '%s' "$script" | $HMP cse --emit c - | tail -26
