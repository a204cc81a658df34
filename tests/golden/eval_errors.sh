# Domain errors name the relation; bad options; nothing on stdout.
$HMP eval - <<'HMP'; echo "exit: $?"
z = exp(1/3)^3 - exp(1)
a = 1/z
b = a + 1
HMP
printf 'u = 2\nb = 3 + log(u - 2)\n' | $HMP eval -; echo "exit: $?"
printf 'a = 1/8 + exp(-400)\n' | $HMP eval - --digits 2 --max-prec 200; echo "exit: $?"
printf 'a = 1/8 + exp(-400)\n' | $HMP eval - --digits 2; echo "exit: $?"
$HMP eval --digits 0 x.hmp; echo "exit: $?"
$HMP eval --format f8 x.hmp; echo "exit: $?"
printf 'a = exp(10000000000)\n' | $HMP eval -; echo "exit: $?"
