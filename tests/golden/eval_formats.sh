# Correct rounding to each format: shortest decimal of the rounded value and its bits.
for f in f64 f32 f16 bf16; do
    $HMP eval --format $f ../../examples/transformer_block.hmp | head -2
done
# overflow to infinity in f16, subnormals, ties to even
$HMP eval --format f16 - <<'HMP'
big = 70000 * exp(1) / exp(1)
tiny = 1/2^24 + 1/2^26
tie = 1 + 1/2^11
HMP
