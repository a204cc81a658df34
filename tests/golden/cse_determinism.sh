# Two runs give the same bytes (text, JSON, C), and the program is itself a
# script with the same outputs: hmp eval gives the same values.
dir=$(mktemp -d)
$HMP gen attention 5 3 --seed 7 > "$dir/a.hmp"
for opt in "" "--json" "--emit c"; do
    $HMP cse $opt "$dir/a.hmp" > "$dir/1.out"
    $HMP cse $opt "$dir/a.hmp" > "$dir/2.out"
    if cmp -s "$dir/1.out" "$dir/2.out"; then echo "cse $opt: same bytes"; else echo "cse $opt: DIFFERENT"; fi
done
$HMP cse "$dir/a.hmp" > "$dir/p.hmp"
$HMP eval --digits 25 "$dir/a.hmp" > "$dir/v1"
$HMP eval --digits 25 "$dir/p.hmp" > "$dir/v2"
if cmp -s "$dir/v1" "$dir/v2"; then echo "eval of the program: same values ($(wc -l < "$dir/v1") outputs)"; else echo "eval: DIFFERENT"; diff "$dir/v1" "$dir/v2" | head; fi
rm -rf "$dir"
