# Bad usage and scripts that are not an attention: a message, nothing on
# stdout, exit 2.
$HMP check ../../examples/transformer_block.hmp; echo "exit: $?"
$HMP check; echo "exit: $?"
$HMP check ../../examples/transformer_block.hmp --kernel fast; echo "exit: $?"
$HMP check ../../examples/transformer_block.hmp --kernel naive --compute f16; echo "exit: $?"
$HMP check ../../examples/transformer_block.hmp --kernel naive --tile 2; echo "exit: $?"
$HMP check ../../examples/transformer_block.hmp --kernel flash --tile 0; echo "exit: $?"
$HMP check ../../examples/transformer_block.hmp --kernel naive --frobnicate; echo "exit: $?"
$HMP check no-such-file.hmp --kernel naive; echo "exit: $?"
printf 'a = 1\nb = a + 2\n' | $HMP check - --kernel naive; echo "exit: $?"
printf 'x1 = 1\nx2 = 2\ny1 = exp(x1)\ny2 = exp(x2)\n' | $HMP check - --kernel naive; echo "exit: $?"
$HMP gen attention 2 2 --symbolic | $HMP check - --kernel naive; echo "exit: $?"
