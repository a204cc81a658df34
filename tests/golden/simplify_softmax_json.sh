# --json: softmax_entries (relations that are one entry of a row),
# softmax_rows (distinct rows: shared denominators), masked_rows, stable.
$HMP simplify --json ../../examples/transformer_block.hmp
$HMP simplify --json --stable - <<'HMP'
b1 = exp(t1 + c)/(exp(t2 + c) + exp(t1 + c))
b2 = exp(t2)*exp(c)/(exp(t1)*exp(c) + exp(t2)*exp(c))
near = exp(t1)/(exp(t1) + 2*exp(t2))
HMP
