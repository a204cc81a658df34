# Two runs of the same input give the same bytes (text, --json, --inline).
dir=$(mktemp -d)
$HMP gen attention 7 5 --seed 11 --causal --scale > "$dir/a.hmp"
for opt in "" "--json" "--inline" "--inline --json"; do
    $HMP run $opt "$dir/a.hmp" > "$dir/1.out"
    $HMP run $opt "$dir/a.hmp" > "$dir/2.out"
    if cmp -s "$dir/1.out" "$dir/2.out"; then echo "run $opt: same bytes"; else echo "run $opt: DIFFERENT"; fi
done
$HMP gen attention 7 5 --seed 11 --causal --scale | cmp -s - "$dir/a.hmp" && echo "gen: same bytes"
rm -rf "$dir"
