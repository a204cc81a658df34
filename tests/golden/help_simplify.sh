$HMP simplify --help
