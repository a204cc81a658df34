# Free symbols (the first few named), a shared subterm, --inline.
$HMP run --inline - <<'HMP'
y = (x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10) * w
z = exp(y) / (exp(y) + 1)
u = z * z + y
HMP
