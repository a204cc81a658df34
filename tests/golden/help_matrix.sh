$HMP matrix --help
