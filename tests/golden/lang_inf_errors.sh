# inf alone is not a value: only a minus directly before it makes -inf (a
# masked score). Each error with its caret; the other statements are read.
$HMP run - <<'HMP'
inf = 1
a = 2*inf
b = -inf^2
c = x - inf*2
d = exp(+inf)
e = lse()
f = -inf
output inf
HMP
