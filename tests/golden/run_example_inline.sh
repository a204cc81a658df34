# hmp run --inline: each output as a term over the inputs (here all exact).
$HMP run --inline ../../examples/transformer_block.hmp
