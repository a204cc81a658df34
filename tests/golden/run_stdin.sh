# Standard input as the script.
echo 'a = 1/2' | $HMP run -
