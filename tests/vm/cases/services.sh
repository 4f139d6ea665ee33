# ECS services on berthd (issue 11), driven from the host with the real AWS
# CLI through the hostfwd: create-service with 3 tasks and
# `aws ecs wait services-stable`; a task whose container is killed is
# replaced; a rolling update keeps minimumHealthyPercent 100 and
# maximumPercent 200 at every observation; a failing revision trips the
# circuit breaker and rolls back; delete-service drains. Then a restart of
# berthd keeps the service's deployments, and nothing is left behind.
# vm-only: berthd sets up task networking (a bridge, an nftables table)
# timeout: 1500
run_setup 1024
S=$BERTH_SCRATCH
KEY=AKIDBERTHTEST0000011
SECRET=berth-test-secret-services-0123456789
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "listen": "0.0.0.0:8080", "storage": "tmpfs",
  "serviceIntervalMilliseconds": 500,
  "credentials": [ { "accessKeyId": "$KEY", "secretAccessKey": "$SECRET" } ],
  "network": { "bridge": "bt11", "subnet": "10.79.0.0/24", "nftTable": "berthsvc" } }
JSON
on_exit "ip link del bt11"
on_exit "nft delete table inet berthsvc"
start_berthd() {
	"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug >> "$S/berthd.log" 2>&1 &
	BD=$!
	wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(tail -n 20 "$S/berthd.log")"
}
stop_berthd() {
	kill "$BD"
	wait_until 30 sh -c "! kill -0 $BD" || die "berthd did not stop"
}
on_exit 'kill $BD 2>/dev/null; wait_until 20 sh -c "! kill -0 $BD"'
start_berthd

phase() {
	rc=0
	hostcall services_awscli "$KEY" "$SECRET" "$1" || rc=$?
	[ "$rc" = 0 ] || die "services phase $1 failed (rc $rc); berthd said: $(grep -v ' api: ' "$S/berthd.log" | tail -n 60)"
}
phase create

# kill one task's container (the task definition runs `sleep 601`)
victim=$(pids_matching "sleep 601" | head -n 1)
[ -n "$victim" ] || die "no container of the service found"
kill -9 "$victim"
say "killed container process $victim"
phase replace

# berthd restarts in the middle: the service continues (same deployment)
stop_berthd
start_berthd
wait_until 30 grep -q "services: 1 loaded" "$S/berthd.log" || die "berthd did not load the service again: $(tail -n 20 "$S/berthd.log")"
phase update
phase breaker
phase delete

# every task has stopped: no shim, no task cgroup, no bundle left
stop_berthd
[ -n "$(pids_of berth-shim)" ] && die "a berth-shim is still running after the service was deleted"
[ -z "$(ls "$RUN_DIR" 2>/dev/null)" ] || die "task bundles left in $RUN_DIR: $(ls "$RUN_DIR")"
left=$(find "$RUN_CG" -mindepth 1 -type d 2>/dev/null | head -n 5)
[ -z "$left" ] || die "task cgroups left behind: $left"
say "services: create, replace, rolling update, circuit breaker with rollback, delete; nothing left behind"
