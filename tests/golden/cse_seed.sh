# The seed block: common subexpressions, one division per output, and
# s_ij = x_i^T (Wq^T Wk) x_j re-associated (126 operations against 132).
$HMP gen attention 3 2 --symbolic --compact | $HMP cse -
# Products associated as written, then plain DAG sharing only.
$HMP gen attention 3 2 --symbolic --compact | $HMP cse --no-restructure - | tail -6
$HMP gen attention 3 2 --symbolic --compact | $HMP cse --dag-only - | tail -6
