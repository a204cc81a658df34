# Nesting far past the parser's limit (a million parentheses, a million
# unary minus signs): one error each, never a stack overflow; exit 2.
nest() { awk -v n="$1" -v o="$2" -v c="$3" 'BEGIN { printf "x = "; for (i = 0; i < n; i++) printf "%s", o; printf "1"; for (i = 0; i < n; i++) printf "%s", c; print "" }'; }
nest 1000000 '(' ')' | $HMP run - 2>&1 | cut -c1-100; echo "exit: $(nest 1000000 '(' ')' | $HMP run - > /dev/null 2>&1; echo $?)"
nest 1000000 '-' '' | $HMP run - 2>&1 | cut -c1-100
# at the limit: read
nest 10000 '(' ')' | $HMP run - | head -1
