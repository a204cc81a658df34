# The C of a script with numbers (constants) and names that are not C
# identifiers (mangled, the name kept in a comment).
printf 'w = 3/7\nx[1,2] = y + 1/3\na = sqrt(x[1,2]^2 + z^2)/(y - z)^3 - exp(-y)*w\nb = max(y, z, 1/2) + abs(y - 2*z) + tanh(z)^2\nint = a - b\n' | $HMP cse --emit c -
# The numeric seed block: every input is a number, so the function has none.
$HMP gen attention 2 2 --compact | $HMP cse --emit c - | head -24
