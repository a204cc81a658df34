# Sub-sums, sub-products and a shared denominator, as JSON.
printf 'u = a + b + c\nv = a + b + d\np = x*y*z\nq = x*y*w\nr = x/(u + v) + y/(u + v) - z/(u + v)\noutput u, v, p, q, r\n' | $HMP cse --json -
