# berth run, resource limits (issue 5), one task of 512 cpu units, 256 MiB
# and --pids-max 200: the limits land in the task and leaf cgroups
# (memoryReservation as the leaf's memory.low, read while running); a
# memory hog with memory 64 is OOM-killed (137 and the OOM reason) while
# the essential container keeps running; a single-threaded cpu hog gets
# 0.5 +/- 0.07 CPU over 3 s; a fork bomb stops at pids.max and the guest
# is fine. The hogs run one after the other (COMPLETE), so they do not
# share the task's CPU. The essential container ends on SIGUSR1.
# timeout: 150
run_setup
S=$BERTH_SCRATCH
ID=11111111222222223333333344444444
cat > "$S/task.json" <<'JSON'
{
  "family": "limits",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "cpu": "512",
  "memory": "256",
  "containerDefinitions": [
    { "name": "main", "image": "berth-test/helper", "memoryReservation": 32,
      "command": ["signals", "--exit-on", "USR1"] },
    { "name": "hog", "image": "berth-test/helper", "essential": false, "memory": 64,
      "command": ["memhog", "256", "--step", "8"] },
    { "name": "burn", "image": "berth-test/helper", "essential": false,
      "dependsOn": [ { "containerName": "hog", "condition": "COMPLETE" } ],
      "command": ["cpuburn", "--ms", "3000"] },
    { "name": "bomb", "image": "berth-test/helper", "essential": false,
      "dependsOn": [ { "containerName": "burn", "condition": "COMPLETE" } ],
      "command": ["forkbomb", "--max", "1000", "--hold-ms", "200"] }
  ]
}
JSON
run_bg limits --task-id $ID --pids-max 200 "$S/task.json"
run_wait_line 60 "$S/limits.err" 'main | {"ready":true' || die "main never got ready: $(cat "$S/limits.err")"
T=$RUN_CG/$ID
[ "$(cat "$T/cpu.max")" = "50000 100000" ] || die "task cpu.max: $(cat "$T/cpu.max")"
[ "$(cat "$T/memory.max")" = 268435456 ] || die "task memory.max: $(cat "$T/memory.max")"
[ "$(cat "$T/pids.max")" = 200 ] || die "task pids.max: $(cat "$T/pids.max")"
[ "$(cat "$T/main/memory.low")" = 33554432 ] || die "main's memory.low: $(cat "$T/main/memory.low"), want 32 MiB"
[ "$(cat "$T/burn/memory.low")" = 0 ] || die "burn's memory.low: $(cat "$T/burn/memory.low")"
[ "$(cat "$T/hog/memory.max")" = 67108864 ] || die "hog's memory.max: $(cat "$T/hog/memory.max")"
[ "$(cat "$T/hog/memory.swap.max")" = 0 ] || die "hog's memory.swap.max: $(cat "$T/hog/memory.swap.max")"
say "cgroups: task cpu.max $(cat "$T/cpu.max"), memory.max $(cat "$T/memory.max"), pids.max $(cat "$T/pids.max"); main memory.low $(cat "$T/main/memory.low")"

run_wait_line 60 "$S/limits.err" "berth: hog: exited" || die "hog never ended"
grep -q 'populated 1' "$T/main/cgroup.events" || die "main is not running any more after hog's OOM kill"
run_wait_line 60 "$S/limits.err" "berth: bomb: exited" || die "bomb never ended: $(cat "$S/limits.err")"
grep -q 'populated 1' "$T/main/cgroup.events" || die "main is not running any more after the fork bomb"
# the guest still forks and runs programs
out=$(sh -c 'for i in 1 2 3 4 5 6 7 8; do sh -c "exit 0" & done; wait; $0 echo fine' "$HELPER") ||
	die "the guest cannot run programs after the fork bomb"
[ "$out" = '{"argv":["fine"]}' ] || die "after the fork bomb: $out"
kill -USR1 $(cat "$T/main/cgroup.procs")
run_wait
st=$?
sed 's/^/  | /' "$S/limits.err"
[ "$st" = 0 ] || die "berth run exited $st, want 0 (main's code)"

run_expect_j "$S/limits.result.json" exitCode hog 137
run_expect_j "$S/limits.result.json" reason hog "OutOfMemoryError: Container killed due to memory usage"
run_expect_j "$S/limits.result.json" exitCode main 0
run_expect_j "$S/limits.result.json" reason main ""
run_expect_j "$S/limits.result.json" exitCode burn 0
run_expect_j "$S/limits.result.json" exitCode bomb 0
run_expect_j "$S/limits.result.json" stopCode EssentialContainerExited
last=$(run_out "$S/limits.err" hog | tail -n 1)
say "hog's last line: $last"

r=$(run_out "$S/limits.err" burn | sed -n 's/.*"ratio":\([0-9.]*\).*/\1/p')
say "cpuburn in a 512-unit task: $(run_out "$S/limits.err" burn)"
run_cmp "$r" '>=' 0.43 "cpu ratio of a 512-unit task"
run_cmp "$r" '<=' 0.57 "cpu ratio of a 512-unit task"

b=$(run_out "$S/limits.err" bomb | head -n 1)
say "forkbomb with pids.max 200: $b"
forked=$(echo "$b" | sed -n 's/.*"forked":\([0-9]*\).*/\1/p')
run_has "$b" '"errno":"EAGAIN"' || die "fork did not fail with EAGAIN: $b"
run_cmp "$forked" '<' 200 "forked within pids.max"
run_cmp "$forked" '>=' 150 "forked up to pids.max"
run_out "$S/limits.err" bomb | grep -q "\"reaped\":$forked" || die "bomb did not reap its $forked children"
run_assert_clean

# no cgroup v2 at /sys/fs/cgroup (a tmpfs over it, in a mount namespace of
# its own): the start fails saying what is wrong and what to do - the shim
# asks the mount only once the task cgroup could not be made - and leaves
# nothing behind
cat > "$S/nocg.json" <<'JSON'
{ "family": "nocg", "requiresCompatibilities": ["EC2"], "networkMode": "none", "memory": "64",
  "containerDefinitions": [ { "name": "m", "image": "berth-test/helper", "command": ["exit", "0"] } ] }
JSON
rc=0
unshare -m sh -c "mount -t tmpfs nocg '$BERTH_CGROUP' && exec '$BERTH_BIN/berth' --root '$RUN_ROOT' run \
	--cgroup-root '$BERTH_CGROUP/berth' --run-dir '$RUN_DIR' --log-dir '$RUN_LOGS' --storage tmpfs \
	--launch-type EC2 '$S/nocg.json'" > "$S/nocg.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || die "a task started with no cgroup v2 mount: $(cat "$S/nocg.out")"
grep -q "is not a cgroup v2 (cgroup2) mount" "$S/nocg.out" && grep -q -- "--no-limits" "$S/nocg.out" ||
	die "no cgroup v2: rc $rc, $(cat "$S/nocg.out")"
say "no cgroup v2 mount: rc $rc, $(grep -o 'is not a cgroup v2[^:]*' "$S/nocg.out" | head -n 1)"
run_assert_clean
