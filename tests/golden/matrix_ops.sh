# Bias rows, a chain in one relation (T1 = X * Wq^T, then the bias), the
# softmax as `hmp simplify` writes it (exp(s - lse(row))), -inf above the
# diagonal, a compact family of 11 rows.
printf 'q1_1 = Wq11*x1_1 + Wq12*x1_2 + b1\nq1_2 = Wq21*x1_1 + Wq22*x1_2 + b2\nq2_1 = Wq11*x2_1 + Wq12*x2_2 + b1\nq2_2 = Wq21*x2_1 + Wq22*x2_2 + b2\n' | $HMP matrix -
printf 'a11 = exp(s11 - lse(s11, s12))\na12 = exp(s12 - lse(s11, s12))\na21 = exp(s21 - lse(s21, s22))\na22 = exp(s22 - lse(s21, s22))\n' | $HMP matrix --json - | grep '"op"'
printf 's_1_1 = q_1_1*k_1_1\ns_1_2 = -inf\ns_2_1 = q_2_1*k_1_1\ns_2_2 = q_2_1*k_2_1\n' | $HMP matrix - | grep -v '^#   '
awk 'BEGIN { for (i = 1; i <= 11; i++) { for (j = 1; j <= 2; j++) printf "W%d%d = %d\n", i, j, i - j; printf "y%d = W%d1*x1 + W%d2*x2\n", i, i, i } }' | $HMP matrix -
# The softmax as `hmp simplify` and `hmp simplify --stable` leave it: the same program.
$HMP gen attention 3 2 --causal --symbolic | $HMP simplify - | $HMP matrix - | grep -v '^#'
$HMP gen attention 3 2 --causal --symbolic | $HMP simplify --stable - | $HMP matrix --json - | grep 'softmax_rows"'
