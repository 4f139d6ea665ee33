# Scheduled tasks (issue 12): `berth schedule create` with rate(1 minute)
# under a test clock of 2 seconds per minute starts a task every 2 s, on
# time; every run is recorded with its task and the task's exit code; runs
# missed while berthd was down are handled by the schedule's missedRuns
# policy (run-once: one run at restart for the latest, however late); rm
# stops the runs.
# vm-only: berthd sets up task networking (a bridge, an nftables table)
# timeout: 600
run_setup 1024
S=$BERTH_SCRATCH
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "storage": "tmpfs",
  "serviceIntervalMilliseconds": 250, "scheduleSecondsPerMinute": 2,
  "network": { "bridge": "bt13", "subnet": "10.81.0.0/24", "nftTable": "berthsched" } }
JSON
on_exit "ip link del bt13"
on_exit "nft delete table inet berthsched"
B() { "$BERTH_BIN/berth" --socket "$S/berthd.sock" "$@"; }
start_berthd() {
	rm -f "$S/berthd.sock"
	"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug >> "$S/berthd.log" 2>&1 &
	BD=$!
	wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(tail -n 20 "$S/berthd.log")"
}
on_exit 'kill $BD 2>/dev/null; wait_until 20 sh -c "! kill -0 $BD"'
start_berthd

cat > "$S/tick.json" <<JSON
{ "family": "tick", "networkMode": "none", "memory": "32",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "command": ["exit", "3"] } ] }
JSON
B taskdef register "$S/tick.json" >/dev/null || die "register tick"
B schedule create tick --expression 'rate(2 minutes)' --task-definition tick --missed-runs run-once \
	> "$S/create.out" || die "schedule create: $(cat "$S/create.out")"
B schedule create bad --expression 'cron(0 0 32 * ? *)' --task-definition tick 2> "$S/bad.err" &&
	die "a cron with day-of-month 32 was accepted"
grep -q 'Day-of-month' "$S/bad.err" || die "the error does not name the field: $(cat "$S/bad.err")"
# rate(2 minutes) at 2 s per minute: a run every 4 s
sleep 13
B --json schedule describe tick --runs 100 > "$S/d.json" || die "describe: $(cat "$S/d.json")"
B schedule ls | grep -q "^tick " || die "schedule ls: $(B schedule ls)"
B schedule describe tick > "$S/d.txt"
say "$(head -n 4 "$S/d.txt")"
# 3 runs, 4 s apart (fire times), each started within 1.5 s of its time
n=$(grep -o '"fireTime": *[0-9]*' "$S/d.json" | wc -l)
[ "$n" -ge 3 ] && [ "$n" -le 4 ] || die "$n runs in 13 s, expected 3: $(cat "$S/d.json")"
tr -d ' \n' < "$S/d.json" | grep -q '"missedBefore":[1-9]' && die "a run before any downtime counts missed ones: $(cat "$S/d.json")"
grep -o '"fireTime": *[0-9]*' "$S/d.json" | grep -o '[0-9]*$' | sort -n > "$S/fires"
prev=
while read -r t; do
	[ -z "$prev" ] || [ $((t - prev)) = 4 ] || die "fire times $prev then $t: not 4 s apart"
	prev=$t
done < "$S/fires"
late=$(tr -d ' \n' < "$S/d.json" | grep -o '"fireTime":[0-9]*,"startedAt":[0-9.]*' |
	awk -F'[:,]' '{ d = $4 - $2; if (d > m) m = d } END { print m + 0 }')
awk "BEGIN { exit !($late < 1.5) }" || die "a run started $late s after its fire time"
# their tasks ran and exited 3
wait_until 20 sh -c "'$BERTH_BIN/berth' --socket '$S/berthd.sock' --json schedule describe tick | tr -d ' \n' | grep -q '\"exitCode\":3'" ||
	die "no run's task exited 3: $(B schedule describe tick)"
say "3 runs, 4 s apart, at most ${late} s late; tasks exited 3"

# berthd down for 9 s: 2 fire times go by; run-once runs once at restart
kill "$BD"
wait_until 20 sh -c "! kill -0 $BD" || die "berthd did not stop"
before=$(grep -c "schedule tick: run for" "$S/berthd.log")
sleep 9
start_berthd
wait_until 10 sh -c "[ \$(grep -c 'schedule tick: run for' '$S/berthd.log') -gt $before ]" ||
	die "no run after the restart"
# (the last 3 runs: the next regular fire, 4 s later, may already have
# come by the time this asks; before the restart none had missed any)
B --json schedule describe tick --runs 3 | tr -d ' \n' | grep -q '"missedBefore":[1-9]' ||
	die "the first run after the restart does not count the missed ones: $(B --json schedule describe tick --runs 3)"
say "after 9 s down: one run at restart for the missed fire times (run-once)"

B schedule rm tick | grep -q "tick deleted" || die "schedule rm"
after=$(grep -c "schedule tick: run for" "$S/berthd.log")
sleep 6
[ "$(grep -c "schedule tick: run for" "$S/berthd.log")" = "$after" ] || die "runs went on after rm"
B schedule describe tick 2>/dev/null && die "describe of a deleted schedule succeeded"
say "schedule rm: no more runs"
