#!/usr/bin/env bash
# tests/bench/sched/run.sh - scheduler placement throughput on simulated clusters.
#
#   tests/bench/sched/run.sh [-b BUILD_DIR] [-n RUNS]
#
# Runs berth-bench-sched (built in BUILD_DIR, default /tmp/hB-rel or
# $BERTH_BUILD; configure it Release: -DCMAKE_BUILD_TYPE=Release) RUNS times
# (default 3) for each of:
#   spread  10,000 instances (6 zones, 5 instance types), 100,000 placements of
#           10 services in RunTask batches of 10: spread(attribute:ecs.availability-zone),
#           binpack(memory), memberOf(x86_64 m5/c5/r5: 60% of the instances); goal >= 100,000/s
#   c1m     1,000,000 tasks on 5,000 instances, same strategies; goal <= 10 s
#   azspread spread(zone) + spread(instanceId) (ECS's "AZ balanced spread"), which
#           the indexes do not answer: each placement looks at every candidate; 5,000 placements
#   scan    the reference scan (no indexes) on the spread cluster, 2,000 placements
# and prints the medians beside published peers: Nomad's C1M (1M containers
# on 5,000 hosts in < 5 min, ~3,750/s: hashicorp.com/c1m) and kube-scheduler's
# CI threshold (270 pods/s at 5,000 nodes: kubernetes scheduler_perf). Those
# peers schedule real workloads through an API and a store; this measures the
# placement engine alone, in one process: compare orders of magnitude, not ratios.
# Not part of ctest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
build=${BERTH_BUILD:-/tmp/hB-rel}
runs=3

while getopts "b:n:h" opt; do
	case $opt in
	b) build=$OPTARG ;;
	n) runs=$OPTARG ;;
	*) sed -n '2,22p' "$0"; exit 2 ;;
	esac
done

bin=$build/tests/bench/berth-bench-sched
if [ ! -x "$bin" ]; then
	if [ ! -f "$build/CMakeCache.txt" ]; then
		cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
	fi
	cmake --build "$build" --target berth-bench-sched -j2 >/dev/null
fi
if ! grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$build/CMakeCache.txt"; then
	echo "warning: $build is not a Release build; figures will be low" >&2
fi

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A per_s secs cpu skew failed
for r in $(seq "$runs"); do
	for mode in spread c1m azspread scan; do
		case $mode in
		scan) out=$("$bin" spread --scan -n 2000 -s "$r") ;;
		azspread) out=$("$bin" spread --az-spread -n 5000 -s "$r") ;;
		*) out=$("$bin" "$mode" -s "$r") ;;
		esac
		echo "  run $r: $out" >&2
		per_s[$mode]+="$(echo "$out" | field per_s)"$'\n'
		secs[$mode]+="$(echo "$out" | field seconds)"$'\n'
		cpu[$mode]+="$(echo "$out" | field cpu_seconds)"$'\n'
		skew[$mode]+="$(echo "$out" | field zone_skew)"$'\n'
		failed[$mode]+="$(echo "$out" | field failed)"$'\n'
	done
done

m() { printf '%s' "$1" | grep -v '^$' | median; }
mx() { printf '%s' "$1" | grep -v '^$' | sort -g | tail -1; }
echo
echo "scheduler placement, medians of $runs runs ($(nproc) cores, $(uname -m))"
printf '%-44s %14s %10s %10s %8s %7s\n' "case" "placements/s" "wall s" "cpu s" "skew" "failed"
printf '%-44s %14.0f %10.3f %10.3f %8s %7s\n' "spread(zone)+binpack(memory)+memberOf, 10k" \
	"$(m "${per_s[spread]}")" "$(m "${secs[spread]}")" "$(m "${cpu[spread]}")" "$(mx "${skew[spread]}")" "$(mx "${failed[spread]}")"
printf '%-44s %14.0f %10.3f %10.3f %8s %7s\n' "C1M: 1,000,000 tasks on 5,000 instances" \
	"$(m "${per_s[c1m]}")" "$(m "${secs[c1m]}")" "$(m "${cpu[c1m]}")" "$(mx "${skew[c1m]}")" "$(mx "${failed[c1m]}")"
printf '%-44s %14.0f %10.3f %10.3f %8s %7s\n' "spread(zone)+spread(instanceId), 10k (5,000)" \
	"$(m "${per_s[azspread]}")" "$(m "${secs[azspread]}")" "$(m "${cpu[azspread]}")" "$(mx "${skew[azspread]}")" "$(mx "${failed[azspread]}")"
printf '%-44s %14.0f %10.3f %10.3f %8s %7s\n' "reference scan, 10k instances (2,000)" \
	"$(m "${per_s[scan]}")" "$(m "${secs[scan]}")" "$(m "${cpu[scan]}")" "$(mx "${skew[scan]}")" "$(mx "${failed[scan]}")"
echo
echo "peers (published, whole systems):"
printf '%-44s %14s\n' "Nomad C1M (1M containers, 5,000 hosts)" "~3,750"
printf '%-44s %14s\n' "kube-scheduler CI threshold (5,000 nodes)" "270"
spread=$(m "${per_s[spread]}")
c1m=$(m "${secs[c1m]}")
awk -v s="$spread" -v c="$c1m" 'BEGIN {
	printf "goals: >= 100,000 placements/s: %s (%.0f); C1M <= 10 s: %s (%.2f s)\n",
		(s >= 100000 ? "met" : "MISSED"), s, (c <= 10 ? "met" : "MISSED"), c
	printf "vs peers: %.0fx Nomad C1M, %.0fx kube-scheduler threshold\n", s / 3750, s / 270
}'
echo "skew: max - min tasks of one service per zone (0 or 1: the spread held); failed: tasks not placed"
