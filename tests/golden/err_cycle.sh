# A dependency cycle is an error that prints the cycle; nothing on stdout.
$HMP run - <<'HMP'
x = 1
a = b + x
b = c * 2
c = a - 1
HMP
