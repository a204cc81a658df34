# The seed block: 6 operations, nothing left scalar; then as JSON.
$HMP matrix ../../examples/transformer_block.hmp
$HMP matrix --json ../../examples/transformer_block.hmp
