# A service behind berth-lb (issues 10 and 11): berthd registers each task
# (its awsvpc IP and containerPort) in berth-lb's target group through the
# control socket, counts it healthy only when berth-lb's health checks do,
# and on a rolling update deregisters old tasks and stops them once they
# have drained: requests through berth-lb keep being answered all along
# (0 failed), and end on the new revision. Driven by the real AWS CLI.
# vm-only: berthd sets up task networking (a bridge, an nftables table)
# timeout: 900
run_setup 1024
S=$BERTH_SCRATCH
KEY=AKIDBERTHTEST0000012
SECRET=berth-test-secret-services-lb-0123456789
cat > "$S/lb.json" <<JSON
{ "TargetGroups": [ { "Name": "web", "Targets": [], "HealthCheckPath": "/health",
    "HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2, "DeregistrationDelaySeconds": 5 } ],
  "Listeners": [ { "Port": 8088, "Address": "127.0.0.1", "Protocol": "HTTP", "TargetGroup": "web" } ] }
JSON
"$BERTH_BIN/berth-lb" --config "$S/lb.json" --control "$S/lb.sock" --workers 1 > "$S/lb.log" 2>&1 &
LB=$!
on_exit "kill $LB"
wait_until 20 test -S "$S/lb.sock" || die "berth-lb did not start: $(cat "$S/lb.log")"
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "listen": "0.0.0.0:8080", "storage": "tmpfs",
  "serviceIntervalMilliseconds": 500, "lbControlSocket": "$S/lb.sock",
  "credentials": [ { "accessKeyId": "$KEY", "secretAccessKey": "$SECRET" } ],
  "network": { "bridge": "bt12", "subnet": "10.80.0.0/24", "nftTable": "berthlb" } }
JSON
on_exit "ip link del bt12"
on_exit "nft delete table inet berthlb"
"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug > "$S/berthd.log" 2>&1 &
BD=$!
on_exit 'kill $BD 2>/dev/null; wait_until 20 sh -c "! kill -0 $BD"'
wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(tail -n 20 "$S/berthd.log")"

phase() {
	rc=0
	hostcall services_awscli "$KEY" "$SECRET" "$1" || rc=$?
	[ "$rc" = 0 ] || die "phase $1 failed (rc $rc); berthd said: $(grep -v ' api: ' "$S/berthd.log" | tail -n 40)"
}
get() { "$HELPER" http-get http://127.0.0.1:8088/ --timeout 3 2>/dev/null; }

phase lbcreate
grep -q "registered 10.80.0.[0-9]*:8080 in target group web" "$S/berthd.log" || die "no registration logged"
[ "$(get)" = v1 ] || die "through berth-lb: \"$(get)\", expected v1"
say "through berth-lb: v1"

# requests all along the rolling update
: > "$S/fails"
: > "$S/bodies"
touch "$S/loop.on"
(
	while [ -f "$S/loop.on" ]; do
		if b=$(get); then echo "$b" >> "$S/bodies"; else echo fail >> "$S/fails"; fi
	done
) &
LOOP=$!
phase lbupdate
# the last old task drains for 5 s after the deployment completed in the
# controller's eyes (the two old ones are stopped once drained: checked
# below); then a few more requests
drained() { [ "$(grep -c "drained from berth-lb, stopping it" "$S/berthd.log")" -ge 2 ]; }
wait_until 60 drained
n0=$(wc -l < "$S/bodies")
more() { [ "$(wc -l < "$S/bodies")" -ge $((n0 + 5)) ]; }
wait_until 30 more
rm -f "$S/loop.on"
wait "$LOOP"
n=$(wc -l < "$S/bodies")
f=$(wc -l < "$S/fails")
[ "$n" -gt 20 ] || die "only $n requests answered during the update"
[ "$f" = 0 ] || die "$f of $((n + f)) requests failed during the rolling update: $(grep -v ' api: ' "$S/berthd.log" | tail -n 20)"
[ "$(tail -n 1 "$S/bodies")" = v2 ] || die "after the update berth-lb still answers \"$(tail -n 1 "$S/bodies")\""
grep -q "deregistered (draining) 10.80.0.[0-9]*:8080" "$S/berthd.log" || die "no deregistration logged"
# the two old tasks were stopped only after berth-lb let go of their targets
d=$(grep -c "drained from berth-lb, stopping it" "$S/berthd.log")
[ "$d" -ge 2 ] || die "$d old tasks stopped after draining, expected 2: $(grep -v ' api: ' "$S/berthd.log" | tail -n 20)"
say "rolling update behind berth-lb: $n requests, 0 failed, now v2"

phase lbdelete
# no target left: berth-lb answers 503 itself
code=$("$HELPER" http-get http://127.0.0.1:8088/ --timeout 3 2>&1 >/dev/null | sed -n 's/.*"status":\([0-9]*\).*/\1/p')
[ "$code" = 503 ] || die "after delete-service berth-lb answered $code, expected 503 (no target)"
say "service deleted: its targets are gone from berth-lb (503)"
