#!/bin/bash
# tests/vm/ctest.sh - ctest's way into the privileged cases (tests/vm/CMakeLists.txt).
#
#   ctest.sh boot   BUILD_DIR         vm mode, fixture setup: run every case in one guest
#   ctest.sh result BUILD_DIR NAME    vm mode: NAME's verdict and output from that run
#   ctest.sh direct BUILD_DIR NAME    direct mode: run NAME on this host (root, cgroup v2)
#
# One VM boot serves the whole suite; each case is still its own ctest test, so
# ctest's summary names each one. A case with no verdict (the guest died before
# reaching it) fails.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
mode=${1:?mode}; build=${2:?build dir}
out=$build/vm

case $mode in
boot)
	"$HERE/run.sh" -b "$build" -o "$out" -t 2400
	rc=$?
	# failed cases are reported by their own tests; only a broken run fails here
	if grep -q '^VMTEST-RESULT ' "$out/result.txt" 2>/dev/null; then exit 0; fi
	exit "$rc"
	;;
result)
	name=${3:?case name}
	tr -d '\r' < "$out/console.log" 2>/dev/null |
		awk -v n="$name" '$0 ~ "^=== RUN +" n "$" { on = 1 } on { print } on && $0 ~ "^=== (PASS|FAIL) " n " " { exit }'
	verdicts=$(tr -d '\r' < "$out/result.txt" 2>/dev/null)   # the serial port writes CRLF
	if grep -qx "TEST PASS $name" <<<"$verdicts"; then exit 0; fi
	if grep -qx "TEST FAIL $name" <<<"$verdicts"; then
		# the host's side of the case's host calls: the HOSTCALL lines after
		# the previous verdict are its own, numbered as run.sh served them
		calls=$(awk -v n="$name" '/^HOSTCALL / { k++; mine = mine " " k } /^TEST (PASS|FAIL) / { if ($3 == n) { print mine; exit } mine = "" }' <<<"$verdicts")
		for k in $calls; do
			line=$(awk -F '\t' -v k="$k" '$1 == k { print $2 }' "$out/hostcalls.log" 2>/dev/null)
			echo "host call $k: ${line:-never served by the host (run.sh did not see it)}"
		done
		exit 1
	fi
	echo "no verdict for $name in $out/result.txt: the guest did not run it (see $out/console.log)"
	exit 1
	;;
direct)
	name=${3:?case name}
	[ "$(id -u)" = 0 ] || { echo "direct mode needs root"; exit 1; }
	BERTH_BIN=$build/bin BERTH_IMAGES=$build/images "$HERE/runner.sh" "$name"
	;;
*)
	echo "ctest.sh: unknown mode $mode" >&2; exit 2 ;;
esac
