$HMP --help
