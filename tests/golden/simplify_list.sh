# hmp simplify --list: every rule set and rule.
$HMP simplify --list
