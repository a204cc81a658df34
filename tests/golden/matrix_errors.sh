# Bad usage and bad input: a message, nothing on stdout, exit 2.
$HMP matrix; echo "exit: $?"
$HMP matrix --json --regen x.hmp; echo "exit: $?"
$HMP matrix --frobnicate x.hmp; echo "exit: $?"
$HMP matrix a.hmp b.hmp; echo "exit: $?"
$HMP matrix no-such-file.hmp; echo "exit: $?"
printf 'a = (x +\n' | $HMP matrix -; echo "exit: $?"
printf 'a = b\nb = a\n' | $HMP matrix -; echo "exit: $?"
# No indexed names: an empty program, every relation scalar.
printf 'a = 1\nb = a + x\n' | $HMP matrix -
printf 'a = 1\nb = a + x\n' | $HMP matrix --json -
printf '# nothing\n' | $HMP matrix -
