# A name defined twice: an error pointing at both definitions.
$HMP run --json - <<'HMP'
q1_1 = 1/2
k1_1 = 3
q1_1 = 2
HMP
