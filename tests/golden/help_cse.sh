$HMP cse --help
