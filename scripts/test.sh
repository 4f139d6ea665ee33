#!/bin/bash
# scripts/test.sh - run all of berth's tests (the README's second command; .ci/run).
#
#   1. installs missing Debian packages (scripts/setup.sh --deps)
#   2. builds build/ (Release, gcc -O2 -g) and build-asan/ (clang -O0, ASan + UBSan,
#      libFuzzer)
#   3. unit tests and bounded libFuzzer runs under ASan + UBSan (clang), then
#      the unit tests of the normal build
#   4. privileged tests (label "privileged"): in the QEMU guest of tests/vm, or
#      directly on a host with a usable cgroup v2 hierarchy
# and ends with one line "total: N passed, N failed, N skipped" over every
# stage (a skipped test is never counted as passed).
#
#   --unit       stop after the unit stages
#   --no-asan    skip the ASan + UBSan build
#   -h, --help
set -uo pipefail
cd "$(dirname "$0")/.."
UNIT_ONLY=0 ASAN=1
for a in "$@"; do
	case $a in
	--unit) UNIT_ONLY=1 ;;
	--no-asan) ASAN=0 ;;
	-h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "test.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
	esac
done
JOBS=$(nproc)
T0=$(date +%s)
step() { printf '\n==== %s (+%ds)\n' "$*" $(( $(date +%s) - T0 )); }

step "dependencies"
scripts/setup.sh --deps || exit 1

build() {  # build DIR BUILD_TYPE [cmake args]
	local dir=$1 type=$2; shift 2
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >"$dir.configure.log" 2>&1 ||
		{ cat "$dir.configure.log"; echo "test.sh: configuring $dir failed"; return 1; }
	grep 'privileged tests:' "$dir.configure.log" || true
	# progress lines hidden; cmake's own status decides (not grep's)
	cmake --build "$dir" -j"$JOBS" 2>&1 | { grep -Ev '^\[ *[0-9]+%\] (Building|Linking|Built)' || true; }
	[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "test.sh: building $dir failed"; return 1; }
}

total_pass=0 total_fail=0 total_skip=0 stages_failed=
run_ctest() {  # run_ctest STAGE DIR CTEST-ARGS...
	local stage=$1 dir=$2; shift 2
	local log=$dir/ctest-$stage.log
	ctest --test-dir "$dir" --output-on-failure --timeout 1200 "$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line n_fail n_total
	line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		if grep -q 'No tests were found' "$log"; then
			echo "test.sh: stage $stage found no tests"; total_fail=$((total_fail + 1))
		else
			echo "test.sh: stage $stage gave no ctest summary (status $rc)"; total_fail=$((total_fail + 1))
		fi
		stages_failed="$stages_failed $stage"; return
	fi
	n_fail=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+)/\1/')
	n_total=$(echo "$line" | sed -E 's/.* failed out of ([0-9]+)/\1/')
	# ctest counts a skipped test as not failed; here it is not passed either
	n_skip=$(grep -c '(Skipped)$' "$log" || true)
	total_pass=$((total_pass + n_total - n_fail - n_skip)); total_fail=$((total_fail + n_fail))
	total_skip=$((total_skip + n_skip))
	if [ "$rc" -ne 0 ] || [ "$n_fail" -ne 0 ]; then stages_failed="$stages_failed $stage"; fi
}

if [ "$ASAN" = 1 ]; then
	# clang, so the same build also carries the libFuzzer harnesses
	step "build build-asan (clang, ASan + UBSan, fuzz harnesses)"
	if CC=clang build build-asan Debug -DBERTH_SANITIZE=ON -DBERTH_FUZZ=ON; then
		step "unit tests under ASan + UBSan, then bounded fuzz runs"
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			run_ctest asan build-asan -L 'unit|fuzz' -j"$JOBS"
	else
		total_fail=$((total_fail + 1)); stages_failed="$stages_failed asan-build"
	fi
fi

# gcc at -O2 with _FORTIFY_SOURCE: the warnings only the optimiser finds
step "build build (Release: gcc -O2 -g)"
if ! build build Release; then
	echo "total: $total_pass passed, $((total_fail + 1)) failed"
	exit 1
fi
step "unit tests"
run_ctest unit build -L unit -j"$JOBS"

if [ "$UNIT_ONLY" = 0 ]; then
	step "privileged tests"
	run_ctest privileged build -L privileged
fi

step "done in $(( $(date +%s) - T0 ))s${stages_failed:+; failing stages:$stages_failed}"
echo "total: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ] && [ -z "$stages_failed" ]
