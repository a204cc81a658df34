$HMP verify --help
