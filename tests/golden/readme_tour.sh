# The README's tour, run as written: in every ```console block of README.md
# a line "$ CMD" is a command (run from the top of the tree, hmp -> $HMP) and
# the lines after it its output (stdout and stderr): "..." alone skips any
# lines, a line ending in "..." matches any line that starts with the rest.
cd ../.. || exit 2
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
awk -v dir="$tmp" '
    /^```console[[:space:]]*$/ { inblock = 1; next }
    inblock && /^```[[:space:]]*$/ { inblock = 0; next }
    !inblock { next }
    /^\$ / { if (n) { close(dir "/" n ".cmd"); close(dir "/" n ".exp") }
              n++; print substr($0, 3) > (dir "/" n ".cmd"); printf "" > (dir "/" n ".exp"); next }
    n > 0 { print > (dir "/" n ".exp") }
    END { print n + 0 > (dir "/count") }
' README.md
n=$(cat "$tmp/count")
if [ "$n" -eq 0 ]; then echo "readme tour: no \$ commands in a console block of README.md"; exit 1; fi
bad=0
i=1
while [ "$i" -le "$n" ]; do
    cmd=$(cat "$tmp/$i.cmd")
    # hmp as a command word: at the start or after a pipe, ; or &&
    run=$(printf '%s\n' "$cmd" | sed -e 's/^hmp /"$HMP" /' -e 's/\([|;&][[:space:]]*\)hmp /\1"$HMP" /g')
    sh -c "$run" > "$tmp/$i.got" 2>&1
    if ! why=$(awk '
        function match_line(want, got,   p) {
            if (want != "..." && want ~ /\.\.\.$/) {
                p = substr(want, 1, length(want) - 3)
                return substr(got, 1, length(p)) == p
            }
            return want == got
        }
        NR == FNR { want[++nw] = $0; next }
        { got[++ng] = $0 }
        END {
            i = 1; j = 1
            while (i <= nw) {
                if (want[i] == "...") {
                    while (i <= nw && want[i] == "...") i++
                    if (i > nw) exit 0
                    while (j <= ng && !match_line(want[i], got[j])) j++
                    if (j > ng) { printf "shown line %d not in the output: %s\n", i, want[i]; exit 1 }
                } else if (j > ng) {
                    printf "the output ends before shown line %d: %s\n", i, want[i]; exit 1
                } else if (!match_line(want[i], got[j])) {
                    printf "output line %d differs\n  shown: %s\n  got:   %s\n", j, want[i], substr(got[j], 1, 200); exit 1
                }
                i++; j++
            }
            if (j <= ng) { printf "output line %d is not shown: %s\n", j, substr(got[j], 1, 200); exit 1 }
        }' "$tmp/$i.exp" "$tmp/$i.got"); then
        bad=$((bad + 1))
        printf 'readme tour: command %d differs from README.md:\n$ %s\n%s\n' "$i" "$cmd" "$why"
        echo "its output:"
        head -20 "$tmp/$i.got" | cut -c1-200
    fi
    i=$((i + 1))
done
if [ "$bad" -eq 0 ]; then
    echo "readme tour: $n commands, all outputs as shown"
else
    echo "readme tour: $bad of $n commands differ"
    exit 1
fi
