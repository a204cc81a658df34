# Masks: a score that is -inf leaves its row; a row whose every score is -inf
# gives 0 entries (not 0/0, as a safe softmax) and a note on stderr.
$HMP simplify --steps - <<'HMP'
s11 = x
s12 = -inf
s21 = -inf
s22 = m
m = -inf
a11 = exp(s11)/(exp(s11) + exp(s12))
a12 = exp(s12)/(exp(s11) + exp(s12))
a21 = exp(s21)/(exp(s21) + exp(s22))
a22 = exp(s22)/(exp(s21) + exp(s22))
o = a21*v + a11*w
HMP
echo "exit: $?"
$HMP simplify --json - <<'HMP'
s1 = -inf
s2 = -inf
a1 = exp(s1)/(exp(s1) + exp(s2))
HMP
