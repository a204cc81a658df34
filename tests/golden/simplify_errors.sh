# Errors: input errors as FILE:LINE:COL with a caret, usage errors with the
# usage; exit 2, nothing on standard output.
$HMP simplify - <<'HMP'
a = sqrt(x^2
b = a +
HMP
echo "exit: $?"
$HMP simplify no_such_file.hmp; echo "exit: $?"
echo 'a = 1' | $HMP simplify --rules algebra,magic -; echo "exit: $?"
echo 'a = 1' | $HMP simplify --rules -; echo "exit: $?"
echo 'a = 1' | $HMP simplify --frobnicate -; echo "exit: $?"
echo 'a = 1' | $HMP simplify --max-steps lots -; echo "exit: $?"
$HMP simplify; echo "exit: $?"
$HMP simplify a.hmp b.hmp; echo "exit: $?"
printf 'a = b\nb = a\n' | $HMP simplify -; echo "exit: $?"
