# hmp simplify: the algebra rules (the default), with the derivation.
$HMP simplify --steps - <<'HMP'
a = sqrt(x^2)
b = log(exp(y)) + exp(log(2*exp(z))) + exp(log(w))
c = x^y*x^z*x
d = abs(x^2) + abs(exp(y)) + abs(x)^4 + abs(x)^3
e = (x^4)^(1/2) + (x^3)^(1/3) + log(x^3) + log(x^2)
f = exp(0) + log(1) + a
HMP
