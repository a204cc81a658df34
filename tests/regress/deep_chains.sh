# Relations that inline into terms 100,000 deep: printed (run --inline),
# simplified (log(exp(a)) at every level), evaluated exactly and turned into
# a program (cse), each without recursion on the depth.
chain() { awk -v f="$1" 'BEGIN { print "a0 = x"; for (i = 1; i <= 100000; i++) { printf "a%d = ", i; printf f, i - 1; print "" } print "output a100000" }'; }
chain 'exp(a%d)' | $HMP run --inline - | awk 'NR == 1 { print length($0), substr($0, 1, 24) "..." substr($0, length($0) - 8) } /nodes/'
chain 'log(exp(a%d))' | $HMP simplify --inline - | tail -1
chain 'abs(a%d*exp(1)*exp(-1) - 1)' | $HMP eval - --set x=1/3 --exact
chain 'tanh(a%d)' | $HMP cse - | grep -E '^# (ops_after|temporaries)'
