# berth run: SIGTERM to berth stops the task gracefully in reverse
# dependsOn order (web depends on app, app on db: web first, db last),
# each container getting its stop signal only once nothing running depends
# on it; web ignores SIGTERM and is SIGKILLed after its stopTimeout (2 s).
# Times: the test's own clock when it sent SIGTERM, and the stamps of the
# lines berth relays.
# timeout: 120
run_setup
S=$BERTH_SCRATCH
cat > "$S/task.json" <<'JSON'
{
  "family": "stop",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "256",
  "containerDefinitions": [
    { "name": "db", "image": "berth-test/helper", "command": ["signals"] },
    { "name": "app", "image": "berth-test/helper", "essential": false,
      "dependsOn": [ { "containerName": "db", "condition": "START" } ],
      "command": ["signals", "--exit-code", "9"] },
    { "name": "web", "image": "berth-test/helper", "essential": false, "stopTimeout": 2,
      "dependsOn": [ { "containerName": "app", "condition": "START" } ],
      "command": ["signals", "--exit-on", "INT", "--ignore", "TERM"] }
  ]
}
JSON
run_bg stop "$S/task.json"
for c in db app web; do
	run_wait_line 60 "$S/stop.err" "$c | {\"ready\":true" || die "$c never got ready: $(cat "$S/stop.err")"
done
t_term=$(run_uptime)
kill -TERM $RUN_PID
run_wait
st=$?
sed 's/^/  | /' "$S/stop.err"
say "SIGTERM sent at $t_term"
[ "$st" = 0 ] || die "berth run exited $st, want 0 (db's code)"

E=$S/stop.err
web_exit=$(run_t "$E" "berth: web: exited with code 137")
app_sig=$(run_t "$E" 'app | {"signal":"SIGTERM"')
app_exit=$(run_t "$E" "berth: app: exited with code 9")
db_sig=$(run_t "$E" 'db | {"signal":"SIGTERM"')
db_exit=$(run_t "$E" "berth: db: exited with code 0")
for v in web_exit app_sig app_exit db_sig db_exit; do
	eval "[ -n \"\$$v\" ]" || die "no line for $v"
done
say "web killed +$(run_add "$web_exit" "-$t_term") s, app SIGTERM +$(run_add "$app_sig" "-$t_term") s, db SIGTERM +$(run_add "$db_sig" "-$t_term") s"
# web ignored SIGTERM: SIGKILL after stopTimeout 2 s, not much later
run_cmp "$web_exit" '>=' "$(run_add "$t_term" 2)" "web was killed before its stopTimeout"
run_cmp "$web_exit" '<' "$(run_add "$t_term" 3.5)" "web was killed too late after its stopTimeout"
grep -qF 'web | {"signal"' "$E" && die "web printed a signal it should have ignored"
# reverse order: app only after web was gone, db only after app was gone
run_cmp "$app_sig" '>=' "$web_exit" "app got SIGTERM before web stopped"
run_cmp "$db_sig" '>=' "$app_exit" "db got SIGTERM before app stopped"
run_expect_j "$S/stop.result.json" stopCode UserInitiated
run_expect_j "$S/stop.result.json" stoppedReason "Task stopped by user"
run_expect_j "$S/stop.result.json" exitCode web 137
run_expect_j "$S/stop.result.json" exitCode app 9
run_expect_j "$S/stop.result.json" exitCode db 0
run_expect_j "$S/stop.result.json" exitCode 0
run_assert_clean
