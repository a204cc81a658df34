# hmp eval on the hand-written 3 x 2 block: every output to 30 certain digits.
$HMP eval ../../examples/transformer_block.hmp
