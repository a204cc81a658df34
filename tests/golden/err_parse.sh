# Syntax errors: each with line, column, the line and a caret; the parser
# goes on at the next statement, so both are reported. Exit 2, no stdout.
$HMP run - <<'HMP'
a = 1/2
b = a + * 3
c = a*b
d = (a + 1
e = 2 $ a
HMP
