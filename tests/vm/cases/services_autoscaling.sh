# Service autoscaling (issue 12): Application Auto Scaling through the real
# AWS CLI (`aws application-autoscaling`, SigV4 scoped to
# application-autoscaling): a target-tracking policy on the service's
# average CPU (measured from its tasks' cgroups, one datapoint per second in
# this test configuration) scales the service out to its maximum while the
# test helper burns CPU in one task, and back in to its minimum after the
# load stops.
# vm-only: berthd sets up task networking (a bridge, an nftables table)
# timeout: 900
run_setup 1024
S=$BERTH_SCRATCH
KEY=AKIDBERTHTEST0000014
SECRET=berth-test-secret-autoscaling-0123456789
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "listen": "0.0.0.0:8080", "storage": "tmpfs",
  "serviceIntervalMilliseconds": 500, "autoscalingPeriodSeconds": 1,
  "credentials": [ { "accessKeyId": "$KEY", "secretAccessKey": "$SECRET" } ],
  "network": { "bridge": "bt14", "subnet": "10.82.0.0/24", "nftTable": "berthas" } }
JSON
on_exit "ip link del bt14"
on_exit "nft delete table inet berthas"
"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug > "$S/berthd.log" 2>&1 &
BD=$!
on_exit 'kill $BD 2>/dev/null; wait_until 20 sh -c "! kill -0 $BD"'
wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(tail -n 20 "$S/berthd.log")"
B() { BERTH_RUN_DIR=$RUN_DIR "$BERTH_BIN/berth" --socket "$S/berthd.sock" "$@"; }
phase() {
	rc=0
	hostcall services_awscli "$KEY" "$SECRET" "$1" || rc=$?
	[ "$rc" = 0 ] || die "phase $1 failed (rc $rc); berthd said: $(grep -v ' api: ' "$S/berthd.log" | tail -n 40)"
}

phase ascreate
ID=$(B ps -q --family svc-as | head -n 1)
[ -n "$ID" ] || die "no task of svc-as: $(B ps)"
# the load lasts until the scale-out is done (at most 5 min), then the
# test stops it
BURNCMD='cpuburn --ms 300000'
# burn_pid: the cpuburn process in the task (not the berth exec client)
burn_pid() {
	for _p in $(pids_matching "berth-testhelper $BURNCMD"); do
		[ "$(cat "/proc/$_p/comm" 2>/dev/null)" = berth-testhelpe ] && echo "$_p"
	done | head -n 1
}
burning() { [ -n "$(burn_pid)" ]; }
B exec "$ID" -- berth-testhelper $BURNCMD > "$S/burn.out" 2>&1 &
BURN=$!
on_exit 'kill $(burn_pid)'
wait_until 10 burning || die "cpuburn does not run in task $ID: $(cat "$S/burn.out")"
bp=$(burn_pid)
say "cpuburn runs in task $ID (pid $bp)"
phase asout
# it burned all through the scale-out (still running: it did not fail)
kill -0 "$BURN" 2>/dev/null && [ -d "/proc/$bp" ] || die "cpuburn in the task ended before the scale-out: $(cat "$S/burn.out")"
kill "$bp"
wait "$BURN"
say "load stopped after the scale-out (cpuburn killed, berth exec exited $?)"
phase asin
say "$(grep 'autoscaling service/default/asweb: desired count' "$S/berthd.log" | sed 's/.*autoscaling/autoscaling/')"
