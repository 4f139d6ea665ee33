# berth run: restartPolicy. main ran >= restartAttemptPeriod (60 s) and
# exited 1: restarted (its second run sees the marker it left on a task
# volume, runs briefly and exits 3: not restarted again, too short); ign
# ran as long but exited with an ignoredExitCode; quick exited at once.
# Slow by nature (the ECS minimum period is 60 s): the only such case.
# timeout: 150
run_setup
S=$BERTH_SCRATCH
cat > "$S/task.json" <<'JSON'
{
  "family": "restart",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "256",
  "volumes": [ { "name": "state" } ],
  "containerDefinitions": [
    { "name": "main", "image": "berth-test/helper",
      "mountPoints": [ { "sourceVolume": "state", "containerPath": "/state" } ],
      "restartPolicy": { "enabled": true, "restartAttemptPeriod": 60 },
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["if [ -e /state/ran ]; then echo second; sleep 1; exit 3; fi; touch /state/ran; echo first; sleep 61; exit 1"] },
    { "name": "ign", "image": "berth-test/helper", "essential": false,
      "restartPolicy": { "enabled": true, "ignoredExitCodes": [42], "restartAttemptPeriod": 60 },
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["echo run; sleep 61; exit 42"] },
    { "name": "quick", "image": "berth-test/helper", "essential": false,
      "restartPolicy": { "enabled": true, "restartAttemptPeriod": 60 },
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["echo run; exit 1"] }
  ]
}
JSON
run_bg restart "$S/task.json"
run_wait
st=$?
sed 's/^/  | /' "$S/restart.err"
[ "$st" = 3 ] || die "berth run exited $st, want 3 (main's second run)"
[ "$(run_out "$S/restart.err" main | tr '\n' ' ')" = "first second " ] ||
	die "main's output: $(run_out "$S/restart.err" main | tr '\n' ' '), want 'first second'"
[ "$(run_out "$S/restart.err" ign | tr '\n' ' ')" = "run " ] || die "ign ran more than once"
[ "$(run_out "$S/restart.err" quick | tr '\n' ' ')" = "run " ] || die "quick ran more than once"
grep -qF "berth: main: restarting" "$S/restart.err" || die "no 'main: restarting' line"
# the restart came after main's first exit, at least 60 s after it started
t1=$(run_t "$S/restart.err" "berth: main: started")
t2=$(run_t "$S/restart.err" "main | second")
run_cmp "$t2" '>=' "$(run_add "$t1" 60)" "main restarted after its restartAttemptPeriod"
run_expect_j "$S/restart.result.json" restartCount main 1
run_expect_j "$S/restart.result.json" exitCode main 3
run_expect_j "$S/restart.result.json" restartCount ign 0
run_expect_j "$S/restart.result.json" exitCode ign 42
run_expect_j "$S/restart.result.json" restartCount quick 0
run_expect_j "$S/restart.result.json" exitCode quick 1
run_expect_j "$S/restart.result.json" stopCode EssentialContainerExited
run_assert_clean
