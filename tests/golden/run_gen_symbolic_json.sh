# A symbolic block: x and the weights stay free symbols; inlined terms.
$HMP gen attention 2 1 --symbolic | $HMP run --json --inline -
