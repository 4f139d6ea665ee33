# awsvpc tasks through `berth run` (issue 6): each task its own netns and
# IP on the berth bridge; security groups decide who may connect to whom;
# tasks reach an "outside" host only through masquerade; the containers of
# a task share localhost; /etc/hosts and resolv.conf; nothing left behind.
# vm-only: it changes the host's network (a bridge, an nftables table, ip_forward)
# timeout: 400
run_setup
S=$BERTH_SCRATCH
BR=bt0
cat > "$S/berthd.json" <<'JSON'
{ "network": {
    "bridge": "bt0", "subnet": "10.77.0.0/24", "nftTable": "berthtest",
    "securityGroups": {
      "web":    { "ingress": [ { "protocol": "tcp", "port": 8080, "sourceGroup": "client" },
                               { "protocol": "tcp", "port": 8081, "cidr": "10.77.0.0/24" } ] },
      "client": { "ingress": [] },
      "closed": { "ingress": [] }
    } } }
JSON
export BERTH_NETWORK_CONFIG=$S/berthd.json
on_exit "ip link del $BR"
ulim='"ulimits": [ { "name": "nofile", "softLimit": 1024, "hardLimit": 1024 } ]'

# task FILE NAME CMD-JSON...: an awsvpc task whose containers run the helper
# (stopTimeout 2: `sleep` as pid 1 ignores SIGTERM; the stop at the end
# would wait the default 30 s for the SIGKILL)
task() {
	_f=$1; _fam=$2; shift 2
	_defs=""; _i=0
	for _cmd in "$@"; do
		_i=$((_i + 1))
		[ -n "$_defs" ] && _defs="$_defs,"
		_defs="$_defs { \"name\": \"c$_i\", \"image\": \"berth-test/helper\", \"essential\": $([ $_i = 1 ] && echo true || echo false), \"command\": $_cmd, \"stopTimeout\": 2 }"
	done
	cat > "$_f" <<JSON
{ "family": "$_fam", "requiresCompatibilities": ["EC2"], "networkMode": "awsvpc", "memory": "256",
  "containerDefinitions": [ $_defs ] }
JSON
}

# ------------------------------------------------------------------ server
# B: echo servers on 8080 (open to group client) and 9090 (open to nobody)
# and 8081 (open to the subnet by CIDR)
task "$S/server.json" server '["sleep", "600"]' '["tcp-echo", "--port", "8080"]' \
	'["tcp-echo", "--port", "9090"]' '["tcp-echo", "--port", "8081"]'
run_bg server --security-group web "$S/server.json"
BG=$RUN_PID
wait_until 60 grep -q 'c4 | {"listening":8081}' "$S/server.err" || die "server did not start: $(cat "$S/server.err")"
ipb=$(sed -n 's/.*network awsvpc: \([0-9.]*\)\/24 on bt0.*/\1/p' "$S/server.err" | head -n1)
[ -n "$ipb" ] || die "no address in the server's output: $(cat "$S/server.err")"
say "server task at $ipb (security group web)"
ip -br addr show dev $BR | grep -q '10.77.0.1/24' || die "bridge $BR lacks the gateway address: $(ip -br addr show dev $BR)"

# send GROUP PORT: exit status of a client task in GROUP sending to B:PORT
send() {
	task "$S/send.json" client "[\"tcp-send\", \"$ipb\", \"$2\", \"hello-$1-$2\", \"--timeout\", \"3\"]"
	run_berth --security-group "$1" "$S/send.json" > "$S/send.$1.$2.out" 2>&1
}
send client 8080 || die "group client -> web:8080 was refused: $(cat "$S/send.client.8080.out")"
grep -q '"reply":"hello-client-8080"' "$S/send.client.8080.out" || die "no echo: $(cat "$S/send.client.8080.out")"
say "client -> web:8080 allowed (source group rule)"
send client 9090 && die "group client -> web:9090 was allowed (no rule opens 9090)"
say "client -> web:9090 denied"
send closed 8080 && die "group closed -> web:8080 was allowed (only group client may)"
say "closed -> web:8080 denied"
send closed 8081 || die "group closed -> web:8081 was refused (the CIDR rule opens it to the subnet): $(cat "$S/send.closed.8081.out")"
say "closed -> web:8081 allowed (CIDR rule)"
# the default group: members reach each other, nobody else reaches them
task "$S/dflt.json" dflt '["sleep", "600"]' '["tcp-echo", "--port", "7070"]'
run_bg dflt "$S/dflt.json"
BG="$BG $RUN_PID"
wait_until 60 grep -q 'c2 | {"listening":7070}' "$S/dflt.err" || die "default-group server did not start: $(cat "$S/dflt.err")"
ipd=$(sed -n 's/.*network awsvpc: \([0-9.]*\)\/24 on bt0.*/\1/p' "$S/dflt.err" | head -n1)
task "$S/d1.json" d1 "[\"tcp-send\", \"$ipd\", \"7070\", \"hi\", \"--timeout\", \"3\"]"
run_berth "$S/d1.json" > "$S/d1.out" 2>&1 || die "default -> default was refused: $(cat "$S/d1.out")"
run_berth --security-group client "$S/d1.json" > "$S/d2.out" 2>&1 && die "client -> default was allowed"
say "default group: members in, others out"
# the host itself is not filtered (health checks, the proxy): it reaches 9090
"$HELPER" tcp-send "$ipb" 9090 from-host --timeout 3 > "$S/host.out" 2>&1 ||
	die "host -> task:9090 failed: $(cat "$S/host.out")"

# changing a group applies to running tasks: open 9090 to client, re-apply
# (any task start applies the configuration), and the same send now passes
sed -i 's/"port": 8080, "sourceGroup": "client" }/&, { "protocol": "tcp", "port": 9090, "sourceGroup": "client" }/' "$S/berthd.json"
grep -q '"port": 9090' "$S/berthd.json" || die "test bug: the config edit did not apply"
send client 9090 || die "after the change, client -> web:9090 was refused: $(cat "$S/send.client.9090.out")"
say "rule added to web: the running server task now admits client on 9090"

# ---------------------------------------------------------------- outside
# a netns plays the internet: 198.51.100.2, with no route to 10.77.0.0/24
netns_make outside
ip link add vo-h type veth peer name vo-o netns outside || die "veth"
on_exit "ip link del vo-h"
ip addr add 198.51.100.1/24 dev vo-h && ip link set vo-h up || die "vo-h"
ip -n outside addr add 198.51.100.2/24 dev vo-o && ip -n outside link set vo-o up && ip -n outside link set lo up || die "vo-o"
ip netns exec outside "$HELPER" tcp-echo --port 7000 > "$S/outside.out" 2>&1 &
on_exit "ip netns pids outside | xargs -r kill -KILL"   # ip netns exec forks: $! is not the server
wait_until 10 grep -q listening "$S/outside.out" || die "outside echo server did not start"
task "$S/out.json" out '["tcp-send", "198.51.100.2", "7000", "to-the-internet", "--timeout", "3"]'
run_berth "$S/out.json" > "$S/out1.out" 2>&1 || die "task -> outside failed: $(cat "$S/out1.out")"
grep -q '"reply":"to-the-internet"' "$S/out1.out" || die "no reply from outside: $(cat "$S/out1.out")"
say "task -> outside host works (masquerade)"
# without the masquerade rule the outside host cannot answer: take it out
# and try from a running task (a new task would put the rule back)
task "$S/hold.json" hold '["sleep", "600"]'
run_bg hold --security-group client "$S/hold.json"
BG="$BG $RUN_PID"
wait_until 60 grep -q 'c1: started' "$S/hold.err" || die "hold task did not start: $(cat "$S/hold.err")"
pid=$(sed -n 's/.*c1: started (pid \([0-9]*\)).*/\1/p' "$S/hold.err")
nft flush chain inet berthtest postrouting || die "nft flush"
nsenter -t "$pid" -n "$HELPER" tcp-send 198.51.100.2 7000 no-nat --timeout 3 > "$S/out2.out" 2>&1 &&
	die "task -> outside worked without the masquerade rule: $(cat "$S/out2.out")"
say "without masquerade the outside host cannot answer (no route back): denied as expected"
run_berth "$S/out.json" > "$S/out3.out" 2>&1 || die "after re-apply, task -> outside failed: $(cat "$S/out3.out")"
say "the next task start put the rule back"

# ----------------------------------------------------- localhost, /etc files
task "$S/local.json" local '["tcp-send", "127.0.0.1", "6000", "over-lo", "--timeout", "5"]' \
	'["tcp-echo", "--port", "6000"]'
sed -i 's/"essential": true, "command": \["tcp-send"/"essential": true, "dependsOn": [{"containerName": "c2", "condition": "START"}], "command": ["tcp-send"/' "$S/local.json"
grep -q '"dependsOn"' "$S/local.json" || die "test bug: the dependsOn edit did not apply: $(cat "$S/local.json")"
run_berth "$S/local.json" > "$S/local.out" 2>&1 || die "localhost between containers: $(cat "$S/local.out")"
grep -q '"reply":"over-lo"' "$S/local.out" || die "no reply over localhost: $(cat "$S/local.out")"
say "two containers of a task talk over localhost"

task "$S/etc.json" etc '["cat", "/etc/hosts"]' '["cat", "/etc/resolv.conf"]'
run_berth "$S/etc.json" > "$S/etc.out" 2>&1 || die "cat /etc files: $(cat "$S/etc.out")"
ipe=$(sed -n 's/.*network awsvpc: \([0-9.]*\)\/24 on bt0.*/\1/p' "$S/etc.out" | head -n1)
id=$(sed -n 's/.*task \([0-9a-f]\{12\}\): network.*/\1/p' "$S/etc.out" | head -n1)
run_out "$S/etc.out" c1 | grep -q "^$ipe	$id\$" || die "/etc/hosts lacks '$ipe $id': $(run_out "$S/etc.out" c1)"
if [ -s /etc/resolv.conf ]; then
	run_out "$S/etc.out" c2 | diff - /etc/resolv.conf > /dev/null || die "resolv.conf is not the host's"
fi
say "/etc/hosts names the task's IP; resolv.conf is the host's"

# ------------------------------------------------------------- left behind
# the background tasks stop as on Ctrl-C: graceful, then their teardown
for p in $BG; do kill -TERM "$p" 2>/dev/null; done
for p in $BG; do wait "$p"; done
wait_until 10 sh -c "[ -z \"\$(ip -br link show master $BR)\" ]" || die "veths left on $BR: $(ip -br link show master $BR)"
ls "$RUN_ROOT/net/ipam" | grep -q '^10\.' && die "IP allocations left: $(ls "$RUN_ROOT/net/ipam")"
nft list set inet berthtest m_web | grep -q 'elements' && die "members left in m_web: $(nft list set inet berthtest m_web)"
grep -q "$RUN_DIR" /proc/self/mountinfo && die "mounts left under $RUN_DIR"
nft delete table inet berthtest
say "nothing left: no veth, IP allocation, set member or mount"
