# hmp simplify --inline: the outputs over the free symbols, simplified.
$HMP simplify --inline --steps - <<'HMP'
q = sqrt(x^2)
k = log(exp(q*y))
o = k + abs(x)^2
HMP
