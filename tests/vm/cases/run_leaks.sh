# berth run leaves nothing behind: N sequential runs of a tiny task
# (networkMode none, tmpfs storage; the last 10 with the default loop
# storage) and afterwards the guest has the same mounts, loop devices,
# network namespaces and processes as before, no cgroup under the cgroup
# root (issue 5), no fd of any process into berth's dirs, no berth
# process, and the run dir, the store leases and the ephemeral dir are
# empty. Each run must also exit 0 and log its container's output.
# N=300: issue 4 asks for 200 sequential runs, issue 5 for 300 tasks
# leaving no cgroup (not one after another): runs 1-200 go one at a time,
# runs 201-290 two at a time (the pair's runs start together; both must
# pass), the last 10 (loop storage) one at a time again. ~150 s in TCG on
# an idle host (0.55-0.6 s a sequential run; ~1.1 s when the host is busy).
# timeout: 480
N=300
NSEQ=200
NLOOP=10
run_setup
S=$BERTH_SCRATCH
cat > "$S/tiny.json" <<'JSON'
{ "family": "tiny", "requiresCompatibilities": ["EC2"], "networkMode": "none",
  "containerDefinitions": [ { "name": "t", "image": "berth-test/helper", "memory": 32,
    "command": ["echo", "tiny"] } ] }
JSON

mounts() { awk '{ print $5, $9 }' /proc/self/mountinfo | sort; }
loops() {
	losetup -a 2>/dev/null | sort
	for _f in /sys/block/loop*/loop/backing_file; do [ -f "$_f" ] && echo "$_f $(cat "$_f")"; done
}
netns() {
	for _p in /proc/[0-9]*; do stat -L -c %i "$_p/ns/net" 2>/dev/null; done | sort -u
	ls /run/netns 2>/dev/null
}
berth_procs() {
	for _p in /proc/[0-9]*; do
		case $(cat "$_p/comm" 2>/dev/null) in
		berth|berth-init|berth-testhelpe|memfd:*) echo "${_p#/proc/} $(tr '\0' ' ' < "$_p/cmdline")" ;;
		esac
	done
}
fds_into() { # DIR...: fds of any process that point into DIR
	for _p in /proc/[0-9]*; do
		ls -l "$_p/fd" 2>/dev/null | awk -v p="${_p#/proc/}" '{ print p, $NF }'
	done | grep -F -e "$RUN_ROOT" -e "$RUN_DIR" -e "$RUN_LOGS" -e "$RUN_CG"
}

# one run first: it creates the case's cgroup root and the store's dirs
run_berth --task-id leak0 "$S/tiny.json" > "$S/out" 2>&1 || die "first run: $(cat "$S/out")"
m0=$(mounts) l0=$(loops) n0=$(netns) p0=$(berth_procs)
[ -z "$p0" ] || die "berth processes before the loop: $p0"
[ -n "$m0" ] && [ -n "$n0" ] || die "cannot read mounts or network namespaces"

# the probes see a live task (loop storage, stopped by SIGTERM), and all
# is back to the start once it is gone
cat > "$S/live.json" <<'JSON'
{ "family": "live", "requiresCompatibilities": ["EC2"], "networkMode": "none",
  "containerDefinitions": [ { "name": "t", "image": "berth-test/helper", "memory": 32,
    "command": ["signals"] } ] }
JSON
run_bg live --storage loop --task-id live "$S/live.json"
run_wait_line 60 "$S/live.err" 't | {"ready":true' || die "live task never got ready: $(cat "$S/live.err")"
[ -n "$(berth_procs)" ] || die "probe: no berth process seen while a task runs"
[ -n "$(fds_into)" ] || die "probe: no fd into berth's dirs seen while a task runs"
[ "$(loops)" != "$l0" ] || die "probe: the live task's loop device is not seen"
[ "$(netns)" != "$n0" ] || die "probe: the live task's network namespace is not seen"
[ -n "$(find "$RUN_CG" -mindepth 1 -type d)" ] || die "probe: the live task's cgroups are not seen"
[ -n "$(ls -A "$RUN_DIR")" ] || die "probe: the run dir is empty while a task runs"
kill -TERM $RUN_PID
run_wait || die "live task: berth run exited $?: $(cat "$S/live.err")"

# one_run I STORAGE: run I, its output in $S/out.I; exits 0 and logged it
one_run() {
	if ! run_berth --storage "$2" --task-id "leak$1" "$S/tiny.json" > "$S/out.$1" 2>&1; then
		die "run $1 ($2) failed: $(cat "$S/out.$1")"
	fi
	grep -qx 't | {"argv":\["tiny"\]}' "$S/out.$1" || die "run $1: no output: $(cat "$S/out.$1")"
	rm -f "$S/out.$1"
}
t0=$(run_uptime)
i=1
while [ $i -le $N ]; do
	storage=tmpfs
	[ $i -gt $((N - NLOOP)) ] && storage=loop
	if [ $((i % 50)) = 1 ] || [ $i = $((N - NLOOP + 1)) ]; then
		say "run $i ($storage): $(awk -v a="$t0" -v b="$(run_uptime)" 'BEGIN { printf "%.2f", b - a }') s since start"
	fi
	if [ $i -gt $NSEQ ] && [ $i -lt $((N - NLOOP)) ]; then
		# two at a time: i and i+1 (both tmpfs), each checked
		( one_run $((i + 1)) tmpfs ) &
		pair=$!
		one_run $i tmpfs
		wait $pair || exit 1   # (its die printed why)
		i=$((i + 2))
	else
		one_run $i $storage
		i=$((i + 1))
	fi
done
t1=$(run_uptime)
say "$N runs ($((N - NLOOP)) tmpfs, $((N - NSEQ - NLOOP)) of them in pairs; $NLOOP loop) in $(awk -v a="$t0" -v b="$t1" -v n=$N 'BEGIN { printf "%.1f s, %.2f s each", b - a, (b - a) / n }')"

[ "$(mounts)" = "$m0" ] || die "mounts changed: $(echo "$m0" > "$S/m0"; mounts > "$S/m1"; diff "$S/m0" "$S/m1")"
[ "$(loops)" = "$l0" ] || die "loop devices changed: before: $l0; after: $(loops)"
[ "$(netns)" = "$n0" ] || die "network namespaces changed: before: $n0; after: $(netns)"
p=$(berth_procs)
[ -z "$p" ] || die "berth processes left: $p"
f=$(fds_into)
[ -z "$f" ] || die "fds into berth's dirs: $f"
left=$(find "$RUN_CG" -mindepth 1 -type d)
[ -z "$left" ] || die "cgroups left under $RUN_CG: $(echo "$left" | head -n 5)"
say "cgroup root: $(tr '\n' ' ' < "$RUN_CG/cgroup.stat")"
[ "$(awk '$1 == "nr_descendants" { print $2 }' "$RUN_CG/cgroup.stat")" = 0 ] || die "nr_descendants not 0"
[ "$(cat "$RUN_CG/cgroup.procs")" = "" ] || die "processes in the cgroup root"
[ -z "$(ls -A "$RUN_DIR")" ] || die "run dir not empty: $(ls -A "$RUN_DIR" | head -n 5)"
[ -z "$(ls -A "$RUN_ROOT/images/leases")" ] || die "store leases left: $(ls -A "$RUN_ROOT/images/leases" | head -n 5)"
e=$(ls -A "$RUN_ROOT/ephemeral" 2>/dev/null | grep -v '^\.lock$')
[ -z "$e" ] || die "ephemeral volumes left: $(echo "$e" | head -n 5)"
[ "$(ls "$RUN_LOGS" | wc -l)" = $((N + 2)) ] || die "want $((N + 2)) task log dirs, have $(ls "$RUN_LOGS" | wc -l)"
