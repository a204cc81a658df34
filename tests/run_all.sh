#!/bin/sh
# Runs every Criterion suite (or a module's: MOD=tensor runs test_tensor and
# test_tensor_*), the golden files of the command line and the crash
# regressions; one closing line: N passed, N failed. A case: DIR/NAME.sh (run
# with $HMP set, from DIR: tests/golden or tests/regress), its expected output
# (stdout, stderr, "exit: N") in NAME.out. UPDATE=1 rewrites.
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
mod=$1
passed=0; failed=0; failures=""
for bin in "$top/$BUILD"/tests/test_*; do
    [ -x "$bin" ] || continue
    case "$bin" in *.o|*.d) continue;; esac
    name=${bin##*/test_}
    if [ -n "$mod" ] && [ "$mod" != "$name" ]; then
        case "$name" in "$mod"_*) ;; *) continue;; esac
    fi
    out=$("$bin" --jobs=2 2>&1); rc=$?
    synth=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -1)
    p=$(printf '%s\n' "$synth" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
    f=$(printf '%s\n' "$synth" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
    c=$(printf '%s\n' "$synth" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
    p=${p:-0}; f=${f:-0}; c=${c:-0}
    if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ "$c" -ne 0 ] || [ -z "$synth" ]; then
        printf '%s\n' "$out" | grep -v '^\[----\] *$' | tail -40
        [ "$f" -eq 0 ] && [ "$c" -eq 0 ] && f=1
        failures="$failures $name"
    fi
    printf 'suite %-17s %4d passed, %d failed\n' "$name" "$p" $((f + c))
    passed=$((passed + p)); failed=$((failed + f + c))
done
HMP="$top/$BUILD/hmp"; export HMP
# run_cases SUITE: every case of tests/SUITE.
run_cases() {
    gp=0; gf=0
    for case in "$top/tests/$1"/*.sh; do
        [ -f "$case" ] || continue
        name=${case%.sh}
        got=$(cd "$top/tests/$1" && sh "$case" 2>&1; echo "exit: $?")
        if [ -n "$UPDATE" ]; then printf '%s\n' "$got" > "$name.out"; fi
        if [ -f "$name.out" ] && [ "$got" = "$(cat "$name.out")" ]; then
            gp=$((gp + 1))
        else
            gf=$((gf + 1)); failures="$failures $1/${name##*/}"
            echo "$1 ${name##*/}: output differs"
            printf '%s\n' "$got" > "/tmp/hmp-$1-${name##*/}.got"
            diff "$name.out" "/tmp/hmp-$1-${name##*/}.got" | head -20
        fi
    done
    printf 'suite %-17s %4d passed, %d failed\n' "$1" $gp $gf
    passed=$((passed + gp)); failed=$((failed + gf))
}
for suite in golden regress; do
    if [ -z "$mod" ] || [ "$mod" = $suite ]; then run_cases $suite; fi
done
[ -n "$failures" ] && echo "failed:$failures"
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
