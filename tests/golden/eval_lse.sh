# lse: every digit certain, also for huge and tiny values; a softmax entry in
# lse form has the exact value of the plain form; an lse alone prints as a term.
$HMP eval - <<'HMP'; echo "exit: $?"
a = lse(1000, 1000)
b = lse(1000000, 1000000)
c = lse(0, -1000)
d = lse(-1/3, 1/2, -1/3)
e = lse(log(2), log(3))
output a, b, c, d, e
HMP
$HMP eval --exact - <<'HMP'; echo "exit: $?"
s1 = 1/2
s2 = -3/4
s3 = 2
p = exp(s1) / (exp(s1) + exp(s2) + exp(s3))
q = exp(s1 - lse(s1, s2, s3))
o = 2*exp(s1 - lse(s1, s2, s3)) + 3*exp(s3 - lse(s1, s2, s3))
half = exp(s1 - lse(s1, s1))
r = lse(s1, s2)
output p, q, o, half, r
HMP
printf 'q = exp(1/2 - lse(1/2, -3/4, 2))\n' | $HMP eval - --format f32 --json
