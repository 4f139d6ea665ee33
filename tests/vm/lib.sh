# tests/vm/lib.sh - sourced by runner.sh and by every case (POSIX sh; busybox ash in the guest).
#
# A case is a plain script in tests/vm/cases/NAME.sh. It fails by calling die
# (or by being killed at its time limit, "# timeout: N" in its header, default
# 180 s) and passes by reaching its end. Cleanups registered with on_exit run
# in reverse order whatever happens. Environment a case can rely on:
#   BERTH_BIN      berth's programs and berth-testhelper
#   BERTH_IMAGES   the test images (NAME.oci.tar, NAME.docker.tar, digests.json)
#   BERTH_SCRATCH  an empty directory, removed afterwards
#   BERTH_CASE     the case's name
#   BERTH_CGROUP   cgroup v2 mount point (/sys/fs/cgroup)
export BERTH_BIN=${BERTH_BIN:-/berth/bin}
export BERTH_IMAGES=${BERTH_IMAGES:-/berth/images}
export BERTH_CGROUP=${BERTH_CGROUP:-/sys/fs/cgroup}
HELPER=$BERTH_BIN/berth-testhelper

# busybox ash runs its own applet for a bare command name even when a real
# binary comes first in PATH: reach iproute2 by its path.
ip() { /bin/ip "$@"; }

say() { echo "$*"; }
die() { echo "ERROR: $*"; exit 1; }

_berth_cleanups=
on_exit() { _berth_cleanups="$1
$_berth_cleanups"; }
_berth_exit() {
	_st=$?
	if [ -n "$_berth_cleanups" ]; then
		echo "$_berth_cleanups" | while IFS= read -r _c; do
			[ -n "$_c" ] && eval "$_c" >/dev/null 2>&1
		done
	fi
	[ -n "${BERTH_SCRATCH:-}" ] && echo "$_st" > "$BERTH_SCRATCH/.status"
}
[ -n "${BERTH_CASE:-}" ] && trap _berth_exit EXIT

# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds
wait_until() {
	_limit=$1; shift
	_n=0
	while ! "$@" >/dev/null 2>&1; do
		_n=$((_n + 1))
		[ "$_n" -ge $((_limit * 10)) ] && return 1
		usleep 100000 2>/dev/null || sleep 0.1
	done
}

# cg_make NAME: a cgroup under a per-case parent with cpu, memory and pids
# enabled; prints its path. Removed (after its processes are killed) on exit.
cg_make() {
	_parent=$BERTH_CGROUP/berth-test.$BERTH_CASE
	if [ ! -d "$_parent" ]; then
		for _c in cpu memory pids; do
			grep -qw "$_c" "$BERTH_CGROUP/cgroup.subtree_control" ||
				echo "+$_c" > "$BERTH_CGROUP/cgroup.subtree_control" || die "enable $_c at $BERTH_CGROUP"
		done
		mkdir "$_parent" || die "mkdir $_parent"
		echo "+cpu +memory +pids" > "$_parent/cgroup.subtree_control" || die "enable controllers in $_parent"
		on_exit "rmdir '$_parent'"
	fi
	mkdir "$_parent/$1" || die "mkdir $_parent/$1"
	on_exit "echo 1 > '$_parent/$1/cgroup.kill'; sleep 0.2; rmdir '$_parent/$1'"
	echo "$_parent/$1"
}

# cg_run CGROUP CMD...: run CMD inside CGROUP, in the foreground
cg_run() {
	_cg=$1; shift
	sh -c 'echo $$ > "$1/cgroup.procs" || exit 126; shift; exec "$@"' sh "$_cg" "$@"
}

# netns_make NAME: a network namespace, deleted on exit
netns_make() {
	ip netns add "$1" || die "ip netns add $1"
	on_exit "ip netns del '$1'"
}

# ext4_dir DIR [MIB]: mount a fresh ext4 filesystem (loop file in the scratch
# dir, default 256 MiB) on DIR. The guest's root is tmpfs, which lacks user.*
# xattrs on this kernel; berth's state belongs on a real filesystem.
ext4_dir() {
	_img=$BERTH_SCRATCH/.ext4-$(echo "$1" | tr '/' '_').img
	mkdir -p "$1"
	truncate -s "${2:-256}M" "$_img" || die "truncate $_img"
	mkfs.ext4 -q -F "$_img" || die "mkfs.ext4 $_img"
	mount -o loop "$_img" "$1" || die "mount $_img on $1"
	on_exit "umount '$1'"
}

# json_field JSON KEY: the scalar value of a top-level key in one line of JSON
json_field() {
	echo "$1" | sed -n "s/.*\"$2\":\\(\"[^\"]*\"\\|[^,}]*\\).*/\\1/p" | sed 's/^"//; s/"$//'
}
