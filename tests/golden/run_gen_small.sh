# A generated causal, scaled block read back from standard input.
$HMP gen attention 3 2 --seed 5 --causal --scale | $HMP run -
