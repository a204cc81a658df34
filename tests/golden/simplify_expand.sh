# hmp simplify --expand: products and integer powers of sums multiplied out;
# a denominator stays one factor; log of a product of positive factors.
$HMP simplify --expand --steps - <<'HMP'
a = (x + y)^2*(x - y)
b = 2*(u + v) + (u + 1)/(v*w)
c = 1/(x + 1)^2
f = log(exp(p)*sqrt(q^2 + 1)*2)
g = sqrt(2)*(p + q)
HMP
