# berth run: two containers of one task share its network namespace (a
# web server on 127.0.0.1:8080 in one, http-get in the other, dependsOn
# START with a few retries), which the host does not see; output is
# prefixed with the container's name, stdout to stdout and stderr to
# stderr, and also lands as JSON lines in LOG-DIR/<task id>/<name>.log; the
# server gets its image's StopSignal (SIGINT) when the essential client ends.
# timeout: 120
run_setup
ID=0123456789abcdef0123456789abcdef
S=$BERTH_SCRATCH
cat > "$S/task.json" <<'JSON'
{
  "family": "multi",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "256",
  "containerDefinitions": [
    { "name": "server", "image": "berth-test/web", "essential": false,
      "command": ["--port", "8080", "--log-requests"] },
    { "name": "client", "image": "berth-test/helper",
      "dependsOn": [ { "containerName": "server", "condition": "START" } ],
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do berth-testhelper http-get http://127.0.0.1:8080/hello && { touch /tmp/got; sleep 3; exit 0; }; sleep 0.5; done; exit 1"] }
  ]
}
JSON
# stdout and stderr apart: run in the background, watch the log file
( exec "$BERTH_BIN/berth" --root "$RUN_ROOT" run --cgroup-root "$RUN_CG" --run-dir "$RUN_DIR" \
	--log-dir "$RUN_LOGS" --storage tmpfs --launch-type EC2 --task-id $ID "$S/task.json" \
	> "$S/out.txt" 2> "$S/err.txt" ) &
pid=$!
on_exit "kill -KILL $pid"
wait_until 60 grep -q 'hello from' "$RUN_LOGS/$ID/client.log" || die "client got no answer: $(cat "$S/err.txt")"
# the task's loopback is not the host's
if $HELPER http-get http://127.0.0.1:8080/hello > "$S/host.out" 2>&1; then
	die "the host reached the task's server on its own 127.0.0.1:8080"
fi
wait $pid
st=$?
say "berth run: status $st"
sed 's/^/  out| /' "$S/out.txt"
sed 's/^/  err| /' "$S/err.txt"
[ "$st" = 0 ] || die "berth run exited $st, want 0"

host=$(echo $ID | cut -c1-12)
# stdout: the body (http-get prints it raw), the server's JSON lines
grep -qx "client | hello from $host" "$S/out.txt" || die "no 'client | hello from $host' on stdout"
grep -qx 'server | {"listening":8080}' "$S/out.txt" || die "no 'server | {\"listening\":8080}' on stdout"
grep -qx 'server | {"request":"GET","path":"/hello","status":200}' "$S/out.txt" ||
	die "the server logged no GET /hello"
grep -q '^server | {"signal":"SIGINT","requests":[1-9]' "$S/out.txt" ||
	die "the server did not get its image's StopSignal SIGINT"
# stderr: http-get's status line; nothing of the containers' stdout
grep -q '^client | {"status":200,"bytes":' "$S/err.txt" || die "no 'client | {\"status\":200...' on stderr"
grep -q '^client | {"status"' "$S/out.txt" && die "the client's stderr went to stdout"
grep -q '| hello from' "$S/err.txt" && die "the client's stdout went to stderr"

# log files: every output line once, in order, as {"time","stream","log"}
for c in server client; do
	f=$RUN_LOGS/$ID/$c.log
	[ -f "$f" ] || die "no $f"
	bad=$(grep -v '^{"time":"20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]\{9\}Z","stream":"std\(out\|err\)","log":".*"}$' "$f")
	[ -z "$bad" ] || die "$f: malformed lines: $bad"
	n_log=$(grep -c '"stream":"stdout"' "$f")
	n_out=$(grep -c "^$c | " "$S/out.txt")
	[ "$n_log" = "$n_out" ] || die "$c: $n_log stdout lines in the log, $n_out on stdout"
	n_log=$(grep -c '"stream":"stderr"' "$f")
	n_err=$(grep -c "^$c | " "$S/err.txt")
	[ "$n_log" = "$n_err" ] || die "$c: $n_log stderr lines in the log, $n_err on stderr"
done
grep -qx "{\"time\":\"[^\"]*\",\"stream\":\"stdout\",\"log\":\"hello from $host\"}" "$RUN_LOGS/$ID/client.log" ||
	die "client.log lacks the body line"
# the times in a log are in order
sed 's/^{"time":"\([^"]*\)".*/\1/' "$RUN_LOGS/$ID/server.log" > "$S/times"
sort -c "$S/times" || die "server.log times out of order"
run_assert_clean
