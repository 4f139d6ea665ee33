# Service discovery (issue 12): berthd answers DNS on the bridge's address
# for the tasks; an ECS service registered in a Cloud Map service (created
# with the real AWS CLI) is <service>.<namespace> to every task, with A and
# SRV records of its RUNNING and healthy tasks. The answer follows a
# scale-out and a stopped task; a task's program finds the service by name
# through its resolv.conf; names outside the namespaces go to the host's
# resolver (a netns here plays it, the only one berthd is told of); the
# responder answers no one outside the task subnet.
# vm-only: berthd sets up task networking (a bridge, an nftables table)
# timeout: 900
run_setup 1024
S=$BERTH_SCRATCH
KEY=AKIDBERTHTEST0000013
SECRET=berth-test-secret-discovery-0123456789
GW=10.81.0.1

# ------------------------------------------------ the upstream resolver
netns_make sdup
ip link add vu-h type veth peer name vu-o netns sdup || die "veth"
on_exit "ip link del vu-h"
ip addr add 198.51.100.1/24 dev vu-h && ip link set vu-h up || die "vu-h"
ip -n sdup addr add 198.51.100.53/24 dev vu-o && ip -n sdup link set vu-o up && ip -n sdup link set lo up ||
	die "vu-o"
ip -n sdup route add 10.81.0.0/24 via 198.51.100.1 || die "route"
ip netns exec sdup "$HELPER" dns-serve --address 198.51.100.53 --port 53 --ttl 30 \
	--record example.test=192.0.2.7 --record www.example.test=192.0.2.8 > "$S/up.out" 2> "$S/up.err" &
on_exit "ip netns pids sdup | xargs -r kill -KILL"
wait_until 10 grep -q listening "$S/up.out" || die "upstream resolver did not start: $(cat "$S/up.out" "$S/up.err")"

cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "listen": "0.0.0.0:8080", "storage": "tmpfs",
  "serviceIntervalMilliseconds": 500,
  "credentials": [ { "accessKeyId": "$KEY", "secretAccessKey": "$SECRET" } ],
  "network": { "bridge": "bt13", "subnet": "10.81.0.0/24", "nftTable": "berthsd" },
  "dns": { "enabled": true, "upstreams": ["198.51.100.53"] } }
JSON
on_exit "ip link del bt13"
on_exit "nft delete table inet berthsd"
"$BERTH_BIN/berthd" --config "$S/berthd.json" --check || die "berthd --check refused the configuration"
"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug > "$S/berthd.log" 2>&1 &
BD=$!
on_exit 'kill $BD 2>/dev/null; wait_until 20 sh -c "! kill -0 $BD"'
wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(tail -n 20 "$S/berthd.log")"
grep -q "dns: answering tasks on $GW:53 (1 upstream)" "$S/berthd.log" ||
	die "no DNS responder: $(grep dns "$S/berthd.log")"
export BERTH_SOCKET=$S/berthd.sock BERTH_RUN_DIR=$RUN_DIR
B=$BERTH_BIN/berth
on_exit "'$B' ps -q | xargs -r '$B' stop --wait >/dev/null"

phase() {
	rc=0
	hostcall discovery_awscli "$KEY" "$SECRET" "$1" || rc=$?
	[ "$rc" = 0 ] || die "discovery phase $1 failed (rc $rc); berthd said: $(grep -v ' api: ' "$S/berthd.log" | tail -n 40)"
}

# a client task that asks
cat > "$S/client.json" <<'JSON'
{ "family": "sd-client", "requiresCompatibilities": ["EC2"], "networkMode": "awsvpc", "memory": "64",
  "containerDefinitions": [
    { "name": "c", "image": "berth-test/helper", "command": ["sleep", "900"], "stopTimeout": 2 } ] }
JSON
C=$("$B" run --detach --wait "$S/client.json" 2> "$S/run.err") || die "run client: $(cat "$S/run.err")"
"$B" exec "$C" -- cat /etc/resolv.conf > "$S/resolv" || die "exec cat resolv.conf"
[ "$(grep '^nameserver' "$S/resolv")" = "nameserver $GW" ] || die "the task's resolv.conf: $(cat "$S/resolv")"
say "a task's resolv.conf: nameserver $GW (berthd)"

# q ARGS...: dns-query from the client task (JSON on stdout, its exit status)
q() { "$B" exec "$C" -- berth-testhelper dns-query "$@" 2>/dev/null; }
# the A answers for web.berth.local, sorted, one line
dns_ips() { q web.berth.local | tr '{' '\n' | sed -n 's/.*"type":"A".*"data":"\([0-9.]*\)".*/\1/p' | sort | tr '\n' ' '; }
# the addresses of discweb's RUNNING tasks, sorted, one line
svc_ips() {
	for t in $("$B" ps -q); do
		"$B" describe --json "$t" > "$S/d.json" 2>/dev/null || continue
		grep -q '"group": *"service:discweb"' "$S/d.json" || continue
		grep -q '"lastStatus": *"RUNNING"' "$S/d.json" || continue
		sed -n 's/.*"privateIpv4Address": *"\([^"]*\)".*/\1/p' "$S/d.json" | head -n 1
	done | sort | tr '\n' ' '
}
# match N: the answer is the service's N RUNNING tasks' addresses
match() { [ "$(svc_ips | wc -w)" = "$1" ] && [ "$(dns_ips)" = "$(svc_ips)" ]; }

# ------------------------------------------------ before: the namespace does not exist
rc=0; q web.berth.local > "$S/q0" || rc=$?
[ "$rc" = 6 ] || die "web.berth.local before the namespace: rc $rc $(cat "$S/q0")"
up0=$(grep -ci "berth.local" "$S/up.err")   # that one went upstream

phase create
wait_until 30 match 2 || die "web.berth.local: [$(dns_ips)], discweb's tasks: [$(svc_ips)]"
q web.berth.local > "$S/q1" || die "query: $(cat "$S/q1")"
grep -q '"aa":true' "$S/q1" || die "not authoritative: $(cat "$S/q1")"
grep -q '"ttl":5' "$S/q1" || die "TTL: $(cat "$S/q1")"
say "web.berth.local -> $(dns_ips)(discweb's 2 tasks, authoritative, TTL 5)"
q web.berth.local --type SRV > "$S/srv" || die "SRV: $(cat "$S/srv")"
n=$(tr '{' '\n' < "$S/srv" | grep -c '"type":"SRV".*"port":8080')
[ "$n" = 2 ] || die "SRV answers with port 8080: $n: $(cat "$S/srv")"
grep -q '"additional":\[{' "$S/srv" || die "SRV without additional A records: $(cat "$S/srv")"
say "SRV web.berth.local: 2 targets on port 8080, with their A records"
rc=0; q nope.berth.local > "$S/q2" || rc=$?
[ "$rc" = 6 ] && grep -q '"aa":true' "$S/q2" || die "nope.berth.local: rc $rc $(cat "$S/q2")"
[ "$(grep -ci "berth.local" "$S/up.err")" = "$up0" ] || die "a name of the namespace went upstream: $(cat "$S/up.err")"
say "nope.berth.local: NXDOMAIN from berthd itself"
# a program finds the service by name (the helper resolves through resolv.conf)
"$B" exec "$C" -- berth-testhelper http-get http://web.berth.local:8080/ --timeout 5 > "$S/get" 2>&1 ||
	die "http-get http://web.berth.local:8080/: $(cat "$S/get")"
grep -q from-discweb "$S/get" || die "http-get: $(cat "$S/get")"
say "http://web.berth.local:8080/ from a task: answered by discweb"

# ------------------------------------------------ outside the namespaces: upstream
q example.test > "$S/q3" || die "example.test: $(cat "$S/q3")"
grep -q '"data":"192.0.2.7"' "$S/q3" || die "example.test: $(cat "$S/q3")"
grep -q '"aa":false' "$S/q3" || die "example.test is not berthd's own: $(cat "$S/q3")"
rc=0; q missing.example.test > "$S/q4" || rc=$?
[ "$rc" = 6 ] || die "missing.example.test: rc $rc $(cat "$S/q4")"
grep -q "query example.test A from 198.51.100.1" "$S/up.err" || die "the upstream did not see it: $(cat "$S/up.err")"
"$B" exec "$C" -- berth-testhelper resolve www.example.test > "$S/r" || die "resolve www.example.test: $(cat "$S/r")"
grep -q 192.0.2.8 "$S/r" || die "resolve: $(cat "$S/r")"
say "example.test -> 192.0.2.7 through the upstream (NXDOMAIN relayed too; a program resolves www.example.test)"
# not an open resolver: the upstream's netns has a route to the bridge but is not a task
rc=0
ip netns exec sdup "$HELPER" dns-query --server $GW web.berth.local --timeout 2 > "$S/q5" 2>&1 || rc=$?
[ "$rc" = 7 ] || die "a query from outside the task subnet got an answer (rc $rc): $(cat "$S/q5")"
say "a query from outside the task subnet is dropped"

# ------------------------------------------------ scale-out, a stopped task
phase scale
wait_until 30 match 3 || die "after the scale-out: [$(dns_ips)] vs discweb's [$(svc_ips)]"
say "scale-out to 3: web.berth.local -> $(dns_ips)"
victim_ip=$(svc_ips | cut -d' ' -f1)
victim=
for t in $("$B" ps -q); do
	"$B" describe --json "$t" | grep -q "\"privateIpv4Address\": *\"$victim_ip\"" && victim=$t
done
[ -n "$victim" ] || die "no task with $victim_ip"
"$B" stop --wait "$victim" > /dev/null || die "stop $victim"
gone() { case " $(dns_ips)" in *" $victim_ip "*) return 1 ;; esac; return 0; }
wait_until 10 gone || die "the stopped task $victim_ip is still in the answer: $(dns_ips)"
say "stopped $victim ($victim_ip): gone from the answer"
wait_until 60 match 3 || die "after the replacement: [$(dns_ips)] vs discweb's [$(svc_ips)]"
say "its replacement is in: web.berth.local -> $(dns_ips)"

# ------------------------------------------------ delete
phase delete
rc=0; q web.berth.local > "$S/q6" || rc=$?
[ "$rc" = 6 ] || die "web.berth.local after the namespace was deleted: rc $rc $(cat "$S/q6")"
say "after delete-namespace: web.berth.local is NXDOMAIN"
"$B" stop --wait "$C" > /dev/null || die "stop client"
