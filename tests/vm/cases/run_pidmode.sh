# berth run: pidMode task. The task's containers share one pid namespace
# whose PID 1 is the holder (berth-init --pause: nobody, no capabilities,
# in its own leaf cgroup): one container lists the others' processes (and a
# health check, run in the same namespace, sees them too); root in a
# container can read the holder's status but not its environ, and its
# SIGTERM to PID 1 is ignored; a container that exits leaves no process
# behind (its cgroup is emptied); an orphan goes to the holder, which reaps
# it; containers are not PID 1, so `sleep` dies of SIGTERM at stop (exit
# 143) instead of waiting for stopTimeout; initProcessEnabled still
# forwards the stop signal. Without pidMode task the containers do not see
# each other; with --no-limits the holder works without a cgroup. Nothing
# is left behind.
# timeout: 240
run_setup
S=$BERTH_SCRATCH
ID=7a5c0000000000000000000000000001
cat > "$S/task.json" <<'JSON'
{
  "family": "pidmode",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "pidMode": "task",
  "memory": "512",
  "containerDefinitions": [
    { "name": "server", "image": "berth-test/helper", "command": ["signals"] },
    { "name": "lister", "image": "berth-test/helper", "essential": false,
      "dependsOn": [ { "containerName": "server", "condition": "START" } ],
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["i=0; while [ $i -lt 150 ]; do berth-testhelper ps > /tmp/ps; grep -q 'berth-testhelper\",\"signals\"\\]' /tmp/ps && break; i=$((i+1)); sleep 0.2; done; cat /tmp/ps; echo pid $$; berth-testhelper cat --json /proc/1/environ; berth-testhelper kill TERM 1; berth-testhelper kill INT 1; echo listed; exec berth-testhelper sleep inf"],
      "healthCheck": { "command": ["CMD-SHELL", "berth-testhelper ps | grep -q '\"signals\"'"],
                       "interval": 5, "retries": 1 } },
    { "name": "leaver", "image": "berth-test/helper", "essential": false,
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["berth-testhelper sleep inf & echo left $!; sleep 1; exit 3"] },
    { "name": "orphaner", "image": "berth-test/helper", "essential": false,
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["(berth-testhelper sleep 8 &); echo ready; exec berth-testhelper sleep inf"] },
    { "name": "withinit", "image": "berth-test/helper", "essential": false, "stopTimeout": 20,
      "linuxParameters": { "initProcessEnabled": true },
      "command": ["sleep", "inf"] }
  ]
}
JSON
C=$RUN_CG/$ID
run_bg pid --task-id $ID "$S/task.json"
run_wait_line 90 "$S/pid.err" 'orphaner | ready' || die "orphaner not ready: $(cat "$S/pid.err")"
hp=$(cat "$C/~pause/cgroup.procs")

# the orphan's new parent is the holder, which reaps it
find_orphan() {
	for _f in /proc/[0-9]*/cmdline; do
		[ "$(tr '\0' ' ' 2>/dev/null < "$_f")" = "berth-testhelper sleep 8 " ] || continue
		orphan=${_f#/proc/}; orphan=${orphan%/cmdline}
		return 0
	done
	return 1
}
wait_until 10 find_orphan || die "no orphan found"
find_orphan
[ "$(awk '/^PPid:/ { print $2 }' /proc/$orphan/status)" = "$hp" ] ||
	die "the orphan's parent is $(awk '/^PPid:/ { print $2 }' /proc/$orphan/status), not the holder ($hp)"
say "orphan: host pid $orphan, parent $hp (the holder)"
zombie_of_holder() {
	for _f in /proc/[0-9]*/stat; do
		_s=$(cat "$_f" 2>/dev/null) || continue
		case ${_s##*) } in "Z $hp "*) return 0 ;; esac
	done
	return 1
}
wait_until 40 sh -c "! test -e /proc/$orphan" || die "the orphan is still there"
zombie_of_holder && die "the holder left a zombie"

for w in 'lister | listed' 'berth: withinit: started' 'berth: leaver: exited with code 3'; do
	run_wait_line 90 "$S/pid.err" "$w" || die "no '$w': $(cat "$S/pid.err")"
done

# the holder: one process in its leaf, PID 1 of its namespace, nobody, no
# capabilities, no_new_privs, seccomp
[ -n "$hp" ] && [ "$(echo "$hp" | wc -w)" = 1 ] || die "holder leaf: '$hp'"
[ "$(tr '\0' ' ' < /proc/$hp/cmdline)" = "berth-init --pause " ] || die "holder cmdline: $(tr '\0' ' ' < /proc/$hp/cmdline)"
for f in 'Uid:	65534	65534	65534	65534' 'CapEff:	0000000000000000' 'CapBnd:	0000000000000000' \
	'NoNewPrivs:	1' 'Seccomp:	2'; do
	grep -qx "$f" /proc/$hp/status || die "holder status lacks '$f': $(cat /proc/$hp/status)"
done
[ "$(awk '/^NSpid:/ { print $NF }' /proc/$hp/status)" = 1 ] || die "the holder is not PID 1 of its namespace"
ns=$(readlink /proc/$hp/ns/pid)
say "holder: host pid $hp, $ns"
# every container's processes are in that namespace, none of them is PID 1
for c in server lister orphaner withinit; do
	procs=$(cat "$C/$c/cgroup.procs")
	[ -n "$procs" ] || die "$c: no process in its cgroup"
	for p in $procs; do
		[ "$(readlink /proc/$p/ns/pid)" = "$ns" ] || die "$c: pid $p is in $(readlink /proc/$p/ns/pid), not $ns"
		[ "$(awk '/^NSpid:/ { print $NF }' /proc/$p/status)" != 1 ] || die "$c: pid $p is PID 1"
	done
done

# what lister saw: the holder as PID 1, the server, itself (not PID 1)
L=$(run_out "$S/pid.err" lister)
echo "$L" | sed 's/^/  lister| /'
echo "$L" | grep -q '^{"pid":1,"ppid":0,"state":"S","uid":65534,.*"cmdline":\["berth-init","--pause"\]}$' ||
	die "lister did not see the holder as PID 1"
echo "$L" | grep -q '"cmdline":\["/usr/bin/berth-testhelper","signals"\]}$' || die "lister did not see the server"
lp=$(echo "$L" | sed -n 's/^pid //p')
[ -n "$lp" ] && [ "$lp" != 1 ] || die "lister's shell is pid '$lp'"
echo "$L" | grep -q '"path":"/proc/1/environ","errno":"EACCES"' || die "lister could read the holder's environ"
echo "$L" | grep -q '"signal":"SIGTERM","errno":null' || die "lister's SIGTERM to PID 1 was not sent"
echo "$L" | grep -q '"signal":"SIGINT","errno":null' || die "lister's SIGINT to PID 1 was not sent"

# leaver exited: the process it left in the background was killed with it
wait_until 20 sh -c "test -z \"\$(cat '$C/leaver/cgroup.procs')\"" ||
	die "leaver's leftovers still run: $(cat "$C/leaver/cgroup.procs")"
# the health check ran in the shared namespace and saw the server
run_wait_line 60 "$S/pid.err" 'berth: lister: health UNKNOWN -> HEALTHY' ||
	die "lister's health check did not see the server: $(grep 'lister' "$S/pid.err")"
# the signals from the lister did not end the holder
[ -d /proc/$hp ] && [ "$(cat "$C/~pause/cgroup.procs")" = "$hp" ] || die "the holder is gone"

t_term=$(run_uptime)
kill -TERM $RUN_PID
run_wait
st=$?
sed 's/^/  | /' "$S/pid.err"
[ "$st" = 0 ] || die "berth run exited $st, want 0 (server's code)"
run_expect_j "$S/pid.result.json" exitCode server 0
run_expect_j "$S/pid.result.json" exitCode lister 143
run_expect_j "$S/pid.result.json" exitCode leaver 3
run_expect_j "$S/pid.result.json" exitCode orphaner 143
run_expect_j "$S/pid.result.json" exitCode withinit 143
run_expect_j "$S/pid.result.json" healthStatus lister HEALTHY
run_expect_j "$S/pid.result.json" stopCode UserInitiated
# not PID 1: the default action of SIGTERM, no stopTimeout (30 s) wait
t_end=$(run_uptime)
run_cmp "$t_end" '<' "$(run_add "$t_term" 15)" "the task took too long to stop"
[ -d /proc/$hp ] && die "the holder (pid $hp) outlived the task"
run_assert_clean

# -------------------------------------------- without pidMode task: apart
cat > "$S/apart.json" <<'JSON'
{
  "family": "apart",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "256",
  "containerDefinitions": [
    { "name": "server", "image": "berth-test/helper", "essential": false, "command": ["signals"] },
    { "name": "lister", "image": "berth-test/helper",
      "dependsOn": [ { "containerName": "server", "condition": "START" } ],
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["sleep 1; berth-testhelper ps; echo pid $$"] }
  ]
}
JSON
run_bg apart "$S/apart.json"
run_wait
st=$?
sed 's/^/  | /' "$S/apart.err"
[ "$st" = 0 ] || die "apart: berth run exited $st"
L=$(run_out "$S/apart.err" lister)
echo "$L" | grep -q '"cmdline":\["berth-testhelper","ps"\]' || die "apart: no ps output"
[ "$(echo "$L" | sed -n 's/^pid //p')" = 1 ] || die "apart: the lister's shell is not PID 1"
echo "$L" | grep -q 'signals' && die "apart: the lister saw the server"
echo "$L" | grep -q -- '--pause' && die "apart: a holder in a task without pidMode task"
run_assert_clean

# ---------------------------------------- pidMode task with --no-limits
cat > "$S/nolim.json" <<'JSON'
{
  "family": "nolim",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "pidMode": "task",
  "memory": "256",
  "containerDefinitions": [
    { "name": "lister", "image": "berth-test/helper", "command": ["ps"] }
  ]
}
JSON
run_bg nolim --no-limits "$S/nolim.json"
run_wait
st=$?
sed 's/^/  | /' "$S/nolim.err"
[ "$st" = 0 ] || die "nolim: berth run exited $st"
run_out "$S/nolim.err" lister | grep -q '^{"pid":1,"ppid":0,"state":"S","uid":65534,.*"cmdline":\["berth-init","--pause"\]}$' ||
	die "nolim: no holder as PID 1"
run_assert_clean

# ------------------------- the escape suite in a shared pid namespace
# PID 1 is now the holder: ptrace-pid1 and setns-host aim at it
SUID=/usr/bin/berth-testhelper-suid
cat > "$S/escape.json" <<JSON
{
  "family": "escape",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "pidMode": "task",
  "memory": "512",
  "containerDefinitions": [
    { "name": "root", "image": "berth-test/helper", "essential": false,
      "command": ["escape", "--all", "--path", "$SUID"] },
    { "name": "app", "image": "berth-test/helper", "user": "app",
      "dependsOn": [ { "containerName": "root", "condition": "COMPLETE" } ],
      "command": ["escape", "--all", "--path", "$SUID"] }
  ]
}
JSON
run_bg escape "$S/escape.json"
run_wait
st=$?
[ "$st" = 0 ] || { sed 's/^/  | /' "$S/escape.err"; die "escape: berth run exited $st"; }
run_expect_j "$S/escape.result.json" exitCode root 0
run_expect_j "$S/escape.result.json" exitCode app 0
for c in root app; do
	n=$(run_out "$S/escape.err" $c | grep -c '"escape"')
	[ "$n" -ge 25 ] || die "$c: only $n attempts ran"
	# not even inconclusive: pid 1 is another process here (setuid-gain
	# needs a non-root user)
	bad=$(run_out "$S/escape.err" $c | grep '"escape"' | grep -v '"result":"denied"' |
		grep -v '"escape":"setuid-gain","result":"inconclusive"')
	[ -z "$bad" ] || die "$c: not denied: $bad"
	run_out "$S/escape.err" $c | grep -q '"escape":"ptrace-pid1","result":"denied"' ||
		die "$c: ptrace of the holder was not denied"
done
say "escape suite in a pidMode task: $n attempts, all denied"
run_assert_clean

# no holder anywhere
for f in /proc/[0-9]*/cmdline; do
	case $(tr '\0' ' ' 2>/dev/null < "$f") in "berth-init --pause "*) die "a holder is left: $f" ;; esac
done
