# hmp simplify --together: sums of fractions over one common denominator;
# with --inline and without expsum (which writes softmax entries in the lse
# form), each output row of the seed block over its softmax sum.
$HMP simplify --together - <<'HMP'
d = 1/x + 1/y
e = x/(x + 1) - 1/(x - 1) + 2
h = a/(b*c^2) + 1/(b^2*c)
HMP
$HMP simplify --rules algebra,together --inline ../../examples/transformer_block.hmp
