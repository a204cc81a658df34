# The seed block with its lines sorted, reversed, and its names rewritten to
# x_1_2, x[1][2] and 0-based x_0_1: the same 6 operations every time.
seed=../../examples/transformer_block.hmp
grep -v '^#' $seed | sort | $HMP matrix - | grep -v '^#'
grep -v '^#' $seed | sort -r | $HMP matrix - | grep -v '^#'
sed -E 's/\b([A-Za-z]+)([0-9])_([0-9])\b/\1_\2_\3/g; s/\b(Wq|Wk|Wv|s|a)([0-9])([0-9])\b/\1_\2_\3/g' $seed | $HMP matrix - | grep -v '^#'
sed -E 's/\b([A-Za-z]+)([0-9])_([0-9])\b/\1[\2][\3]/g; s/\b(Wq|Wk|Wv|s|a)([0-9])([0-9])\b/\1[\2,\3]/g' $seed | $HMP matrix - | sed -n '2,12p'
# 0-based: every index one less (x_0_1 is row 1, column 2).
sed -e 's/#.*//' $seed | sed -E 's/\b([A-Za-z]+)([0-9])_([0-9])\b/\1_\2_\3/g; s/\b(Wq|Wk|Wv|s|a)([0-9])([0-9])\b/\1_\2_\3/g' |
    awk '{ out = ""; while (match($0, /_[1-9]/)) { out = out substr($0, 1, RSTART - 1) "_" (substr($0, RSTART + 1, 1) - 1); $0 = substr($0, RSTART + 2) } print out $0 }' |
    $HMP matrix - | sed -n '3,4p;13,20p'
# --regen: the same scalar relations whatever the order of the lines.
$HMP matrix --regen $seed > /tmp/hmp-golden-regen-a.$$
grep -v '^#' $seed | sort -r | $HMP matrix --regen - > /tmp/hmp-golden-regen-b.$$
cmp -s /tmp/hmp-golden-regen-a.$$ /tmp/hmp-golden-regen-b.$$ && echo "regen: same bytes"
rm -f /tmp/hmp-golden-regen-a.$$ /tmp/hmp-golden-regen-b.$$
