# hmp simplify --rules: the sets named, in order: factor pulls out common
# factors; expand and factor undo each other, so together they are refused.
$HMP simplify --rules algebra,factor --steps - <<'HMP'
a = x*y + x*z + w
b = x*y*z + x*y*w + x*v
c = exp(s)/(exp(s) + exp(t)) + exp(t)/(exp(s) + exp(t))
HMP
echo 'a = (x + y)*z' | $HMP simplify --rules expsum -
echo 'a = (x + y)*z' | $HMP simplify --rules factor --expand -; echo "exit: $?"
