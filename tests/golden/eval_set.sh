# Free symbols given values on the command line.
printf 'o = exp(x) / (exp(x) + exp(y))\n' | $HMP eval - --set x=1/2 --set y=-0.25 --digits 20
printf 'o = exp(x) / (exp(x) + exp(y))\n' | $HMP eval - --set x=1/2; echo "exit: $?"
printf 'o = exp(x)\nx = 1\n' | $HMP eval - --set x=2; echo "exit: $?"
printf 'o = exp(x)\n' | $HMP eval - --set x=y; echo "exit: $?"
