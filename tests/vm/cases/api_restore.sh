# berthd live restore and crash safety (issue 7): 20 running tasks, kill -9
# of berthd, 3 tasks exit while it is down, a new berthd re-adopts the 17
# (same ids, nothing restarted, no duplicate) and records the 3 with their
# real exit codes; a new RunTask works. Then kill -9 in the middle of a
# burst of RunTask: every task ends up RUNNING (adopted) or STOPPED with a
# reason, and once they are stopped nothing is left on the host.
# vm-only: berthd sets up task networking (a bridge, an nftables table)
# timeout: 900
run_setup 1024
S=$BERTH_SCRATCH
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "storage": "tmpfs",
  "network": { "bridge": "bt8", "subnet": "10.79.0.0/24", "nftTable": "berthrestore" } }
JSON
on_exit "ip link del bt8"
on_exit "nft delete table inet berthrestore"
B() { "$BERTH_BIN/berth" --socket "$S/berthd.sock" "$@"; }
start_berthd() {
	rm -f "$S/berthd.sock"
	_n=$(grep -c "container instance" "$S/berthd.log" 2>/dev/null)
	"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug >> "$S/berthd.log" 2>&1 &
	BD=$!
	# "container instance ...; N tasks running" comes once the restore is done
	wait_until 60 sh -c "[ \$(grep -c 'container instance' '$S/berthd.log') -gt ${_n:-0} ]" ||
		die "berthd did not start: $(tail -n 20 "$S/berthd.log")"
}
on_exit 'kill -9 $BD; for p in $(pids_of berth-shim); do kill -9 $p; done'
start_berthd

ulim='"ulimits": [ { "name": "nofile", "softLimit": 1024, "hardLimit": 1024 } ]'
cat > "$S/sleeper.json" <<JSON
{ "family": "sleeper", "networkMode": "awsvpc", "memory": "64",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "command": ["sleep", "900"], "stopTimeout": 2, $ulim } ] }
JSON
cat > "$S/waiter.json" <<JSON
{ "family": "waiter", "networkMode": "awsvpc", "memory": "64",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper",
    "command": ["signals", "--exit-on", "USR1", "--exit-code", "7"], $ulim } ] }
JSON
B taskdef register "$S/sleeper.json" >/dev/null || die "register sleeper"
B taskdef register "$S/waiter.json" >/dev/null || die "register waiter"
B run --detach --count 10 sleeper >/dev/null || die "run 10 sleepers"
B run --detach --count 7 sleeper >/dev/null || die "run 7 sleepers"
B run --detach --count 3 waiter >/dev/null || die "run 3 waiters"
running() { [ "$(B ps -q | wc -l)" = "$1" ] && ! B ps | grep -qE 'PROVISIONING|PENDING'; }
wait_until 300 running 20 || die "20 tasks did not reach RUNNING: $(B ps)"
B ps -q | sort > "$S/before"
say "20 tasks RUNNING; $(pids_of berth-shim | wc -l) shims"
[ "$(pids_of berth-shim | wc -l)" = 20 ] || die "expected 20 shims: $(pids_of berth-shim)"

kill -9 "$BD"
wait "$BD" 2>/dev/null
# the waiters' containers exit 7 while berthd is down
w=$(pids_matching "signals --exit-on USR1")
[ "$(echo $w | wc -w)" = 3 ] || die "expected 3 waiter containers to signal: '$w'"
kill -USR1 $w
shims_are() { [ "$(pids_of berth-shim | wc -l)" = "$1" ]; }
wait_until 60 shims_are 17 || die "the 3 waiters' shims did not finish: $(pids_of berth-shim)"
say "berthd killed; 3 tasks exited while it was down"

start_berthd
grep -q "re-adopted" "$S/berthd.log" || die "berthd logged no re-adoption: $(tail -n 20 "$S/berthd.log")"
B ps -q | sort > "$S/after"
[ "$(wc -l < "$S/after")" = 17 ] || die "expected 17 RUNNING after the restart: $(B ps -a)"
for id in $(cat "$S/after"); do grep -qx "$id" "$S/before" || die "task $id is new: a duplicate?"; done
[ "$(pids_of berth-shim | wc -l)" = 17 ] || die "shims after the restart: $(pids_of berth-shim)"
B --json ps -a > "$S/all.json"
n=$(grep -o '"taskDefinitionArn"' "$S/all.json" | wc -l)
[ "$n" = 20 ] || die "ListTasks shows $n tasks, expected 20 (17 running + 3 stopped)"
B --json ps -a --family waiter > "$S/waiters.json"
[ "$(grep -o '"exitCode": *7' "$S/waiters.json" | wc -l)" = 3 ] || die "the 3 waiters' exit code 7 was not recorded: $(cat "$S/waiters.json")"
[ "$(grep -o '"lastStatus": *"STOPPED"' "$S/waiters.json" | wc -l)" -ge 3 ] || die "waiters not STOPPED: $(cat "$S/waiters.json")"
say "17 re-adopted with the same ids; 3 STOPPED with exit code 7"
B run --detach --wait sleeper >/dev/null || die "a new RunTask after the restart failed"
[ "$(B ps -q | wc -l)" = 18 ] || die "expected 18 running: $(B ps)"

# ---- kill -9 during a burst of RunTask
# stop_all: StopTask for every task at once, then until every task is
# STOPPED (ps -a, which lists them all)
all_stopped() {   # every task's STATUS (lastStatus) in berth ps -a
	_t=$(B ps -a) || return 1
	[ -z "$(echo "$_t" | awk 'NR > 1 && $3 != "STOPPED"')" ]
}
stop_all() { B stop $(B ps -q) >/dev/null && wait_until 120 all_stopped; }
stop_all || die "stop all: $(B ps -a)"
for i in 1 2 3 4; do B run --detach --count 5 sleeper >/dev/null 2>&1 & done
usleep 700000 2>/dev/null || sleep 1
kill -9 "$BD"
wait
start_berthd
settled() { ! B ps | grep -qE 'PROVISIONING|PENDING'; }
wait_until 300 settled || die "tasks did not settle after the crash: $(B ps)"
B --json ps -a > "$S/burst.json"
say "after the crash: $(B ps -q | wc -l) running, $(grep -o '"lastStatus": *"STOPPED"' "$S/burst.json" | wc -l) stopped"
# every task not running is STOPPED with a reason
if grep -o '"lastStatus": *"[A-Z]*"' "$S/burst.json" | grep -vqE 'RUNNING|STOPPED'; then
	die "a task is neither RUNNING nor STOPPED: $(B ps -a)"
fi
stop_all
wait_until 60 shims_are 0 || die "shims left: $(pids_of berth-shim)"
[ -z "$(ls "$RUN_DIR" 2>/dev/null)" ] || die "bundles left in $RUN_DIR: $(ls "$RUN_DIR")"
left=$(find "$RUN_CG" -mindepth 1 -type d 2>/dev/null | head -n 5)
[ -z "$left" ] || die "task cgroups left: $left"
[ "$(ip -o link show master bt8 2>/dev/null | wc -l)" = 0 ] || die "veths left on bt8: $(ip -o link show master bt8)"
grep -q "$RUN_DIR" /proc/self/mountinfo && die "mounts left under $RUN_DIR: $(grep "$RUN_DIR" /proc/self/mountinfo)"
say "crash during a RunTask burst: every task RUNNING or STOPPED; nothing left after stopping them"
