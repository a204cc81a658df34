# -inf as a whole output: "-inf" in decimal and exactly, the bits of -inf in
# every format, a JSON string; anywhere else an error naming the relation.
printf 'm = -inf\na = lse(m, -inf)\nb = 3*m + 2\nc = exp(m)\nd = max(m, 1/4)\n' | $HMP eval - --exact; echo "exit: $?"
for f in f64 f32 f16 bf16; do printf 'a = -inf\nb = min(a, 1)\noutput a, b\n' | $HMP eval - --format $f; done
printf 'a = -inf\nb = 1/3\n' | $HMP eval - --json
$HMP eval - <<'HMP'; echo "exit: $?"
m = -inf
a = log(m)
b = a + 1
HMP
printf 's = -inf\nt = -s\n' | $HMP eval -; echo "exit: $?"
printf 'x = exp(1)\nw = 2 + x*(-inf)\n' | $HMP eval -; echo "exit: $?"
printf 'v = (-inf)^2\n' | $HMP eval -; echo "exit: $?"
printf 'q = 2^(-inf)\n' | $HMP eval -; echo "exit: $?"
printf 'a = abs(-inf)\nb = lse(a, 1)\n' | $HMP eval -; echo "exit: $?"
printf 'a = -inf\nb = log(a)\noutput a, b\n' | $HMP eval - --exact
