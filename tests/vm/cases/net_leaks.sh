# 500 task networks up and down (issue 6): awsvpc and bridge mode in turn
# (IP, host ports, netns, veth, security-group membership), then 20 at once,
# then 8 processes side by side with 25 each (tasks starting together: none
# of them may take another's set change for a changed ruleset and apply it
# all again, which made a burst of starts slow and failed some of them);
# nothing may be left: no netns mount, veth, set element, IP or port
# reservation, and no fd of the process that did it.
# vm-only: it changes the host's network (a bridge, an nftables table, ip_forward)
# timeout: 900
S=$BERTH_SCRATCH
cat > "$S/net.json" <<'JSON'
{ "network": { "bridge": "btl", "subnet": "10.76.0.0/22", "nftTable": "berthleak",
               "hostPortRange": "50000-50999" } }
JSON
on_exit "ip link del btl; nft delete table inet berthleak"
mkdir -p "$S/ns"
links0=$(ip -o link | wc -l)
"$BERTH_BIN/berth-tasknet-tool" cycle --config "$S/net.json" --state "$S/state" --dir "$S/ns" \
	--count 500 --batch 20 --parallel 8 > "$S/cycle.out" 2> "$S/cycle.err" || die "cycle failed: $(tail -n 5 "$S/cycle.err")"
say "$(cat "$S/cycle.out")"
applies=$(sed -n 's/.*"parallel_applies":\([0-9]*\).*/\1/p' "$S/cycle.out")
[ "$applies" = 0 ] || die "tasks set up side by side applied the ruleset again $applies times (want 0)"
before=$(sed -n 's/.*"fds_before":\([0-9]*\).*/\1/p' "$S/cycle.out")
after=$(sed -n 's/.*"fds_after":\([0-9]*\).*/\1/p' "$S/cycle.out")
[ -n "$before" ] && [ "$before" = "$after" ] || die "fds: $before before, $after after"
# the kernel removes the veths of dropped netns in batches, after the fact
wait_until 30 sh -c '[ -z "$(ip -br link show master btl)" ]' || die "veths left on btl: $(ip -br link show master btl | head)"
# ... and the pairs themselves go a little later still (cleanup_net)
wait_until 60 sh -c "[ \$(ip -o link | wc -l) -le $((links0 + 1)) ]" ||
	die "links: $links0 before, $(ip -o link | wc -l) after (the bridge is the one new): $(ip -br link)"
grep -q "$S/ns" /proc/self/mountinfo && die "netns mounts left: $(grep "$S/ns" /proc/self/mountinfo | head -n 3)"
[ -z "$(ls -A "$S/ns")" ] || die "netns files left: $(ls "$S/ns" | head)"
ls "$S/state/ipam" | grep -q '^10\.' && die "IP reservations left: $(ls "$S/state/ipam" | head)"
ls "$S/state/ports" | grep -q '^tcp-\|^udp-' && die "port reservations left: $(ls "$S/state/ports" | head)"
for set in m_default m_bridge-mode; do
	nft list set inet berthleak "$set" | grep -q elements && die "elements left in $set: $(nft list set inet berthleak "$set")"
done
[ -z "$(ls /var/run/netns 2>/dev/null)" ] || say "note: /var/run/netns has $(ls /var/run/netns) (not berth's)"
say "720 task networks: nothing left (netns, veth, set element, IP, port, fd)"
