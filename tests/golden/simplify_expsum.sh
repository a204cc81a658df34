# The set expsum (default, after algebra): exp laws, log-sum-exp and its
# shift invariance, softmax in any order with a common factor, near-misses
# left alone, and exp-constant over the whole script.
$HMP simplify --steps - <<'HMP'
p = exp(x)*exp(y)*z
q = exp(x)^3/exp(y)
r = log(exp(a) + exp(b))
t = log(exp(a + c) + exp(b + c))
u = exp(y + x)/(exp(z) + exp(x + y))
v = exp(z)*exp(c)/(exp(c)*(exp(z) + exp(x + y)))
w1 = exp(s1)/(exp(s1) + exp(s2) + 1)
w2 = exp(s1)/(exp(s1) + 2*exp(s2))
w3 = exp(s3)/(exp(s1) + exp(s2))
e = exp(k + 1) + exp(k + 2) + exp(k)
HMP
