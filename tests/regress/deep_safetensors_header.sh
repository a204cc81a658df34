# A safetensors header whose metadata nests 100,000 arrays deep: refused as
# nested too deeply (the skipping of values recursed per level), exit 2.
dir=$(mktemp -d)
LC_ALL=C awk 'BEGIN { n = 100000; h = "{\"__metadata__\":"; for (i = 0; i < n; i++) h = h "["; for (i = 0; i < n; i++) h = h "]"; h = h "}";
    while (length(h) % 8) h = h " "; len = length(h);
    for (k = 0; k < 8; k++) { printf "%c", len % 256; len = int(len / 256) } printf "%s", h }' > "$dir/q.safetensors"
cd "$dir"
$HMP verify --q q.safetensors --k q.safetensors --v q.safetensors --out q.safetensors; echo "exit: $?"
cd / && rm -rf "$dir"
