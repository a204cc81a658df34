# hmp run --json on the hand-written block.
$HMP run --json ../../examples/transformer_block.hmp
