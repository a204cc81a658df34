# Bad usage: a message and the short usage on stderr, exit 2 each time.
$HMP run --bogus x.hmp; echo "exit: $?"
$HMP run; echo "exit: $?"
$HMP run a.hmp b.hmp; echo "exit: $?"
$HMP frobnicate; echo "exit: $?"
$HMP; echo "exit: $?"
$HMP gen; echo "exit: $?"
$HMP gen matmul 2 2; echo "exit: $?"
$HMP gen attention 3; echo "exit: $?"
$HMP gen attention 0 2; echo "exit: $?"
$HMP gen attention 3 2 --heads; echo "exit: $?"
$HMP gen attention 3 2 --seed -1; echo "exit: $?"
$HMP gen attention 10 2 --compact
