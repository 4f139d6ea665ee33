# networkMode none, host and bridge through `berth run` (issue 6): none has
# only lo; host sees the host's interfaces; bridge gets an address on the
# berth bridge, dynamic and static host ports recorded as networkBindings
# (ECS's rules: reserved ports refused, clashes refused), dnsServers,
# dnsSearchDomains and extraHosts in its /etc files.
# vm-only: it changes the host's network (a bridge, an nftables table, ip_forward)
# timeout: 300
run_setup
S=$BERTH_SCRATCH
cat > "$S/berthd.json" <<'JSON'
{ "network": { "bridge": "bt1", "subnet": "10.78.0.0/24", "nftTable": "berthmodes",
               "hostPortRange": "50000-50002" } }
JSON
export BERTH_NETWORK_CONFIG=$S/berthd.json
on_exit "ip link del bt1; nft delete table inet berthmodes"

mode_task() { # FILE MODE CMD-JSON [EXTRA-CONTAINER-FIELDS]
	cat > "$1" <<JSON
{ "family": "modes", "requiresCompatibilities": ["EC2"], "networkMode": "$2", "memory": "256",
  "containerDefinitions": [ { "name": "app", "image": "berth-test/helper", "essential": true,
    "command": $3 ${4:+, $4} } ] }
JSON
}

# none: lo only
mode_task "$S/none.json" none '["cat", "/proc/net/dev"]'
run_berth "$S/none.json" > "$S/none.out" 2>&1 || die "none: $(cat "$S/none.out")"
ifs=$(run_out "$S/none.out" app | sed -n 's/^ *\([a-z0-9]*\):.*/\1/p' | sort | tr '\n' ' ')
[ "$ifs" = "lo " ] || die "networkMode none: interfaces '$ifs', want only lo"
say "none: only lo"

# host: the host's interfaces, and no bridge or address made for it
mode_task "$S/host.json" host '["cat", "/proc/net/dev"]'
run_berth "$S/host.json" > "$S/host.out" 2>&1 || die "host: $(cat "$S/host.out")"
want=$(sed -n 's/^ *\([a-z0-9]*\):.*/\1/p' /proc/net/dev | sort | tr '\n' ' ')
ifs=$(run_out "$S/host.out" app | sed -n 's/^ *\([a-z0-9]*\):.*/\1/p' | sort | tr '\n' ' ')
[ "$ifs" = "$want" ] || die "networkMode host: interfaces '$ifs', the host has '$want'"
grep -q "network host" "$S/host.out" && die "host mode set up a task network"
say "host: the host's interfaces ($want)"

# bridge: eth0 with an address on bt1; dynamic + static host ports
mode_task "$S/bridge.json" bridge '["cat", "/proc/net/dev"]' \
	'"portMappings": [ { "containerPort": 80 }, { "containerPort": 53, "protocol": "udp" },
	                   { "containerPort": 443, "hostPort": 8443 } ],
	 "dnsServers": ["192.0.2.53"], "dnsSearchDomains": ["corp.example"],
	 "extraHosts": [ { "hostname": "db.internal", "ipAddress": "192.0.2.10" } ]'
run_berth_json "$S/bridge.json" > "$S/bridge.json.out" 2> "$S/bridge.err" || die "bridge: $(cat "$S/bridge.err")"
run_out "$S/bridge.err" app | grep -q '^ *eth0:' || die "bridge: no eth0 in the task: $(run_out "$S/bridge.err" app)"
grep -q '"privateIpv4Address": "10.78.0.' "$S/bridge.json.out" || die "bridge: no address reported: $(cat "$S/bridge.json.out")"
tr -d ' \n' < "$S/bridge.json.out" > "$S/b.flat"
grep -q '"containerPort":80,"hostPort":50000,"protocol":"tcp"' "$S/b.flat" || die "bridge: 80/tcp not on 50000: $(cat "$S/bridge.json.out")"
grep -q '"containerPort":53,"hostPort":50000,"protocol":"udp"' "$S/b.flat" || die "bridge: 53/udp not on 50000 (udp has its own ports): $(cat "$S/bridge.json.out")"
grep -q '"containerPort":443,"hostPort":8443,"protocol":"tcp"' "$S/b.flat" || die "bridge: 443 not on 8443: $(cat "$S/bridge.json.out")"
say "bridge: eth0 on bt1, networkBindings 80->50000/tcp 53->50000/udp 443->8443"

# dynamic ports continue after the last one handed out, and are released
run_berth_json "$S/bridge.json" > "$S/bridge2.json.out" 2> "$S/bridge2.err" || die "bridge again: $(cat "$S/bridge2.err")"
tr -d ' \n' < "$S/bridge2.json.out" | grep -q '"containerPort":80,"hostPort":50001,"protocol":"tcp"' ||
	die "second run: 80/tcp not on 50001: $(cat "$S/bridge2.json.out")"
say "next task: 80/tcp -> 50001 (scan from the last assigned)"

# the /etc files of an EC2 bridge task: dnsServers, search, extraHosts
mode_task "$S/etc.json" bridge '["cat", "/etc/resolv.conf"]' \
	'"dnsServers": ["192.0.2.53"], "dnsSearchDomains": ["corp.example"],
	 "extraHosts": [ { "hostname": "db.internal", "ipAddress": "192.0.2.10" } ]'
run_berth "$S/etc.json" > "$S/etc.out" 2>&1 || die "etc: $(cat "$S/etc.out")"
run_out "$S/etc.out" app | grep -q '^nameserver 192.0.2.53$' || die "resolv.conf: $(run_out "$S/etc.out" app)"
run_out "$S/etc.out" app | grep -q '^search corp.example$' || die "resolv.conf search: $(run_out "$S/etc.out" app)"
sed -i 's|"cat", "/etc/resolv.conf"|"cat", "/etc/hosts"|' "$S/etc.json"
run_berth "$S/etc.json" > "$S/hosts.out" 2>&1 || die "hosts: $(cat "$S/hosts.out")"
run_out "$S/hosts.out" app | grep -q '^192.0.2.10	db.internal$' || die "/etc/hosts: $(run_out "$S/hosts.out" app)"
say "bridge: dnsServers, dnsSearchDomains and extraHosts in /etc"

# ECS's reserved host ports and clashes are refused, and nothing is left
mode_task "$S/res.json" bridge '["exit", "0"]' '"portMappings": [ { "containerPort": 22, "hostPort": 22 } ]'
run_berth "$S/res.json" > "$S/res.out" 2>&1 && die "hostPort 22 was accepted"
grep -q 'reserved' "$S/res.out" || die "hostPort 22: no reason given: $(cat "$S/res.out")"
say "hostPort 22: $(grep -o 'portMappings[^;]*reserved[^;]*' "$S/res.out" | head -n1)"
mode_task "$S/many.json" bridge '["exit", "0"]' \
	'"portMappings": [ { "containerPort": 1 }, { "containerPort": 2 }, { "containerPort": 3 }, { "containerPort": 4 } ]'
run_berth "$S/many.json" > "$S/many.out" 2>&1 && die "4 dynamic ports from a range of 3 were accepted"
grep -qi 'no free\|exhausted\|in use' "$S/many.out" || die "exhaustion: no reason: $(cat "$S/many.out")"
say "4 dynamic ports from 3: refused ($(grep -io 'host port[^;]*' "$S/many.out" | head -n1))"
ls "$RUN_ROOT/net/ports" | grep -q '^tcp-\|^udp-' && die "ports left reserved: $(ls "$RUN_ROOT/net/ports")"
ls "$RUN_ROOT/net/ipam" | grep -q '^10\.' && die "IP allocations left: $(ls "$RUN_ROOT/net/ipam")"
wait_until 10 sh -c '[ -z "$(ip -br link show master bt1)" ]' || die "veths left on bt1: $(ip -br link show master bt1)"
say "nothing left: ports, IPs, veths"
