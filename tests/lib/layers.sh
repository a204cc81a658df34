#!/bin/sh
# Checks the layering: every file of a layer includes only its own layer and
export LC_ALL=C
# the layers below it, and (given the layer archives) every symbol a layer
# uses from the project is defined in one of those layers.
# Usage: layers.sh ROOT ARCHIVE_DIR "layer:below below ..." ...
# ARCHIVE_DIR holds libhmp-LAYER.a; "-" skips the symbol check.
# Prints each back-edge as FILE:LINE: error: ... and exits 1 if any.
root=$1; adir=$2; shift 2
specs=$*
bad=0
allowed() { # $1 layer -> the layers it may use
    for s in $specs; do
        case "$s" in "$1":*) echo "$1 ${s#*:}" | tr ',' ' ' | sed 's/ *$//'; return;; esac
    done
}
layers=$(for s in $specs; do printf "%s " "${s%%:*}"; done)
for l in $layers; do
    ok=" $(allowed "$l") "
    [ -d "$root/$l" ] || continue
    for f in $(find "$root/$l" -name '*.[ch]' | sort); do
        out=$(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r line; do
            n=${line%%:*}; inc=$(printf '%s\n' "$line" | sed 's/.*include[[:space:]]*"\([^"]*\)".*/\1/')
            case "$inc" in
            */*) top=${inc%%/*}
                 case " $layers " in *" $top "*) ;; *) continue;; esac
                 case "$ok" in *" $top "*) ;; *)
                     echo "${f#$root/}:$n: error: layer $l includes \"$inc\" from $top, a layer it may not use (it may use: $(allowed "$l"))";; esac;;
            *)   echo "${f#$root/}:$n: error: \"$inc\": name its layer (\"$l/$inc\")";;
            esac
        done)
        if [ -n "$out" ]; then printf '%s\n' "$out"; bad=1; fi
    done
done
if [ "$adir" != - ]; then
    tmp=$(mktemp -d)
    for l in $layers; do
        a="$adir/libhmp-$l.a"
        [ -f "$a" ] || continue
        nm -g --defined-only "$a" 2>/dev/null | awk -v l="$l" 'NF == 3 { print $3, l }' >> "$tmp/defs"
    done
    sort -u "$tmp/defs" -o "$tmp/defs" 2>/dev/null || : > "$tmp/defs"
    for l in $layers; do
        a="$adir/libhmp-$l.a"
        [ -f "$a" ] || continue
        nm -A -u "$a" 2>/dev/null | awk '{ print $NF, $1 }' | sort -k1,1 > "$tmp/undef"
        out=$(join "$tmp/undef" "$tmp/defs" | awk -v ok=" $(allowed "$l") " -v l="$l" \
            'index(ok, " " $3 " ") == 0 { sub(/:$/, "", $2); n = split($2, p, ":"); \
              sub(/\.o$/, ".c", p[n]); printf "%s/%s: error: layer %s uses %s, defined in layer %s\n", l, p[n], l, $1, $3 }')
        if [ -n "$out" ]; then printf '%s\n' "$out"; bad=1; fi
    done
    rm -rf "$tmp"
fi
exit $bad
