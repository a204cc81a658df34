# An empty script, and one with comments only: no outputs, exit 0.
$HMP run /dev/null; echo "exit: $?"
printf '# nothing here\n\n' | $HMP run --json -
