# berthd driven from the host (issue 7): the real AWS CLI v2 and boto3 reach
# berthd's SigV4 listener in this guest through the hostfwd; SigV4 refusals;
# nothing of the tasks is left when berthd stops.
# vm-only: berthd sets up task networking (a bridge, an nftables table)
# timeout: 900
run_setup 1024
S=$BERTH_SCRATCH
KEY=AKIDBERTHTEST0000001
SECRET=berth-test-secret-0123456789abcdef
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "listen": "0.0.0.0:8080", "storage": "tmpfs",
  "credentials": [ { "accessKeyId": "$KEY", "secretAccessKey": "$SECRET" } ],
  "network": { "bridge": "bt7", "subnet": "10.78.0.0/24", "nftTable": "berthapi" } }
JSON
on_exit "ip link del bt7"
on_exit "nft delete table inet berthapi"
"$BERTH_BIN/berthd" --config "$S/berthd.json" --check || die "berthd --check refused the configuration"
"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug > "$S/berthd.log" 2>&1 &
BD=$!
on_exit "kill $BD"
wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(cat "$S/berthd.log")"

rc=0
hostcall api_awscli "$KEY" "$SECRET" || rc=$?
[ "$rc" = 0 ] || die "the AWS CLI checks failed (rc $rc); berthd said: $(tail -n 30 "$S/berthd.log")"
rc=0
hostcall api_boto3 "$KEY" "$SECRET" || rc=$?
[ "$rc" = 0 ] || die "the boto3/SigV4 checks failed (rc $rc); berthd said: $(tail -n 30 "$S/berthd.log")"
grep -q "403 InvalidSignatureException" "$S/berthd.log" || die "berthd did not log the refused signatures"

# every task the host ran has stopped: no shim, no task cgroup, no netns left
kill "$BD"
wait "$BD" 2>/dev/null
[ -n "$(pids_of berth-shim)" ] && die "a berth-shim is still running after every task stopped"
[ -z "$(ls "$RUN_DIR" 2>/dev/null)" ] || die "task bundles left in $RUN_DIR: $(ls "$RUN_DIR")"
[ -z "$(ls /run/netns 2>/dev/null | grep -v '^$')" ] || true
left=$(find "$RUN_CG" -mindepth 1 -type d 2>/dev/null | head -n 5)
[ -z "$left" ] || die "task cgroups left behind: $left"
say "berthd served the AWS CLI and boto3; nothing left behind"
