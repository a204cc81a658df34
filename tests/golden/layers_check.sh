# The layer check (tests/lib/layers.sh, symbols skipped): a back-edge (core
# including rewrite) and an include without its layer are errors, exit 1;
# the same tree without them passes, exit 0.
dir=$(mktemp -d)
mkdir -p "$dir/core" "$dir/rewrite"
printf '#include <stdio.h>\n#include "core/c.h"\n#include "rewrite/b.h"\n' > "$dir/core/a.h"
printf '#include "b.h"\n' > "$dir/core/c.h"
printf '#include "core/a.h"\n' > "$dir/rewrite/b.h"
sh ../lib/layers.sh "$dir" - core: rewrite:core; echo "exit: $?"
printf '#include <stdio.h>\n#include "core/c.h"\n' > "$dir/core/a.h"
printf '#include "core/a.h"\n' > "$dir/core/c.h"
sh ../lib/layers.sh "$dir" - core: rewrite:core; echo "exit: $?"
rm -rf "$dir"
