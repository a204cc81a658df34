# A chain where each name is used twice: 91 relations, a DAG of 181 nodes,
# but a tree of about 2^91 nodes (exact), a JSON string past 2^53.
chain() {
    echo 'a0 = x'
    i=1
    while [ $i -le 90 ]; do echo "a$i = exp(a$((i - 1))) + a$((i - 1))"; i=$((i + 1)); done
    echo 'output a90'
}
chain | $HMP run - | tail -6
chain | $HMP run --json - | grep -v '"a90":'
