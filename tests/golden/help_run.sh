$HMP run --help
