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
#   BERTH_EXAMPLES the task definitions of examples/
export BERTH_BIN=${BERTH_BIN:-/berth/bin}
export BERTH_IMAGES=${BERTH_IMAGES:-/berth/images}
export BERTH_CGROUP=${BERTH_CGROUP:-/sys/fs/cgroup}
export BERTH_EXAMPLES=${BERTH_EXAMPLES:-/berth/examples}
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

# cg_enable_root: the cpu, memory and pids controllers enabled for the
# children of $BERTH_CGROUP (each once)
cg_enable_root() {
	for _c in cpu memory pids; do
		grep -qw "$_c" "$BERTH_CGROUP/cgroup.subtree_control" ||
			echo "+$_c" > "$BERTH_CGROUP/cgroup.subtree_control" || die "enable $_c at $BERTH_CGROUP"
	done
}

# cg_make NAME: a cgroup under a per-case parent with cpu, memory and pids
# enabled; prints its path. Removed (after its processes are killed) on exit.
cg_make() {
	_parent=$BERTH_CGROUP/berth-test.$BERTH_CASE
	if [ ! -d "$_parent" ]; then
		cg_enable_root
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

# ------------------------------------------------------ berth run (run_*.sh)
# run_setup [MIB]: what a `berth run` case needs: a state root on ext4 with
# both test images imported ($RUN_ROOT), a cgroup root of the case's own
# ($RUN_CG, removed afterwards), a run dir ($RUN_DIR) and a log dir
# ($RUN_LOGS). Task definitions go in the scratch dir (heredocs: run.sh
# stages only the case scripts and this file).
run_setup() {
	RUN_ROOT=$BERTH_SCRATCH/state
	RUN_CG=$BERTH_CGROUP/berth-test.$BERTH_CASE
	RUN_DIR=$BERTH_SCRATCH/run
	RUN_LOGS=$BERTH_SCRATCH/logs
	ext4_dir "$RUN_ROOT" "${1:-512}"
	on_exit "rmdir '$RUN_CG'"
	for _i in helper web; do
		"$BERTH_BIN/berth" --root "$RUN_ROOT" image import "$BERTH_IMAGES/$_i.oci.tar" >/dev/null ||
			die "import $_i.oci.tar"
	done
}

# run_berth ARGS... / run_berth_json ARGS...: `berth [--json] run` with the
# case's root, cgroup root, run and log dirs, tmpfs storage and EC2 rules;
# later options (--storage loop, --launch-type FARGATE) override these.
run_berth() {
	"$BERTH_BIN/berth" --root "$RUN_ROOT" run --cgroup-root "$RUN_CG" --run-dir "$RUN_DIR" \
		--log-dir "$RUN_LOGS" --storage tmpfs --launch-type EC2 "$@"
}
run_berth_json() {
	"$BERTH_BIN/berth" --root "$RUN_ROOT" --json run --cgroup-root "$RUN_CG" --run-dir "$RUN_DIR" \
		--log-dir "$RUN_LOGS" --storage tmpfs --launch-type EC2 "$@"
}

# run_bg NAME ARGS...: run_berth_json ARGS... in the background: stdout (the
# result JSON) in $BERTH_SCRATCH/NAME.result.json, stderr (berth's status lines and,
# with --json, the containers' output) in $BERTH_SCRATCH/NAME.err with each
# line prefixed by the uptime (seconds) at which it was read. Sets RUN_PID
# (berth itself: signals go straight to it). Finish with run_wait. A
# command prefix in RUN_WRAP (e.g. "taskset -c 0") runs berth under it.
run_bg() {
	_n=$1; shift
	_fifo=$BERTH_SCRATCH/.$_n.fifo
	rm -f "$_fifo"
	mkfifo "$_fifo" || die "mkfifo $_fifo"
	(
		while IFS= read -r _l; do
			read -r _up _x < /proc/uptime
			echo "$_up $_l"
		done < "$_fifo" > "$BERTH_SCRATCH/$_n.err"
	) &
	RUN_STAMPER=$!
	( exec ${RUN_WRAP-} "$BERTH_BIN/berth" --root "$RUN_ROOT" --json run --cgroup-root "$RUN_CG" --run-dir "$RUN_DIR" \
		--log-dir "$RUN_LOGS" --storage tmpfs --launch-type EC2 "$@" > "$BERTH_SCRATCH/$_n.result.json" 2> "$_fifo" ) &
	RUN_PID=$!
	on_exit "kill -KILL $RUN_PID"
}

# run_wait: wait for the run_bg berth; its exit status is returned
run_wait() {
	wait "$RUN_PID"
	_st=$?
	wait "$RUN_STAMPER"
	return $_st
}

# run_uptime: seconds since boot, the clock of run_bg's stamps and of
# /proc/uptime inside containers
run_uptime() { read -r _up _x < /proc/uptime; echo "$_up"; }

# run_t FILE TEXT: the stamp of the first line of a run_bg .err file holding
# TEXT (fixed string); empty when there is none
run_t() { awk -v p="$2" 'index($0, p) { print $1; exit }' "$1"; }

# run_wait_line SECS FILE TEXT: wait until FILE has a line holding TEXT
run_wait_line() { wait_until "$1" grep -qF -- "$3" "$2"; }

# run_num A OP B: numeric comparison of two decimals (awk); OP: < <= > >=
run_num() {
	awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
		if (a == "" || b == "") exit 1
		if (op == "<") exit !(a + 0 < b + 0); if (op == "<=") exit !(a + 0 <= b + 0)
		if (op == ">") exit !(a + 0 > b + 0); if (op == ">=") exit !(a + 0 >= b + 0)
		exit 1 }'
}
# run_cmp A OP B [WHAT]: run_num, or die saying WHAT
run_cmp() { run_num "$1" "$2" "$3" || die "${4:-comparison}: want $1 $2 $3"; }

# run_sleep_until UPTIME: sleep until /proc/uptime reaches UPTIME
run_sleep_until() { while run_num "$(run_uptime)" '<' "$1"; do usleep 100000; done; }

# run_add A B: A + B (decimals)
run_add() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }

# run_jget FILE KEY [CONTAINER]: a scalar of berth --json run's result (the
# pretty-printed object): a top-level key, or a key of containers[] entry
# CONTAINER. Strings without their quotes; empty when the key is absent.
run_jget() {
	awk -v key="$2" -v ctr="${3-}" '
		function val(s) {
			sub(/^ *"[^"]*": /, "", s); sub(/,$/, "", s)
			if (s ~ /^".*"$/) s = substr(s, 2, length(s) - 2)
			return s
		}
		/^  "containers": \[/ { inc = 1; next }
		/^  \]/ { inc = 0; next }
		!inc && ctr == "" && index($0, "  \"" key "\": ") == 1 { print val($0); exit }
		inc && /^    \{/ { name = ""; next }
		inc && index($0, "      \"name\": ") == 1 { name = val($0) }
		inc && ctr != "" && name == ctr && index($0, "      \"" key "\": ") == 1 { print val($0); exit }
	' "$1"
}

# run_expect_j FILE KEY [CONTAINER] WANT: run_jget must give exactly WANT
run_expect_j() {
	if [ $# = 4 ]; then _v=$(run_jget "$1" "$2" "$3"); _w=$4; _what="$3.$2"
	else _v=$(run_jget "$1" "$2"); _w=$3; _what=$2; fi
	[ "$_v" = "$_w" ] || die "result $_what: '$_v', want '$_w' (result: $(tr -d '\n' < "$1"))"
}

# run_out FILE CONTAINER: the output lines of CONTAINER ("NAME | line") in
# FILE, without the prefix (run_bg stamps removed)
run_out() { sed -n "s/^\([0-9.]* \)\{0,1\}$2 | //p" "$1"; }

# run_has TEXT PART: TEXT holds PART (fixed string)
run_has() { case $1 in *"$2"*) return 0 ;; esac; return 1; }

# run_procs_of CGROUP: pids in a cgroup and below it
run_procs_of() { find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null; }

# run_assert_clean: the case's tasks are gone: nothing in the run dir, no
# cgroup under the cgroup root, no store lease
run_assert_clean() {
	[ -z "$(ls -A "$RUN_DIR" 2>/dev/null)" ] || die "left in the run dir: $(ls -A "$RUN_DIR")"
	if [ -d "$RUN_CG" ]; then
		_l=$(find "$RUN_CG" -mindepth 1 -type d)
		[ -z "$_l" ] || die "cgroups left: $_l"
	fi
	[ -z "$(ls -A "$RUN_ROOT/images/leases" 2>/dev/null)" ] ||
		die "store leases left: $(ls -A "$RUN_ROOT/images/leases")"
}

# ------------------------------------------------ the launcher (launch_*.sh)
# launch_setup: the helper image imported into a state root on ext4 and
# mounted read-write at $R for berth-launch-tool ($LT), berth as $B, a
# container cgroup leaf in $cg.
launch_setup() {
	ext4_dir "$BERTH_SCRATCH/state" 256
	B="$BERTH_BIN/berth --root $BERTH_SCRATCH/state"
	LT=$BERTH_BIN/berth-launch-tool
	$B image import "$BERTH_IMAGES/helper.oci.tar" >/dev/null || die "import helper"
	R=$BERTH_SCRATCH/root
	mkdir -p "$R"
	$B image mount --rw "$BERTH_SCRATCH/rw" berth-test/helper "$R" || die "mount the helper image"
	on_exit "$B image umount '$R'"
	cg=$(cg_make ctr)
}

# hostcall NAME [ARGS...]: ask the host to run tests/vm/host/NAME.sh
# 127.0.0.1 HOSTPORT ARGS... (e.g. the AWS CLI against a guest server on
# :8080) and wait for its answer on guest :8081: prints the tail of the
# host script's output, returns its exit status (124 when no answer came
# within HOSTCALL_TIMEOUT seconds, default 600; the host stops a call at 540).
hostcall() {
	[ -n "${BERTH_RESULT_TTY:-}" ] || die "hostcall $1: needs the VM harness (HOSTCALL goes over its result port)"
	_hc_out=$BERTH_SCRATCH/hostcall-$1.out
	: > "$_hc_out"
	# ACK first: the host sends only to a listener (QEMU accepts for the guest anyway)
	echo ACK > "$BERTH_SCRATCH/hostcall.ack"
	nc -l -p 8081 < "$BERTH_SCRATCH/hostcall.ack" > "$_hc_out" 2>/dev/null &
	_hc_pid=$!
	echo "HOSTCALL $*" > "$BERTH_RESULT_TTY"
	# a deadline on the clock: wait_until counts turns, and under TCG a
	# turn is well over its 0.1 s (600 "seconds" were once 700)
	_hc_end=$(( $(date +%s) + ${HOSTCALL_TIMEOUT:-600} ))
	until grep -q "^HOSTCALL-DONE $1 " "$_hc_out" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$_hc_end" ]; then
			kill "$_hc_pid" 2>/dev/null
			cat "$_hc_out"
			echo "hostcall $1: no answer from the host in ${HOSTCALL_TIMEOUT:-600}s (the VM run's \"host call\" lines say whether it saw the call)"
			return 124
		fi
		usleep 200000 2>/dev/null || sleep 0.2
	done
	kill "$_hc_pid" 2>/dev/null
	grep -v "^HOSTCALL-DONE " "$_hc_out"
	_hc_rc=$(sed -n "s/^HOSTCALL-DONE $1 rc=\([0-9]*\).*/\1/p" "$_hc_out")
	return "${_hc_rc:-125}"
}

# pids_of NAME: pids of the processes whose comm is NAME (busybox here has
# no pgrep); pids_matching TEXT: those whose command line contains TEXT
pids_of() {
	for _p in /proc/[0-9]*; do
		[ "$(cat "$_p/comm" 2>/dev/null)" = "$1" ] && echo "${_p#/proc/}"
	done
	true
}
pids_matching() {
	for _p in /proc/[0-9]*; do
		[ "${_p#/proc/}" = "$$" ] && continue
		tr '\0' ' ' < "$_p/cmdline" 2>/dev/null | grep -qF -- "$1" && echo "${_p#/proc/}"
	done
	true
}
