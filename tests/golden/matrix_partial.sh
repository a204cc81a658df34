# One hand-edited relation (o2_1 reads v3_2 for v3_1): O = A * V holds on
# every other entry; o2_1 stays scalar and is listed, in text and JSON.
sed 's/^o2_1 = a21\*v1_1 + a22\*v2_1 + a23\*v3_1/o2_1 = a21*v1_1 + a22*v2_1 + a23*v3_2/' \
    ../../examples/transformer_block.hmp > /tmp/hmp-golden-partial.$$.hmp
$HMP matrix /tmp/hmp-golden-partial.$$.hmp | grep -v '^#   [A-Z]'
$HMP matrix --json /tmp/hmp-golden-partial.$$.hmp | grep -E '"out": "O"|scalar_left|"name"'
$HMP matrix --regen /tmp/hmp-golden-partial.$$.hmp | tail -3
rm -f /tmp/hmp-golden-partial.$$.hmp
# Near misses: a product over the wrong index in half the entries, and a
# softmax whose rows sum different terms: no operation, everything scalar.
printf 's11 = q1_1*k1_1 + q1_2*k1_2\ns12 = q1_1*k2_1 + q1_2*k2_2\ns21 = q2_1*k1_1 + q2_2*k2_1\ns22 = q2_1*k2_2 + q2_2*k1_2\n' | $HMP matrix -
printf 'a11 = exp(s11)/(exp(s11) + exp(s12))\na12 = exp(s12)/(exp(s11) + exp(s13))\na21 = exp(s21)/(exp(s22) + exp(s23))\na22 = exp(s22)/(exp(s21) + exp(s23))\n' | $HMP matrix -
