# The seed block: the derivation that turns its 9 softmax relations into
# entries of 3 rows, exp(s_ij - lse(s_i1, s_i2, s_i3)), one lse per row.
$HMP simplify --steps ../../examples/transformer_block.hmp
