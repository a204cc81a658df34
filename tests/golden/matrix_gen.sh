# Generated blocks: scaled (the factor 1/sqrt(D) folded into the product),
# causal (masked softmax), multi-head (the head first: Q[h]), as JSON too.
$HMP gen attention 4 3 --scale | $HMP matrix - | grep -v '^#   '
$HMP gen attention 5 4 --causal --scale | $HMP matrix - | grep -v '^#   '
$HMP gen attention 3 2 --heads 2 --causal --symbolic | $HMP matrix -
$HMP gen attention 3 4 --scale --symbolic | $HMP matrix --json - | grep '"op"'
