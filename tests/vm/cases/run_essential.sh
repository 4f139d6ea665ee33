# berth run: a non-essential container that exits leaves the task running;
# when the essential one exits, every other container gets SIGTERM (the
# helper's `signals` prints what it receives), stopCode is
# EssentialContainerExited and berth run exits with the essential's code.
# timeout: 120
run_setup
S=$BERTH_SCRATCH
cat > "$S/task.json" <<'JSON'
{
  "family": "essential",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "256",
  "containerDefinitions": [
    { "name": "side", "image": "berth-test/helper", "essential": false,
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["read u x < /proc/uptime; echo end $u; exit 5"] },
    { "name": "w1", "image": "berth-test/helper", "essential": false,
      "command": ["signals"] },
    { "name": "w2", "image": "berth-test/helper", "essential": false,
      "command": ["signals", "--exit-code", "7"] },
    { "name": "main", "image": "berth-test/helper",
      "dependsOn": [ { "containerName": "w1", "condition": "START" },
                     { "containerName": "w2", "condition": "START" } ],
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["sleep 3; read u x < /proc/uptime; echo still $u; exit 4"] }
  ]
}
JSON
run_bg ess "$S/task.json"
run_wait
st=$?
sed 's/^/  | /' "$S/ess.err"
[ "$st" = 4 ] || die "berth run exited $st, want 4 (main's code)"
side_end=$(run_out "$S/ess.err" side | sed -n 's/^end //p')
still=$(run_out "$S/ess.err" main | sed -n 's/^still //p')
run_cmp "$still" '>=' "$(awk -v a="$side_end" 'BEGIN { print a + 2 }')" "main ran on after side exited"
# the exit of side did not stop anything: nobody got a signal before main ended
main_exit=$(run_t "$S/ess.err" "main: exited with code 4")
for w in w1 w2; do
	line=$(grep -F "$w | {\"signal\":" "$S/ess.err")
	[ "$(echo "$line" | grep -c .)" = 1 ] || die "$w: want exactly one signal line, got: $line"
	run_has "$line" '{"signal":"SIGTERM","sender_pid":0}' || die "$w did not get SIGTERM from outside: $line"
	run_cmp "$(echo "$line" | cut -d' ' -f1)" '>=' "$main_exit" "$w's SIGTERM came after main exited"
done
run_expect_j "$S/ess.result.json" stopCode EssentialContainerExited
run_expect_j "$S/ess.result.json" stoppedReason "Essential container in task exited"
run_expect_j "$S/ess.result.json" exitCode 4
run_expect_j "$S/ess.result.json" exitCode main 4
run_expect_j "$S/ess.result.json" exitCode side 5
run_expect_j "$S/ess.result.json" exitCode w1 0
run_expect_j "$S/ess.result.json" exitCode w2 7
run_expect_j "$S/ess.result.json" essential main true
run_expect_j "$S/ess.result.json" essential side false
run_assert_clean
