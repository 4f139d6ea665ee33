#!/bin/sh
# tests/vm/runner.sh [CASE...] - run privileged cases as root on a cgroup v2 system.
#
# Used in two places: inside the test guest (PID 1 runs it; results also go to
# $BERTH_RESULT_TTY, the second serial port) and directly on a host that has a
# usable cgroup v2 hierarchy (ctest's "direct" mode). Each case runs in its own
# shell with a fresh scratch directory and a per-case time limit, and prints
#   === RUN name / === PASS name (Ns) / === FAIL name (Ns)
# Exit status: the number of failed cases.
HERE=$(cd "$(dirname "$0")" && pwd)
CASEDIR=${BERTH_CASEDIR:-$HERE/cases}
LIB=${BERTH_LIB:-$HERE/lib.sh}
export BERTH_LIB=$LIB   # cases source what sits next to it (cluster_lib.sh)
. "$LIB"

if [ $# -eq 0 ]; then
	set -- $(cd "$CASEDIR" && ls *.sh | sed 's/\.sh$//')
fi
passed=0 failed=0 failed_names=
report() { [ -n "${BERTH_RESULT_TTY:-}" ] && echo "$*" > "$BERTH_RESULT_TTY"; true; }
for name in "$@"; do
	f=$CASEDIR/$name.sh
	echo "=== RUN  $name"
	limit=$(sed -n 's/^# timeout: *\([0-9]*\).*/\1/p' "$f" | head -n1)
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/berth-case.$name.XXXXXX")
	t0=$(cut -d' ' -f1 /proc/uptime)
	if [ ! -f "$f" ]; then
		echo "  no such case: $f"; r=2
	else
		BERTH_SCRATCH=$scratch BERTH_CASE=$name timeout -s KILL "${limit:-180}" sh -c '. "$1"; . "$2"; exit 0' sh "$LIB" "$f" 2>&1 | sed 's/^/  /'
		# busybox ash has no PIPESTATUS: the case writes its status to a file
		r=$(cat "$scratch/.status" 2>/dev/null || echo 137)
	fi
	t1=$(cut -d' ' -f1 /proc/uptime)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ "$r" = 0 ]; then
		passed=$((passed + 1)); echo "=== PASS $name (${secs}s)"; report "TEST PASS $name"
	else
		[ "$r" = 137 ] && echo "  (killed: no status; time limit ${limit:-180}s?)"
		failed=$((failed + 1)); failed_names="$failed_names $name"
		echo "=== FAIL $name (${secs}s, status $r)"; report "TEST FAIL $name"
	fi
	rm -rf "$scratch"
done
echo "runner: $passed passed, $failed failed${failed_names:+ (failed:$failed_names)}"
exit "$failed"
