$HMP check --help
