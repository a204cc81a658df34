# Bad usage and bad input: a message, nothing on stdout, exit 2.
$HMP cse; echo "exit: $?"
$HMP cse --emit; echo "exit: $?"
$HMP cse --emit rust x.hmp; echo "exit: $?"
$HMP cse --json --emit c x.hmp; echo "exit: $?"
$HMP cse --frobnicate x.hmp; echo "exit: $?"
$HMP cse a.hmp b.hmp; echo "exit: $?"
$HMP cse no-such-file.hmp; echo "exit: $?"
printf 'a = (x +\n' | $HMP cse -; echo "exit: $?"
printf 'a = b\nb = a\n' | $HMP cse -; echo "exit: $?"
# An empty script: an empty program.
printf '# nothing\n' | $HMP cse -
# outputs with no real value (-inf where it has none)
printf 'a = x\nb = log(-inf)\nc = x*-inf\n' | $HMP cse -
echo "exit: $?"
