# tests/bench/api/host_inner.sh - the part of host.sh that runs inside its
# private namespaces (unshare --net --mount --pid). Not to be run by hand:
# it mounts over BENCH_WORK/s and expects a network namespace of its own.
set -euo pipefail
B=$BENCH_BIN W=$BENCH_WORK N=$BENCH_TASKS
S=$W/s
mkdir -p "$S"
mount -t tmpfs -o mode=0700 berth-bench "$S"
mkdir -p "$S/root" "$S/run" "$S/logs" "$S/crun"
ip link set lo up
"$B/berth" --root "$S/root" image import "$BENCH_IMAGE" >/dev/null
cat > "$S/berthd.json" <<JSON
{ "root": "$S/root", "runDir": "$S/run", "logDir": "$S/logs", "cgroupRoot": "$S/no-cgroups",
  "socket": "$S/berthd.sock", "storage": "tmpfs", "noLimits": true, "shimPath": "$B/berth-shim",
  "network": { "bridge": "btb", "subnet": "10.80.0.0/21", "nftTable": "berthbench" } }
JSON
"$B/berthd" --config "$S/berthd.json" > "$W/berthd.log" 2>&1 &
BD=$!
cleanup() {
	kill "$BD" 2>/dev/null || true
	wait "$BD" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$S/berthd.sock" ] && break; sleep 0.1; done
[ -S "$S/berthd.sock" ] || { echo "berthd did not start:"; cat "$W/berthd.log"; exit 1; }
Bc() { "$B/berth" --socket "$S/berthd.sock" "$@"; }
# nofile: the host's hard limit may be below berth's default for tasks
cat > "$S/idle.json" <<JSON
{ "family": "idle", "networkMode": "awsvpc", "memory": "16",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "command": ["sleep", "3600"],
    "stopTimeout": 1, "ulimits": [ { "name": "nofile", "softLimit": 1024, "hardLimit": 1024 } ] } ] }
JSON
Bc taskdef register "$S/idle.json" >/dev/null
# warm: the image's layers, the seccomp cache, the bridge and the ruleset
Bc run --detach --wait idle >/dev/null || { echo "warm-up task failed:"; tail -n 20 "$W/berthd.log"; exit 1; }
Bc stop --wait $(Bc ps -q) >/dev/null

# the peer's bundle: the same image, mounted read-write for crun
mkdir -p "$S/bundle/rootfs"
"$B/berth" --root "$S/root" image mount --rw "$S/crun-rw" berth-test/helper "$S/bundle/rootfs" >/dev/null
(cd "$S/bundle" && crun spec)
jq --arg root "$S/bundle/rootfs" '
	.process.terminal = false
	| .process.args = ["/usr/bin/berth-testhelper", "sleep", "3600"]
	| .process.rlimits = [{ "type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024 }]
	| .root = { "path": $root, "readonly": false }
	| del(.linux.resources) | del(.linux.cgroupsPath)
	| .mounts |= map(select(.type != "cgroup"))
	| .linux.namespaces = [{ "type": "pid" }, { "type": "network" }, { "type": "ipc" },
	                        { "type": "uts" }, { "type": "mount" }]' \
	"$S/bundle/config.json" > "$S/bundle/config.new"
mv "$S/bundle/config.new" "$S/bundle/config.json"
CRUN="crun --root=$S/crun --cgroup-manager=disabled"
# crun refuses a hybrid cgroup setup (this host's) even with cgroups
# disabled: it gets an empty tmpfs over /sys/fs/cgroup in this private
# mount namespace (berth has noLimits and does not look there)
mount -t tmpfs -o ro,mode=0555 berth-bench-nocg /sys/fs/cgroup

ms() { date +%s%3N; }
count_running() { Bc ps | grep -c ' RUNNING ' || true; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for round in $(seq "$BENCH_ROUNDS"); do
	# berth: N tasks through berthd
	t0=$(ms)
	left=$N
	while [ "$left" -gt 0 ]; do
		c=$left; [ "$c" -gt 10 ] && c=10
		Bc run --detach --count "$c" idle >/dev/null ||
			{ echo "RunTask failed after $((N - left)) tasks:"; tail -n 20 "$W/berthd.log"; exit 1; }
		left=$((left - c))
	done
	t1=$(ms)
	for _ in $(seq 3000); do
		[ "$(count_running)" = "$N" ] && break
		sleep 0.1
	done
	[ "$(count_running)" = "$N" ] || { echo "not all $N tasks RUNNING:"; Bc ps -a | tail -n 5; exit 1; }
	# the last start is the latest startedAt (the shim's RUNNING, ms), not
	# when this 0.1 s poll saw it: the poll would add up to one period
	t2=$(Bc ps --json | jq '[.tasks[].startedAt] | max * 1000 | floor')
	[ "$t2" -gt "$t0" ] 2>/dev/null || { echo "startedAt: got '$t2'"; exit 1; }
	# idle shims: each gives back its set-up's memory once its task has
	# run 1 s with nothing to do (TRUN_QUIET_MS, docs/berthd.md)
	sleep 3
	rss=0 pss=0 priv=0 n=0
	for p in $(pgrep -x berth-shim); do
		# smaps_rollup: exact on every kernel (VmRSS lags before 6.2)
		rss=$((rss + $(awk '/^Rss:/ { print $2 }' "/proc/$p/smaps_rollup")))
		pss=$((pss + $(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup")))
		priv=$((priv + $(awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s + 0 }' "/proc/$p/smaps_rollup")))
		n=$((n + 1))
	done
	[ "$n" = "$N" ] || { echo "expected $N shims, found $n"; exit 1; }
	Bc stop --wait $(Bc ps -q) >/dev/null

	# crun: N containers of the same rootfs, one after the other
	c0=$(ms)
	for i in $(seq "$N"); do
		$CRUN run --detach --bundle "$S/bundle" "bench-$round-$i" </dev/null >/dev/null 2>"$W/crun.err" ||
			{ echo "crun run failed:"; cat "$W/crun.err"; exit 1; }
	done
	c1=$(ms)
	for i in $(seq "$N"); do
		$CRUN kill "bench-$round-$i" KILL 2>/dev/null || true
	done
	for i in $(seq "$N"); do
		$CRUN delete --force "bench-$round-$i" 2>/dev/null || true
	done

	awk -v r="$round" -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" -v x="$c0" -v y="$c1" \
	    -v rss="$rss" -v pss="$pss" -v priv="$priv" 'BEGIN {
		bs = n * 1000 / (c - a); cs = n * 1000 / (y - x)
		printf "RESULT round %d berth_accept_per_s %.1f berth_starts_per_s %.1f crun_starts_per_s %.1f berth/crun %.2f shim_rss_kib %d shim_pss_kib %d shim_private_kib %d\n",
			r, n * 1000 / (b - a), bs, cs, bs / cs, rss / n, pss / n, priv / n }'
done | tee "$W/rounds.txt"

for f in berth_accept_per_s berth_starts_per_s crun_starts_per_s berth/crun shim_rss_kib shim_pss_kib shim_private_kib; do
	v=$(awk -v f="$f" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' "$W/rounds.txt" | median)
	echo "RESULT median $f $v"
done
"$B/berth" --root "$S/root" image umount "$S/bundle/rootfs" >/dev/null || true
