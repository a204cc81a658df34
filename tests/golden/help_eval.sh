$HMP eval --help
