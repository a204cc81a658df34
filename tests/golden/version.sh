$HMP --version
