# A veth pair carries TCP between two network namespaces.
# timeout: 90
a=berth-t-a.$$ b=berth-t-b.$$
netns_make "$a"
netns_make "$b"
ip link add vt-a type veth peer name vt-b netns "$b" || die "veth add"
ip link set vt-a netns "$a" || die "move vt-a into $a"
ip -n "$a" addr add 10.250.0.1/30 dev vt-a && ip -n "$a" link set vt-a up && ip -n "$a" link set lo up || die "configure $a"
ip -n "$b" addr add 10.250.0.2/30 dev vt-b && ip -n "$b" link set vt-b up && ip -n "$b" link set lo up || die "configure $b"
ip netns exec "$b" "$HELPER" tcp-echo --port 7000 > "$BERTH_SCRATCH/echo.out" 2>&1 &
srv=$!
on_exit "kill $srv"
wait_until 10 grep -q listening "$BERTH_SCRATCH/echo.out" || die "echo server did not start: $(cat "$BERTH_SCRATCH/echo.out")"
out=$(ip netns exec "$a" "$HELPER" tcp-send 10.250.0.2 7000 "hello-from-$a") || die "tcp-send failed: $out"
say "reply over veth: $out"
[ "$(json_field "$out" reply)" = "hello-from-$a" ] || die "unexpected reply: $out"
# and nothing answers on the root namespace side: the pair is really isolated
if "$HELPER" tcp-send 10.250.0.2 7000 x --timeout 2 >/dev/null 2>&1; then
	die "10.250.0.2 reachable from the root namespace"
fi
