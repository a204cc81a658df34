# A file that cannot be read.
$HMP run no-such-file.hmp
