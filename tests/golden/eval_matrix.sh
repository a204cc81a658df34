# hmp eval on the hand-written 3 x 2 block goes through its matrix program
# (6 operations); --no-matrix evaluates node by node: the same bytes.
$HMP eval ../../examples/transformer_block.hmp
$HMP eval ../../examples/transformer_block.hmp --no-matrix
$HMP eval ../../examples/transformer_block.hmp --format bf16 --json
$HMP eval ../../examples/transformer_block.hmp --format bf16 --json --no-matrix
