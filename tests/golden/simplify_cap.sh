# --max-steps: past the cap the result is partly simplified, and a warning
# says so (JSON: "complete": false).
echo 'a = log(exp(x)) + log(exp(y)) + log(exp(z))' | $HMP simplify --max-steps 2 -
echo 'a = log(exp(x)) + log(exp(y)) + log(exp(z))' | $HMP simplify --max-steps 1 --json -
