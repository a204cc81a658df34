# Exact values: exp-sum fractions, and rationals found however they are written.
$HMP eval --exact ../../examples/transformer_block.hmp | head -2
$HMP eval --exact - <<'HMP'
s1 = 1/2
s2 = 1/2
a = exp(s1) / (exp(s1) + exp(s2))
b = exp(1/3)^3 / exp(1)
c = (exp(1) + 2) / (exp(1) + 1)
output a, b, c
HMP
