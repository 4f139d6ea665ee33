# The task endpoint (issue 9): a task with a role reads its credentials and
# metadata at 169.254.170.2 with the environment berth gives it; boto3 on
# the host signs calls to berthd with them and the role's policy decides; a
# second task cannot get the first task's credentials by any route tried;
# the shim logs each credentials fetch without the id; the credentials
# rotate before they expire, and an expired set is refused; botocore's own
# container provider loads them (through a proxy into the task's namespace,
# while berthd is down: the shim serves the endpoint on its own).
# vm-only: berthd sets up task networking (a bridge, an nftables table)
# timeout: 900
run_setup 1024
S=$BERTH_SCRATCH
KEY=AKIDBERTHTEST0000002
SECRET=berth-test-secret-creds-0123456789
ROLE=arn:aws:iam::000000000000:role/creds-reader
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "listen": "0.0.0.0:8080", "storage": "tmpfs",
  "credentials": [ { "accessKeyId": "$KEY", "secretAccessKey": "$SECRET" } ],
  "network": { "bridge": "bt9", "subnet": "10.79.0.0/24", "nftTable": "berthcreds" },
  "roles": [
    { "roleArn": "$ROLE", "durationSeconds": 60,
      "policies": [ { "Version": "2012-10-17", "Statement": [
        { "Sid": "Read", "Effect": "Allow", "Action": ["ecs:Describe*", "ecs:List*"], "Resource": "*" },
        { "Sid": "NoStop", "Effect": "Deny", "Action": "ecs:StopTask", "Resource": "*" } ] } ] } ] }
JSON
on_exit "ip link del bt9"
on_exit "nft delete table inet berthcreds"
"$BERTH_BIN/berthd" --config "$S/berthd.json" --check || die "berthd --check refused the configuration"
"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug > "$S/berthd.log" 2>&1 &
BD=$!
on_exit "kill $BD"
wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(cat "$S/berthd.log")"
export BERTH_SOCKET=$S/berthd.sock BERTH_RUN_DIR=$RUN_DIR
B=$BERTH_BIN/berth
on_exit "'$B' ps -q | xargs -r '$B' stop --wait >/dev/null"

app() {   # FAMILY NETWORKMODE [ROLE]
	_role=""
	[ -n "${3:-}" ] && _role="\"taskRoleArn\": \"$3\","
	cat > "$S/$1.json" <<JSON
{ "family": "$1", "requiresCompatibilities": ["EC2"], "networkMode": "$2", "memory": "128", $_role
  "containerDefinitions": [
    { "name": "app", "image": "berth-test/helper", "command": ["sleep", "600"], "stopTimeout": 2 } ] }
JSON
}
app creds-app awsvpc "$ROLE"
app creds-other awsvpc
app creds-host host "$ROLE"
app creds-bridge bridge

# the credentials' 60 s run from the first fetch (the shim mints them
# then): task app first, and its credentials, so that the other tasks
# start, and the checks that need no clock run, while the clock runs
A=$("$B" run --detach --wait "$S/creds-app.json" 2> "$S/run.err") || die "run creds-app: $(cat "$S/run.err")"
A_ARN=$("$B" describe --json "$A" | sed -n 's/.*"taskArn": *"\([^"]*\)".*/\1/p' | head -n 1)
A_IP=$("$B" describe --json "$A" | sed -n 's/.*"privateIpv4Address": *"\([^"]*\)".*/\1/p' | head -n 1)
[ -n "$A_ARN" ] && [ -n "$A_IP" ] || die "describe $A: no taskArn or address: $("$B" describe --json "$A")"

# ------------------------------------------------ the environment
"$B" exec "$A" -- sh -c 'env' > "$S/env.a" || die "exec env in $A"
for v in "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/" \
	 "ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/" "AWS_REGION=us-east-1" \
	 "AWS_DEFAULT_REGION=us-east-1" "AWS_EXECUTION_ENV=AWS_ECS_EC2"; do
	grep -q "^$v" "$S/env.a" || die "$v missing from the container's environment: $(cat "$S/env.a")"
done
URI=$(sed -n 's/^AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=//p' "$S/env.a")
META=$(sed -n 's/^ECS_CONTAINER_METADATA_URI_V4=//p' "$S/env.a")

# ------------------------------------------------ credentials and metadata
get() {   # TASK URL -> body on stdout, status json in $S/get.err
	"$B" exec "$1" -- berth-testhelper http-get "$2" --timeout 5 2> "$S/get.err"
}
T0=$(date +%s)
get "$A" "http://169.254.170.2$URI" > "$S/creds1.json" || die "credentials: $(cat "$S/get.err") $(cat "$S/creds1.json")"
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$2"; }
[ "$(field RoleArn "$S/creds1.json")" = "$ROLE" ] || die "RoleArn: $(cat "$S/creds1.json")"
AKID=$(field AccessKeyId "$S/creds1.json")
SAK=$(field SecretAccessKey "$S/creds1.json")
TOK=$(field Token "$S/creds1.json")
EXP1=$(field Expiration "$S/creds1.json")
echo "$AKID" | grep -qE '^ASIA[A-Z2-7]{16}$' || die "AccessKeyId: $AKID"
[ ${#SAK} = 40 ] && [ -n "$TOK" ] || die "SecretAccessKey/Token: $(cat "$S/creds1.json")"
echo "$EXP1" | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' || die "Expiration: $EXP1"
say "credentials: $AKID, expire at $EXP1"

# a role berthd does not define: refused before anything starts
app creds-norole awsvpc arn:aws:iam::000000000000:role/undefined
if "$B" run --detach "$S/creds-norole.json" > "$S/norole.out" 2>&1; then
	die "a task with an undefined taskRoleArn started: $(cat "$S/norole.out")"
fi
grep -q "taskRoleArn: role arn:aws:iam::000000000000:role/undefined is not defined in berthd's configuration" \
	"$S/norole.out" || die "undefined role: $(cat "$S/norole.out")"
say "a task whose role berthd does not define is refused"

O=$("$B" run --detach --wait "$S/creds-other.json" 2> "$S/run.err") || die "run creds-other: $(cat "$S/run.err")"
H=$("$B" run --detach --wait "$S/creds-host.json" 2> "$S/run.err") || die "run creds-host: $(cat "$S/run.err")"
BR=$("$B" run --detach --wait "$S/creds-bridge.json" 2> "$S/run.err") || die "run creds-bridge: $(cat "$S/run.err")"
say "tasks: app $A ($A_IP, role), other $O (no role), host-mode $H (role)"
"$B" exec "$O" -- sh -c 'env' > "$S/env.o" || die "exec env in $O"
grep -q "^AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=" "$S/env.o" && die "a task without a role got a credentials URI"
grep -q "^ECS_CONTAINER_METADATA_URI_V4=" "$S/env.o" || die "the task without a role has no metadata URI"
# host mode: FULL_URI on the host's loopback, and the token
"$B" exec "$H" -- sh -c 'env' > "$S/env.h" || die "exec env in $H"
grep -q "^AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=" "$S/env.h" && die "host mode got a relative URI"
H_URI=$(sed -n 's/^AWS_CONTAINER_CREDENTIALS_FULL_URI=//p' "$S/env.h")
H_TOK=$(sed -n 's/^AWS_CONTAINER_AUTHORIZATION_TOKEN=//p' "$S/env.h")
echo "$H_URI" | grep -qE '^http://127\.0\.0\.1:[0-9]+/v2/credentials/' || die "host mode FULL_URI: $H_URI"
[ ${#H_TOK} = 64 ] || die "host mode token: '$H_TOK'"
"$B" exec "$H" -- sh -c 'berth-testhelper http-get "$AWS_CONTAINER_CREDENTIALS_FULL_URI" --header "Authorization:$AWS_CONTAINER_AUTHORIZATION_TOKEN"' \
	> "$S/creds.h" 2> "$S/get.err" || die "host mode credentials with the token: $(cat "$S/get.err")"
grep -q '"AccessKeyId":"ASIA' "$S/creds.h" || die "host mode credentials: $(cat "$S/creds.h")"
say "the containers' environment points at the endpoint (host mode: loopback and a token)"

get "$A" "$META/task" > "$S/task.json" || die "metadata /task: $(cat "$S/get.err")"
grep -q "\"TaskARN\": *\"$A_ARN\"" "$S/task.json" || die "/task TaskARN: $(cat "$S/task.json")"
grep -q '"Family": *"creds-app"' "$S/task.json" || die "/task Family: $(cat "$S/task.json")"
grep -q '"KnownStatus": *"RUNNING"' "$S/task.json" || die "/task KnownStatus: $(cat "$S/task.json")"
get "$A" "$META" > "$S/container.json" || die "metadata container: $(cat "$S/get.err")"
grep -q '"Name": *"app"' "$S/container.json" || die "container Name: $(cat "$S/container.json")"
grep -q "\"IPv4Addresses\": *\[ *\"$A_IP\"" "$S/container.json" || die "container address: $(cat "$S/container.json")"
get "$A" "$META/stats" > "$S/stats.json" || die "stats: $(cat "$S/get.err") $(cat "$S/stats.json")"
grep -q '"cpu_stats":{"cpu_usage":{"total_usage":[1-9]' "$S/stats.json" || die "stats cpu: $(cat "$S/stats.json")"
grep -q '"memory_stats":{"usage":[1-9]' "$S/stats.json" || die "stats memory: $(cat "$S/stats.json")"
grep -q '"limit":134217728' "$S/stats.json" || die "stats memory limit (128 MiB): $(cat "$S/stats.json")"
get "$A" "$META/task/stats" > "$S/tstats.json" || die "task stats: $(cat "$S/get.err")"
grep -q '"pids_stats":{"current":[1-9]' "$S/tstats.json" || die "task stats: $(cat "$S/tstats.json")"
say "metadata v4: task and container documents, container and task stats"

# ------------------------------------------------ calls to berthd with them (boto3, host)
rc=0
hostcall creds_boto3 "$AKID" "$SAK" "$TOK" "$A_ARN" || rc=$?
[ "$rc" = 0 ] || die "boto3 with the task's credentials (rc $rc); berthd said: $(tail -n 20 "$S/berthd.log")"
grep -q "StopTask by $ROLE .*explicitly denied" "$S/berthd.log" || die "berthd did not log the denial"

# ------------------------------------------------ a second task cannot have them
# every route must fail: a refused or unreachable connection (exit 7) or an
# endpoint answer that is not the credentials
# (the routes are tried at once: a silent one costs its timeout)
ROUTES= ROUTE_PIDS=
route() {   # NAME TASK URL: start one try (a refused or silent route fails within 4 s:
	    # more than one alone would need, so the load of 14 at once cannot hide an answer)
	ROUTES="$ROUTES $1"
	echo "$3 from $2" > "$S/route.$1.what"
	( "$B" exec "$2" -- berth-testhelper http-get "$3" --timeout 4 > "$S/route.$1.out" 2>/dev/null
	  echo $? > "$S/route.$1.rc" ) &
	ROUTE_PIDS="$ROUTE_PIDS $!"
}
route own-endpoint "$O" "http://169.254.170.2$URI"
route other-task-ip-80 "$O" "http://$A_IP:80$URI"
route other-task-ip-51679 "$O" "http://$A_IP:51679$URI"
route bridge-80 "$O" "http://10.79.0.1:80$URI"
route bridge-51679 "$O" "http://10.79.0.1:51679$URI"
route host-mode-task "$H" "http://169.254.170.2$URI"
route host-mode-loopback "$H" "http://127.0.0.1:51679$URI"
route other-metadata-id "$O" "$META/task"
route bridge-mode-task "$BR" "http://169.254.170.2$URI"
route bridge-mode-to-task-ip "$BR" "http://$A_IP:51679$URI"
GUEST_IP=$(ip -4 addr | awk '/inet / && $NF != "bt9" && $NF != "lo" {sub("/.*", "", $2); print $2; exit}')
[ -n "$GUEST_IP" ] || die "no global address on the host: $(ip -4 -o addr)"
route host-address-80 "$O" "http://$GUEST_IP:80$URI"
route host-address-51679 "$O" "http://$GUEST_IP:51679$URI"
route host-endpoint-no-token "$H" "$H_URI"
route host-endpoint-other-id "$H" "${H_URI%/v2/*}$URI"
wait $ROUTE_PIDS   # (not a bare wait: berthd is a child too)
for r in $ROUTES; do
	[ -f "$S/route.$r.rc" ] || die "route $r ($(cat "$S/route.$r.what")): no result"
	_rc=$(cat "$S/route.$r.rc")
	_out=$(cat "$S/route.$r.out")
	if echo "$_out" | grep -q "$AKID\|SecretAccessKey"; then
		die "route $r ($(cat "$S/route.$r.what")) gave the credentials away: $_out"
	fi
	[ "$_rc" != 0 ] || die "route $r ($(cat "$S/route.$r.what")) answered 2xx: $_out"
	say "route $r denied (exit $_rc): $(echo "$_out" | head -c 120)"
done
# and from the host itself
if "$BERTH_BIN/berth-testhelper" http-get "http://169.254.170.2$URI" --timeout 3 > "$S/h.out" 2>/dev/null; then
	die "the host reached a task endpoint: $(cat "$S/h.out")"
fi
if "$BERTH_BIN/berth-testhelper" http-get "$H_URI" --timeout 3 > "$S/h.out" 2>/dev/null; then
	die "the host got a host-mode task's credentials without its token: $(cat "$S/h.out")"
fi
say "route host denied (also a host-mode endpoint without the token)"

# ------------------------------------------------ audit
SHIMLOG=$(find "$RUN_DIR/$A" -name shim.log 2>/dev/null | head -n 1)
[ -n "$SHIMLOG" ] || SHIMLOG=$(find / -path "*$A*" -name shim.log 2>/dev/null | head -n 1)
[ -n "$SHIMLOG" ] || die "no shim.log for $A"
grep -q "endpoint: GET /v2/credentials 200 (task $A_ARN, role $ROLE)" "$SHIMLOG" ||
	die "no audit line: $(grep endpoint "$SHIMLOG")"
ID=${URI##*/}
grep -q "$ID" "$SHIMLOG" "$S/berthd.log" && die "the credentials id is in a log"
say "each credentials fetch has an audit line, without the id"

# ------------------------------------------------ rotation (60 s sets: a new one after half)
left=$((T0 + 32 - $(date +%s)))
[ "$left" -gt 0 ] && sleep "$left"
get "$A" "http://169.254.170.2$URI" > "$S/creds2.json" || die "credentials again: $(cat "$S/get.err")"
AKID2=$(field AccessKeyId "$S/creds2.json")
EXP2=$(field Expiration "$S/creds2.json")
[ "$AKID2" != "$AKID" ] || die "no new credentials after half their lifetime: $(cat "$S/creds2.json")"
[ "$EXP2" \> "$EXP1" ] || die "the new set expires at $EXP2, not after $EXP1"
say "rotated: $AKID2, expire at $EXP2"

# ------------------------------------------------ botocore's provider, berthd down
kill "$BD"
wait "$BD" 2>/dev/null
# the container's own namespace, through its process (the netns bind mount
# lives in the shim's mount namespace only); the shim's status.json has the
# container's pid as this host numbers it
ST=$(find "$RUN_DIR/$A" -maxdepth 2 -name status.json | head -n 1)
CPID=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$ST" | head -n 1)
NS=/proc/$CPID/ns/net
[ -n "$CPID" ] && [ -e "$NS" ] || die "no container pid in $ST: $(cat "$ST")"
"$BERTH_BIN/berth-testhelper" tcp-proxy 8080 "$NS" 169.254.170.2 80 > "$S/proxy.out" 2>&1 &
PX=$!
on_exit "kill $PX"
wait_until 10 grep -q listening "$S/proxy.out" || die "proxy: $(cat "$S/proxy.out")"
rc=0
hostcall creds_provider "$URI" "$ROLE" || rc=$?
[ "$rc" = 0 ] || die "botocore's container provider (rc $rc)"
kill "$PX"
wait "$PX" 2>/dev/null
"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug >> "$S/berthd.log" 2>&1 &
BD=$!
on_exit "kill $BD"
wait_until 30 sh -c "'$B' ps 2>/dev/null | grep -q creds-app" || die "berthd did not come back: $(tail -n 20 "$S/berthd.log")"
say "botocore's container provider loaded them while berthd was down; berthd re-adopted the tasks"

# the other tasks are done with (stopped while the first set expires)
for t in "$O" "$H" "$BR"; do "$B" stop --wait "$t" > /dev/null || die "stop $t"; done

# ------------------------------------------------ expired
left=$((T0 + 62 - $(date +%s)))
[ "$left" -gt 0 ] && sleep "$left"
rc=0
hostcall creds_expired "$AKID" "$SAK" "$TOK" || rc=$?
[ "$rc" = 0 ] || die "an expired set (rc $rc); berthd said: $(tail -n 5 "$S/berthd.log")"

"$B" stop --wait "$A" > /dev/null || die "stop $A"
say "the task endpoint serves each task only its own credentials"
