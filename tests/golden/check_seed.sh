# The seed block through the naive kernel in f64, and through the flash
# kernel in f32 arithmetic on bf16 inputs with tiles of 2 keys; then a
# generated causal two-head block as JSON.
$HMP check ../../examples/transformer_block.hmp --kernel naive
$HMP check ../../examples/transformer_block.hmp --kernel flash --compute f32 --storage bf16 --tile 2
$HMP gen attention 3 3 --scale --causal --heads 2 | $HMP check - --kernel flash --tile 2 --compute f32 --storage f16 --json
