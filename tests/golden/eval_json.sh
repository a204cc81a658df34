# --json with digits and a format.
$HMP eval --json --digits 12 --format bf16 - <<'HMP'
a = 1/3
b = exp(-1)
HMP
