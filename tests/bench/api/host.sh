#!/usr/bin/env bash
# tests/bench/api/host.sh - RunTask throughput and shim memory on this host's
# own CPUs (issue 7), next to crun, without a VM.
#
#   tests/bench/api/host.sh [-b BUILD_DIR] [-n TASKS] [-r ROUNDS]
#
# The VM bench (run.sh) runs everything, cgroups included, but under TCG,
# which inflates a task start 20-40x; the issue's goal (>= 200 task starts/s)
# is about this host class. So this script runs berthd natively, as root,
# inside private namespaces it makes (unshare --net --mount --pid): a tmpfs
# holds the state, the bridge, veths and nftables table live in the private
# network namespace, and nothing on the host changes. What it cannot do
# here: cgroups (the host's /sys/fs/cgroup is not ours to write), so
# berthd runs with "noLimits" (no cgroup is made for the tasks); the
# cgroup part of a start is measured by the VM bench only.
#
# Each round: TASKS idle tasks (awsvpc, tmpfs storage, the test helper
# image) through `berth run --detach --count 10`, then the peer: TASKS
# containers of the same rootfs by `crun run --detach` (new pid, mount,
# uts, ipc and network namespaces; no veth, no IP, no cgroup:
# --cgroup-manager=disabled), one after the other. Prints per round and as
# medians: berth's RunTask answers per second (accepted: recorded, shim
# detached), berth's starts per second (first RunTask until the latest
# startedAt, the last task's RUNNING as its shim stamped it), crun's starts per second, the ratio berth/crun, and each idle
# shim's RSS, PSS and private memory (PSS: shared pages divided among the
# 200 shims; private: what one more task costs). Not part of ctest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
build=${BERTH_BUILD:-$src/build}
tasks=200 rounds=3
while getopts "b:n:r:h" opt; do
	case $opt in
	b) build=$OPTARG ;;
	n) tasks=$OPTARG ;;
	r) rounds=$OPTARG ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
	esac
done
[[ $tasks =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ ]] || { echo "host.sh: -n and -r want positive numbers" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "host.sh: run as root (it makes private namespaces)" >&2; exit 2; }
command -v crun >/dev/null || { echo "host.sh: crun is missing (scripts/setup.sh --deps)" >&2; exit 2; }
build=$(cd "$build" && pwd)
echo "building berth, berthd, berth-shim and the test images in $build" >&2
cmake --build "$build" -j2 --target berth berthd berth-shim test-images >&2
work=$(mktemp -d /tmp/berth-bench-api-host.XXXXXX)
trap 'rm -rf "$work"' EXIT

tree=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$src" diff --quiet HEAD -- 2>/dev/null || tree="$tree + uncommitted changes"
BENCH_BIN=$build/bin BENCH_IMAGE=$build/images/helper.oci.tar BENCH_TASKS=$tasks \
BENCH_ROUNDS=$rounds BENCH_WORK=$work \
	unshare --net --mount --pid --fork --mount-proc --propagation private \
	bash "$here/host_inner.sh" | tee "$work/report.txt"
echo
echo "== tests/bench/api/host.sh: $(date -u +%Y-%m-%d), berth $tree, $(crun --version | head -n1), host $(nproc) cpu (load $(cut -d' ' -f1-3 /proc/loadavg)), $tasks tasks x $rounds rounds, no cgroups"
awk '/^RESULT/ { sub(/^RESULT /, ""); print }' "$work/report.txt"
awk '
	/^RESULT median berth_starts_per_s/ { s = $4 }
	/^RESULT median shim_rss_kib/ { r = $4 }
	/^RESULT median shim_pss_kib/ { p = $4 }
	END {
		printf "goal: >= 200 task starts/s: %s (%.1f/s natively, without cgroups)\n", (s >= 200 ? "met" : "NOT met"), s
		printf "goal: <= 512 KiB RSS per shim: %s (RSS %d KiB, PSS %d KiB; containerd-shim: ~5 MiB RSS, 1.2 MiB PSS tuned)\n", (r <= 512 ? "met" : "NOT met"), r, p
	}' "$work/report.txt"
