# --stable: after the lse form, the max-shifted form of every row; the trace
# shows the softmax entries first, then the stable rewriting of each.
$HMP simplify --stable ../../examples/transformer_block.hmp
$HMP simplify --stable --steps - <<'HMP'
a1 = exp(s1)/(exp(s1) + exp(s2))
a2 = exp(s2)/(exp(s1) + exp(s2))
l = log(exp(u) + exp(v) + exp(w))
HMP
