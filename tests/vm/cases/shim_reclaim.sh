# A shim that dies (kill -9) gives back everything its task held (issue 7,
# runtime/shim/reclaim.h). Tasks run through berthd with loop ephemeral
# storage: two awsvpc tasks, one bridge-mode task with a host port (the
# port range is that one port), and one pidMode host task (its container
# outlives its shim). A snapshot of the host is taken once the bridge and
# the nftables table exist, before the tasks start; a probe checks the
# snapshot sees the running tasks. Then:
# 1. kill -9 of the four shims while berthd runs: berthd notices through
#    the pidfds, records each task STOPPED with the reason, and afterwards
#    the host is as in the snapshot: no cgroup dir, netns, veth, nft set
#    element, IP or port reservation, loop device, mount, store lease,
#    ephemeral volume, taskrun dir or process of the tasks (the pidMode
#    host container was killed through its cgroup); the bundles keep
#    status.json and shim.log. A new bridge task gets the one host port
#    and an IP again.
# 2. kill -9 of berthd, then of two shims while it is down: the next
#    berthd's restore records them STOPPED and leaves the host as in the
#    snapshot; a new RunTask gets the port again.
# vm-only: berthd sets up task networking (a bridge, an nftables table)
# timeout: 900
run_setup 1024
S=$BERTH_SCRATCH
B() { "$BERTH_BIN/berth" --socket "$S/berthd.sock" "$@"; }
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "storage": "loop",
  "network": { "bridge": "bt9", "subnet": "10.81.0.0/24", "nftTable": "berthreclaim",
               "hostPortRange": "50100-50100" } }
JSON
on_exit "ip link del bt9"
on_exit "nft delete table inet berthreclaim"
start_berthd() {
	rm -f "$S/berthd.sock"
	_n=$(grep -c "container instance" "$S/berthd.log" 2>/dev/null)
	"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug >> "$S/berthd.log" 2>&1 &
	BD=$!
	wait_until 60 sh -c "[ \$(grep -c 'container instance' '$S/berthd.log') -gt ${_n:-0} ]" ||
		die "berthd did not start: $(tail -n 20 "$S/berthd.log")"
}
on_exit 'kill -9 $BD; for p in $(pids_of berth-shim); do kill -9 $p; done; for p in $(pids_matching "signals --exit-code 9"); do kill -9 $p; done'
start_berthd

ulim='"ulimits": [ { "name": "nofile", "softLimit": 1024, "hardLimit": 1024 } ]'
cat > "$S/aw.json" <<JSON
{ "family": "aw", "networkMode": "awsvpc", "memory": "64",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "stopTimeout": 2,
    "command": ["signals", "--exit-code", "9"], $ulim } ] }
JSON
cat > "$S/br.json" <<JSON
{ "family": "br", "networkMode": "bridge", "memory": "64",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "stopTimeout": 2,
    "portMappings": [ { "containerPort": 80 } ],
    "command": ["signals", "--exit-code", "9"], $ulim } ] }
JSON
cat > "$S/ph.json" <<JSON
{ "family": "ph", "networkMode": "none", "pidMode": "host", "memory": "64",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "stopTimeout": 2,
    "command": ["signals", "--exit-code", "9"], $ulim } ] }
JSON
for f in aw br ph; do B taskdef register "$S/$f.json" >/dev/null || die "register $f"; done

# ---- what the host looks like
mounts() { cat /proc/[0-9]*/mountinfo 2>/dev/null | cut -d' ' -f4- | sort -u; }
loops() {
	for _f in /sys/block/loop*/loop/backing_file; do [ -f "$_f" ] && echo "$_f $(cat "$_f")"; done
	true
}
netns() {
	for _p in /proc/[0-9]*; do stat -L -c %i "$_p/ns/net" 2>/dev/null; done | sort -u
	ls /run/netns 2>/dev/null
	true
}
links() { ip -o link | awk -F': ' '{ print $2 }' | sed 's/@.*//' | sort; }
elements() { nft list table inet berthreclaim 2>/dev/null | grep -A2 elements | tr -d ' \t\n'; echo; }
resv() { ls "$RUN_ROOT/net/ipam" "$RUN_ROOT/net/ports" 2>/dev/null | grep -vE '^(lock|last.*|)$|:$' | sort; }
leases() { ls -A "$RUN_ROOT/images/leases" 2>/dev/null; }
volumes() { ls -A "$RUN_ROOT/ephemeral" 2>/dev/null | grep -v '^\.lock$'; true; }
cgroups() { find "$RUN_CG" -mindepth 1 -type d 2>/dev/null; }
containers() { pids_matching "signals --exit-code 9" 2>/dev/null; }
snapshot() { # NAME: everything above into $S/NAME.snap
	{
		echo "## mounts"; mounts; echo "## loops"; loops; echo "## netns"; netns
		echo "## links"; links; echo "## nft"; elements; echo "## resv"; resv
		echo "## leases"; leases; echo "## volumes"; volumes; echo "## cgroups"; cgroups
		echo "## containers"; containers
	} > "$S/$1.snap"
}
# same_as NAME: the host is back to the snapshot NAME (veths and netns go
# a little after their last user: wait for them)
same_as() {
	wait_until 60 sh -c "[ -z \"\$(ip -o link show master bt9)\" ]" || true
	_i=0
	while [ $_i -lt 60 ]; do
		snapshot now
		cmp -s "$S/$1.snap" "$S/now.snap" && return 0
		sleep 1
		_i=$((_i + 1))
	done
	diff "$S/$1.snap" "$S/now.snap"
	die "the host is not as before the tasks ($2)"
}
status_of() { B ps -a 2> "$S/ps.err" | awk -v id="$(echo "$1" | cut -c1-12)" '$1 == id { print $3 }'; }
reason_of() { B --json describe "$1" | tr -d '\n' | sed -n 's/.*"stoppedReason": *"\([^"]*\)".*/\1/p'; }
host_port() { B --json describe "$1" | tr -d ' \n' | sed -n 's/.*"hostPort":\([0-9]*\).*/\1/p' | head -n 1; }
ip_of() { B --json describe "$1" | tr -d ' \n' | sed -n 's/.*"privateIpv4Address":"\([0-9.]*\)".*/\1/p' | head -n 1; }
run_one() { # FAMILY: a task id, RUNNING
	_id=$(B run --detach --wait "$1" 2> "$S/run.err") || die "run $1: $(cat "$S/run.err"); berthd: $(tail -n 5 "$S/berthd.log")"
	echo "$_id"
}
shim_pid() { cat "$RUN_DIR/$1/shim.pid"; }
stopped_lost() { # ID: STOPPED with the dead shim's reason
	[ "$(status_of "$1")" = STOPPED ] || return 1
	case $(reason_of "$1") in *"berth-shim exited before the task stopped"*) return 0 ;; esac
	die "task $1 STOPPED with reason '$(reason_of "$1")'"
}
bundle_kept() { # ID: status.json and shim.log kept; nothing of taskrun's, no socket
	[ -f "$RUN_DIR/$1/status.json" ] && [ -f "$RUN_DIR/$1/shim.log" ] || die "bundle $1: $(ls -A "$RUN_DIR/$1")"
	[ ! -e "$RUN_DIR/$1/$1" ] || die "bundle $1: taskrun's dir is left: $(ls -A "$RUN_DIR/$1/$1")"
	[ ! -e "$RUN_DIR/$1/shim.sock" ] && [ ! -e "$RUN_DIR/$1/shim.pid" ] || die "bundle $1: shim.sock/pid left"
}

# the bridge, the table and the stores exist once a task ran; then the snapshot
ID=$(run_one aw)
B stop --wait "$ID" >/dev/null || die "stop the first task"
# its veth and loop device go a little after it stopped
wait_until 60 sh -c "[ -z \"\$(ip -o link show master bt9)\" ]" || die "the first task's veth stays"
wait_until 60 sh -c "! cat /sys/block/loop*/loop/backing_file 2>/dev/null | grep -q '$RUN_ROOT/ephemeral'" ||
	die "the first task's loop device stays"
snapshot base
grep -q "^bt9$" "$S/base.snap" || die "snapshot: no bridge bt9"

# ------------------------------------------------------------------ 1
A1=$(run_one aw); A2=$(run_one aw); B1=$(run_one br); P1=$(run_one ph)
PORT=$(host_port "$B1")
[ "$PORT" = 50100 ] || die "the bridge task's host port is '$PORT', want 50100"
say "running: awsvpc $A1 ($(ip_of "$A1")), $A2 ($(ip_of "$A2")), bridge $B1 ($(ip_of "$B1"), port $PORT), pidMode host $P1"
# probe: the snapshot sees what the tasks hold
snapshot live
for what in loops netns links nft resv leases volumes cgroups containers; do
	sed -n "/^## $what\$/,/^## /p" "$S/base.snap" > "$S/a"
	sed -n "/^## $what\$/,/^## /p" "$S/live.snap" > "$S/b"
	cmp -s "$S/a" "$S/b" && die "probe: the snapshot does not see the tasks' $what"
done
for id in $A1 $A2 $B1 $P1; do
	[ -d "$RUN_DIR/$id/$id" ] || die "probe: no taskrun dir in $id's bundle"
done
# a second bridge task finds no port
B run --detach --wait br > /dev/null 2> "$S/noport.err" && die "a second bridge task got a port"

S1=$(shim_pid "$A1") S2=$(shim_pid "$A2") S3=$(shim_pid "$B1") S4=$(shim_pid "$P1")
kill -9 "$S1" "$S2" "$S3" "$S4"
for id in $A1 $A2 $B1 $P1; do
	wait_until 60 stopped_lost "$id" || die "task $id: '$(status_of "$id")' after its shim was killed
  berth ps: $(cat "$S/ps.err")
  berthd $BD: $(kill -0 "$BD" 2>/dev/null && echo running || echo 'not running')
$(tail -n 30 "$S/berthd.log")"
done
grep -c "reclaimed from its dead shim" "$S/berthd.log" | grep -qx 4 || die "berthd did not reclaim 4 tasks: $(grep -i reclaim "$S/berthd.log")"
grep -q "task $P1: reclaimed from its dead shim: cgroup (processes killed)" "$S/berthd.log" ||
	die "the pidMode host container was not killed through its cgroup: $(grep "$P1" "$S/berthd.log" | tail -n 3)"
for id in $A1 $A2 $B1 $P1; do bundle_kept "$id"; done
B --json describe "$P1" | grep -q '"stopCode": *"EssentialContainerExited"' || die "stop code: $(B --json describe "$P1")"
same_as base "after kill -9 of the shims"
grep "reclaimed from its dead shim" "$S/berthd.log" | sed 's/^.* \(task [0-9a-f]*: reclaimed\)/  | \1/'
say "4 shims killed: 4 tasks STOPPED with the reason, the host as before"

B2=$(run_one br)
[ "$(host_port "$B2")" = 50100 ] || die "a new bridge task got port '$(host_port "$B2")', want 50100 again"
[ -n "$(ip_of "$B2")" ] || die "the new bridge task has no IP"
B stop --wait "$B2" >/dev/null || die "stop $B2"
same_as base "after a normal stop"

# ------------------------------------------------------------------ 2
A3=$(run_one aw); B3=$(run_one br)
S1=$(shim_pid "$A3") S2=$(shim_pid "$B3")
kill -9 "$BD"
wait "$BD" 2>/dev/null
kill -9 "$S1" "$S2"
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null)" = Z ]; }
wait_until 30 gone "$S1" && wait_until 30 gone "$S2" || die "the shims did not die"
start_berthd
# the restore is synchronous (before berthd's "container instance" line):
# the two tasks are STOPPED at once, no waiting
for id in $A3 $B3; do
	stopped_lost "$id" && continue
	st=$(status_of "$id")
	if kill -0 "$BD" 2>/dev/null; then bst=running; else wait "$BD"; bst="exited with status $?"; fi
	die "task $id after the restore: '$st'
  berth ps: $(cat "$S/ps.err")
  berthd $BD: $bst
  berth ps -a: $(B ps -a 2>&1)
$(tail -n 40 "$S/berthd.log")"
done
grep -q "task $A3: reclaimed from its dead shim" "$S/berthd.log" || die "no reclaim of $A3 at restore"
for id in $A3 $B3; do bundle_kept "$id"; done
same_as base "after kill -9 of berthd and two shims"
B4=$(run_one br)
[ "$(host_port "$B4")" = 50100 ] || die "after the restore a bridge task got port '$(host_port "$B4")'"
B stop --wait "$B4" >/dev/null || die "stop $B4"
same_as base "at the end"
grep -q "reclaim task" "$S/berthd.log" && die "reclaim errors: $(grep "reclaim task" "$S/berthd.log")"
say "berthd and 2 shims killed: the restore recorded and reclaimed them; the port is free again"
