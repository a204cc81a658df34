# Two heads, causal, scaled, underscore names.
$HMP gen attention 2 2 --heads 2 --causal --scale --seed=12
