# The generator in the seed's names (3 tokens, 2 features).
$HMP gen attention 3 2 --compact
