# Generated blocks (scaled, causal, several heads) through the matrix
# program and node by node: the same bytes for decimals, formats, --exact
# and --json. The causal block's first row is exact (one key).
for args in "3 2" "4 3 --causal" "3 4 --scale" "3 2 --heads 2 --causal --scale --seed 7"; do
    for opts in "" "--digits 2" "--digits 45 --json" "--format f16" "--format f32 --json" "--exact"; do
        a=$($HMP gen attention $args | $HMP eval - $opts)
        b=$($HMP gen attention $args | $HMP eval - $opts --no-matrix)
        if [ "$a" = "$b" ]; then echo "same: gen attention $args | eval $opts"; else echo "DIFFERENT: gen attention $args | eval $opts"; fi
    done
done
$HMP gen attention 3 2 --causal | $HMP eval - --json --digits 8
