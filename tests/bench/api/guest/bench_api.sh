# tests/bench/api/guest/bench_api.sh - the guest half of tests/bench/api/run.sh
# (BENCH_TASKS comes from the prelude run.sh writes). Prints "RESULT name value"
# lines; run.sh collects them.
# vm-only
run_setup 2048
S=$BERTH_SCRATCH
N=${BENCH_TASKS:-200}
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "storage": "tmpfs", "noLimits": ${BENCH_NO_LIMITS:-false},
  "network": { "bridge": "btb", "subnet": "10.80.0.0/22", "nftTable": "berthbench" } }
JSON
on_exit "ip link del btb"
on_exit "nft delete table inet berthbench"
B() { "$BERTH_BIN/berth" --socket "$S/berthd.sock" "$@"; }
if [ "${BENCH_NO_LIMITS:-false}" = true ] && [ "${BENCH_BASE_ROOT:-false}" != true ]; then
	# The baseline without berth's cgroups runs where a host's processes
	# run: in a memory cgroup two levels down (this host's shell is in
	# memory:/process_api/<id>; berthd.service under systemd is in
	# system.slice/berthd.service), not in the guest's root cgroup, where
	# the kernel charges no page to a memcg at all. Otherwise the
	# comparison would count that charging, which the native figure it
	# scales already pays, as berth's cgroup cost.
	BASE=$BERTH_CGROUP/berth-bench-base
	grep -qw memory "$BERTH_CGROUP/cgroup.subtree_control" || echo +memory > "$BERTH_CGROUP/cgroup.subtree_control" ||
		die "enable memory at the root"
	mkdir -p "$BASE" && echo +memory > "$BASE/cgroup.subtree_control" && mkdir -p "$BASE/berthd" ||
		die "make $BASE/berthd"
	on_exit "rmdir '$BASE/berthd' '$BASE'"
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$BASE/berthd" \
		"$BERTH_BIN/berthd" --config "$S/berthd.json" > "$S/berthd.log" 2>&1 &
	BD=$!
	say "berthd (noLimits) in $BASE/berthd: a memory cgroup, as a host's processes are"
else
	"$BERTH_BIN/berthd" --config "$S/berthd.json" > "$S/berthd.log" 2>&1 &
	BD=$!
fi
on_exit 'kill $BD; for p in $(pids_of berth-shim); do kill -9 $p; done'
wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(cat "$S/berthd.log")"
cat > "$S/idle.json" <<JSON
{ "family": "idle", "networkMode": "awsvpc", "memory": "16",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "command": ["sleep", "3600"],
    "stopTimeout": 1, "ulimits": [ { "name": "nofile", "softLimit": 1024, "hardLimit": 1024 } ] } ] }
JSON
B taskdef register "$S/idle.json" >/dev/null || die "register"
# warm: the image's layers, the seccomp cache, the bridge and the ruleset
B run --detach --wait idle >/dev/null || die "warm-up task"
B stop --wait $(B ps -q) >/dev/null
# smaps_rollup walks the page tables: VmRSS lags on the guest's 6.1 kernel
# (per-thread counters folded in every 64 faults: 400 KiB shown for 1.4 MiB)
rss() { awk '/^Rss:/ { print $2 }' "/proc/$1/smaps_rollup"; }
bd0=$(rss "$BD")
ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
t0=$(ms)
left=$N
while [ "$left" -gt 0 ]; do
	c=$left; [ "$c" -gt 10 ] && c=10
	B run --detach --count "$c" idle >/dev/null || die "RunTask failed at $((N - left)) tasks: $(tail -n 5 "$S/berthd.log")"
	left=$((left - c))
done
t1=$(ms)
all_running() { [ "$(B ps -q | wc -l)" = "$N" ] && ! B ps | grep -qE 'PROVISIONING|PENDING'; }
wait_until $((N * 5)) all_running || die "not all $N tasks RUNNING: $(B ps | tail -n 5)"
t2=$(ms)
sleep 5
shims=$(pids_of berth-shim)
[ "$(echo "$shims" | wc -l)" = "$N" ] || die "expected $N shims, found $(echo "$shims" | wc -l)"
rss_sum=0 rss_max=0 pss_sum=0 uss_sum=0
for p in $shims; do
	r=$(rss "$p")
	q=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup")
	u=$(awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s + 0 }' "/proc/$p/smaps_rollup")
	rss_sum=$((rss_sum + r)); pss_sum=$((pss_sum + q)); uss_sum=$((uss_sum + u))
	[ "$r" -gt "$rss_max" ] && rss_max=$r
done
bd1=$(rss "$BD")
echo "RESULT tasks $N"
awk -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
	printf "RESULT runtask_accept_per_s %.1f\n", n * 1000 / (b - a)
	printf "RESULT starts_per_s %.1f\n", n * 1000 / (c - a)
	printf "RESULT all_running_after_ms %d\n", c - a }'
echo "RESULT shim_rss_kib_avg $((rss_sum / N))"
echo "RESULT shim_rss_kib_max $rss_max"
echo "RESULT shim_pss_kib_avg $((pss_sum / N))"
echo "RESULT shim_private_kib_avg $((uss_sum / N))"
echo "RESULT berthd_rss_kib_idle $bd0"
echo "RESULT berthd_rss_kib_with_tasks $bd1"
echo "RESULT berthd_growth_kib_per_task $(( (bd1 - bd0) / N ))"
B stop --wait $(B ps -q) >/dev/null || die "stop all"
