$HMP gen --help
