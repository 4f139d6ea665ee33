# berth events and berth stats with tasks that really run (issue 7, CLI):
# a task's events in order (PROVISIONING .. RUNNING .. STOPPED with the exit
# code), a follower started before the run that sees them live (each once),
# stats of a running task (memory, pids, the limits of its definition, the
# network of its namespace), memhog and cpuburn moving the figures, stats
# and events of a stopped and of unknown tasks, and nothing left behind.
# tests/cli/test_cli.py (case events) covers the rest on the host.
# timeout: 420
run_setup 1024
S=$BERTH_SCRATCH
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "storage": "tmpfs" }
JSON
"$BERTH_BIN/berthd" --config "$S/berthd.json" > "$S/berthd.log" 2>&1 &
BD=$!
on_exit "kill $BD"
wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(cat "$S/berthd.log")"
export BERTH_SOCKET=$S/berthd.sock BERTH_LOG_DIR=$RUN_LOGS BERTH_RUN_DIR=$RUN_DIR
B=$BERTH_BIN/berth
on_exit "'$B' ps -q | xargs -r '$B' stop --wait >/dev/null"

# JSON without jq: one object per line after splitting at '{'
# obj_of JSON PREFIX: the line of the object that starts with PREFIX
obj_of() { echo "$1" | tr '{' '\n' | grep "^$2" | head -n 1; }
# num VALUE: the integer part of a JSON number ("" stays "")
num() { echo "${1%%.*}"; }

cat > "$S/seven.json" <<'JSON'
{ "family": "ev-seven", "requiresCompatibilities": ["EC2"], "networkMode": "none",
  "memory": "128",
  "containerDefinitions": [
    { "name": "main", "image": "berth-test/helper", "entryPoint": ["/bin/sh", "-c"],
      "command": ["echo hello; sleep 2; exit 7"] } ] }
JSON
# hog and burn idle until the test, after the first stats sample, touches
# /tmp/go in each (berth exec); then they load memory
# and CPU; hog has a memory limit of its own, burn has the task's
cat > "$S/hog.json" <<'JSON'
{ "family": "ev-hog", "requiresCompatibilities": ["EC2"], "networkMode": "none",
  "memory": "512",
  "containerDefinitions": [
    { "name": "hog", "image": "berth-test/helper", "memory": 256, "entryPoint": ["/bin/sh", "-c"], "stopTimeout": 2,
      "command": ["echo idle; until [ -e /tmp/go ]; do sleep 1; done; echo hog-start; exec memhog 160 --step 16 --hold inf"] },
    { "name": "burn", "image": "berth-test/helper", "essential": false, "entryPoint": ["/bin/sh", "-c"], "stopTimeout": 2,
      "command": ["until [ -e /tmp/go ]; do sleep 1; done; echo burn-start; exec cpuburn --ms 600000"] } ] }
JSON

# ------------------------------------------------ events: a follower, then a run
"$B" events -f --json > "$S/follow.out" 2> "$S/follow.err" &
EF=$!
on_exit "kill $EF"
"$B" events -f > "$S/follow.txt" 2>&1 &
EFT=$!
on_exit "kill $EFT"
sleep 1
ID=$("$B" run --detach "$S/seven.json" 2> "$S/run.err") || die "run --detach: $(cat "$S/run.err")"
say "task $ID started"
# the follower sees the task stop as it happens
wait_until 60 grep -q "\"taskArn\":\"[^\"]*$ID\",\"kind\":\"task-status\",\"status\":\"STOPPED\"" "$S/follow.out" ||
	die "events -f did not show the task stopping: $(cat "$S/follow.out" "$S/follow.err"); $("$B" describe "$ID")"
"$B" --json events --task "$ID" > "$S/events.json" || die "events --task"
grep -o '"summary":"[^"]*"' "$S/events.json" | sed 's/"summary":"//; s/"$//' > "$S/summaries"
say "events of $ID:"
cat "$S/summaries"
# in order: PROVISIONING first, RUNNING, the container's exit, STOPPED last
line_of() { grep -n -x "$1" "$S/summaries" | head -n 1 | cut -d: -f1; }
p=$(line_of "task PROVISIONING"); r=$(line_of "task RUNNING")
c=$(line_of "container main STOPPED exit 7"); s=$(line_of "task STOPPED (EssentialContainerExited.*")
[ -n "$p" ] && [ -n "$r" ] && [ -n "$c" ] && [ -n "$s" ] || die "missing events: $(cat "$S/summaries")"
[ "$p" = 1 ] && [ "$p" -lt "$r" ] && [ "$r" -lt "$c" ] && [ "$c" -lt "$s" ] &&
	[ "$s" = "$(wc -l < "$S/summaries")" ] || die "events out of order: $(cat "$S/summaries")"
grep -q -x "container main RUNNING" "$S/summaries" || die "no 'container main RUNNING'"
grep -q '"kind":"container-status","container":"main","status":"STOPPED","previous":"RUNNING","exitCode":7' \
	"$S/events.json" || die "the container's event has no exitCode 7: $(grep main "$S/events.json" | tail -n 1 | cut -c1-300)"
[ "$(grep -c "task STOPPED" "$S/summaries")" = 1 ] || die "STOPPED recorded more than once"
# the follower printed each of the task's events once, in the same order
grep -o "\"seq\":[0-9]*,\"time\":[0-9.]*,\"cluster\":\"default\",\"taskArn\":\"[^\"]*$ID\"" "$S/follow.out" |
	cut -d, -f1 > "$S/seq.follow"
grep -o '"seq":[0-9]*' "$S/events.json" > "$S/seq.list"
cmp -s "$S/seq.follow" "$S/seq.list" || die "events -f saw $(cat "$S/seq.follow" | tr '\n' ' '), events --task $(cat "$S/seq.list" | tr '\n' ' ')"
grep -q "$(echo "$ID" | cut -c1-12)   task STOPPED" "$S/follow.txt" ||
	die "the table follower: $(cat "$S/follow.txt")"
say "events: $(wc -l < "$S/summaries") in order, the follower saw them live"

# ------------------------------------------------ stats of a running task
ID2=$("$B" run --detach --wait "$S/hog.json" 2> "$S/run2.err") || die "run hog: $(cat "$S/run2.err")"
say "task $ID2 is RUNNING"
js=$("$B" --json stats --no-stream "$ID2") || die "stats --no-stream --json"
"$B" logs "$ID2" hog 2>/dev/null | grep -q hog-start && die "hog started before the first sample"
hog=$(obj_of "$js" '"name":"hog"'); burn=$(obj_of "$js" '"name":"burn"'); task=$(obj_of "$js" '"taskArn"')
say "idle: hog {$hog"
say "idle: burn {$burn"
m1=$(json_field "$hog" memoryUsage)
[ -n "$m1" ] && [ "$m1" -gt 0 ] || die "hog's memory usage: '$m1'"
[ "$(json_field "$hog" pids)" -ge 1 ] || die "hog's pids: $hog"
[ "$(json_field "$burn" pids)" -ge 1 ] || die "burn's pids: $burn"
[ "$(json_field "$hog" memoryLimit)" = 268435456 ] || die "hog's limit is not its 256 MiB: $hog"
[ "$(json_field "$hog" memoryMax)" = 268435456 ] || die "hog's memory.max: $hog"
[ "$(json_field "$burn" memoryLimit)" = 536870912 ] || die "burn's limit is not the task's 512 MiB: $burn"
[ "$(json_field "$task" memoryLimit)" = 536870912 ] || die "the task's limit: $task"
[ "$(json_field "$task" pids)" -ge 2 ] || die "the task's pids: $task"
# networkMode none: a namespace of its own with lo only
[ "$(json_field "$task" networkRxBytes)" = 0 ] && [ "$(json_field "$task" networkTxBytes)" = 0 ] ||
	die "the task's network: $task"
c1=$(num "$(json_field "$burn" cpuPercent)")
[ -n "$c1" ] && [ "$c1" -lt 20 ] || die "burn is idle, its CPU%: '$c1'"
# the table: a row per container
"$B" stats --no-stream "$ID2" > "$S/stats.txt" || die "stats --no-stream"
cat "$S/stats.txt"
head -n 1 "$S/stats.txt" | grep -q "^TASK  *CONTAINER  *CPU %  *MEM USAGE / LIMIT  *MEM %  *PIDS  *NET I/O$" ||
	die "stats header"
grep -qE "^$(echo "$ID2" | cut -c1-12) +hog +[0-9.]+% +[0-9.]+[KMG]?i?B / 256MiB +[0-9.]+% +[1-9][0-9]* +0B / 0B$" "$S/stats.txt" ||
	die "stats row of hog"
grep -qE "^$(echo "$ID2" | cut -c1-12) +burn +[0-9.]+% +[0-9.]+[KMG]?i?B / 512MiB " "$S/stats.txt" || die "stats row of burn"
# without TASK: every RUNNING task
"$B" stats --no-stream | grep -q "^$(echo "$ID2" | cut -c1-12) " || die "stats without TASK: $("$B" stats --no-stream)"

# the load starts (each container waits for its /tmp/go): memory and CPU move
"$B" exec "$ID2" hog -- touch /tmp/go || die "exec touch /tmp/go in hog"
"$B" exec "$ID2" burn -- touch /tmp/go || die "exec touch /tmp/go in burn"
wait_until 90 sh -c "'$B' logs $ID2 2>/dev/null | grep -q burn-start" || die "the load never started"
big() {
	_h=$(obj_of "$("$B" --json stats --no-stream "$ID2")" '"name":"hog"')
	[ "$(json_field "$_h" memoryUsage)" -ge $((150 * 1048576)) ]
}
wait_until 90 big || die "memhog did not move hog's memory: $(obj_of "$("$B" --json stats --no-stream "$ID2")" '"name":"hog"')"
js=$("$B" --json stats --no-stream "$ID2") || die "stats --json"
hog=$(obj_of "$js" '"name":"hog"'); burn=$(obj_of "$js" '"name":"burn"'); task=$(obj_of "$js" '"taskArn"')
say "loaded: hog {$hog"
say "loaded: burn {$burn"
m2=$(json_field "$hog" memoryUsage); c2=$(num "$(json_field "$burn" cpuPercent)")
[ "$m2" -ge $((m1 + 140 * 1048576)) ] || die "hog's memory went from $m1 to $m2 only"
[ "$(json_field "$task" memoryUsage)" -ge "$m2" ] || die "the task's memory counts hog's: $task"
[ -n "$(json_field "$hog" memoryPeak)" ] && [ "$(json_field "$hog" memoryPeak)" -ge "$m2" ] ||
	say "note: no memory.peak on this kernel (or below usage): $(json_field "$hog" memoryPeak)"
[ -n "$c2" ] && [ "$c2" -ge 40 ] || die "cpuburn did not move burn's CPU%: '$c2' (was $c1)"
[ "$(num "$(json_field "$hog" cpuPercent)")" -lt 40 ] || die "hog is not burning CPU: $hog"
say "stats: hog $m1 -> $m2 bytes, burn ${c1}% -> ${c2}% CPU"
# streaming: a block a second while it runs (not a terminal: plain blocks)
"$B" stats "$ID2" > "$S/stream.txt" 2>&1 &
SP=$!
on_exit "kill $SP"
# two blocks within 4 s (as many as it printed by then are counted)
blocks2() { [ "$(grep -c "^TASK " "$S/stream.txt")" -ge 2 ]; }
wait_until 4 blocks2
kill -INT "$SP"
wait "$SP" || die "stats (streaming) exit status $?"
n=$(grep -c "^TASK " "$S/stream.txt")
[ "$n" -ge 2 ] || die "stats streamed $n blocks: $(cat "$S/stream.txt")"

# ------------------------------------------------ stopped and unknown tasks
"$B" stop --wait "$ID2" > /dev/null || die "stop"
js=$("$B" --json stats --no-stream "$ID2") || die "stats of a stopped task"
echo "$js" | grep -q '"lastStatus":"STOPPED"' || die "stats of a stopped task: $js"
[ -z "$(json_field "$(obj_of "$js" '"name":"hog"')" memoryUsage)" ] || die "a stopped task has figures: $js"
"$B" stats --no-stream | grep -q "^$(echo "$ID2" | cut -c1-12) " && die "stats lists the stopped task"
"$B" --json events --task "$ID2" | grep -q '"summary":"task desired STOPPED (Task stopped by user)"' ||
	die "no desired STOPPED event: $("$B" events --task "$ID2")"
"$B" stats --no-stream ffffffffffffffffffffffffffffffff > /dev/null 2>&1
[ $? = 3 ] || die "stats of an unknown task: want exit 3"
"$B" stats --no-stream abcabc > /dev/null 2>&1
[ $? = 3 ] || die "stats of an unknown prefix: want exit 3"
"$B" events --task ffffffffffffffffffffffffffffffff > /dev/null 2>&1
[ $? = 3 ] || die "events of an unknown task: want exit 3"
"$B" stats --no-stream --cluster nope > /dev/null 2>&1
[ $? = 3 ] || die "stats of an unknown cluster: want exit 3"
kill -INT "$EF" "$EFT"
wait "$EF" || die "events -f exit status $?"

# ------------------------------------------------ nothing left
kill "$BD"
wait "$BD" 2>/dev/null
run_assert_clean
say "events and stats of running tasks through berthd"
