# A million relations closed into one cycle: found and reported without
# recursion on the length of the chain (the cycle's names elided).
awk 'BEGIN { n = 1000000; for (i = 1; i < n; i++) printf "a%d = a%d + 1\n", i, i + 1; printf "a%d = a1\n", n }' | $HMP run -
