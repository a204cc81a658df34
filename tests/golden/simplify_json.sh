# hmp simplify --json: the rule sets, every step, the relations, complete.
$HMP simplify --json - <<'HMP'
r = sqrt((u - v)^2) + log(exp(u))
s = r*abs(u)^2
t = 1/2
HMP
