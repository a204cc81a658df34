# lse(...) and the literal -inf: the folds of the store (exp(-inf) = 0,
# max and lse drop -inf, x + -inf = -inf, a - inf = a + -inf), and the terms
# that stay formal, printed so that they read back as the same term.
script() {
    cat <<'HMP'
# one row of masked attention: the third score is masked
s1 = q1*k1
s2 = q1*k2
s3 = -inf
m = max(s1, s2, s3)
l = lse(s1, s2, s3)
a1 = exp(s1 - l)
a3 = exp(s3 - l)
z = exp(s3) + tanh(s3) + min(s3, s1)
f = s3*s1 + s3^2 + log(s3) + -2*s3
g = lse(s1, s1) + lse(lse(s2, s1), -inf)
u = s1 - inf
output m, l, a1, a3, z, f, g, u
HMP
}
script | $HMP run -
script | $HMP run --inline -
