# hmp run on the hand-written 3 x 2 block: outputs as written, statistics.
$HMP run ../../examples/transformer_block.hmp
