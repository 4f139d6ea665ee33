# cgroups/ library on the real kernel (berth-cg-tool): detection; a task of 512
# cpu units and 32 MiB with one leaf; a cpu hog gets ~0.5 CPU and is throttled;
# a memory hog is OOM-killed and oom_kill 1 is reported; stats agree with the
# kernel's files; a fork bomb stops at pids.max; container shares and
# memoryReservation land in cpu.weight and memory.low; destroy kills a live
# task and nothing is left under the root.
# timeout: 150
TOOL=$BERTH_BIN/berth-cg-tool
ROOT=$BERTH_CGROUP/berth-test.$BERTH_CASE
on_exit "rmdir '$ROOT'"
on_exit "$TOOL destroy '$ROOT/t2' 2000"
on_exit "$TOOL destroy '$ROOT/t1' 2000"

out=$($TOOL detect) || die "detect failed"
say "detect: $out"

out=$($TOOL create "$ROOT" t1 web --cpu-units 512 --memory-mib 32 --pids-max 64) || die "create failed"
task=$(json_field "$out" task)
leaf=$(json_field "$out" leaf)
[ "$leaf" = "$ROOT/t1/web" ] || die "leaf path '$leaf'"
for c in cpu memory pids; do
	grep -qw "$c" "$leaf/cgroup.controllers" || die "$c not available in the leaf"
done
[ "$(cat "$task/cpu.max")" = "50000 100000" ] || die "task cpu.max: $(cat "$task/cpu.max")"
[ "$(cat "$task/memory.max")" = 33554432 ] || die "task memory.max: $(cat "$task/memory.max")"
[ "$(cat "$task/memory.swap.max")" = 0 ] || die "task memory.swap.max: $(cat "$task/memory.swap.max")"
[ "$(cat "$leaf/memory.swap.max")" = 0 ] || die "leaf memory.swap.max: $(cat "$leaf/memory.swap.max")"
[ "$(cat "$task/pids.max")" = 64 ] || die "task pids.max: $(cat "$task/pids.max")"

# cpu: 512 units = half a CPU over every 100 ms period (started with
# clone3 CLONE_INTO_CGROUP; the fork bomb below is attached via cgroup.procs)
res=$($TOOL run "$leaf" "$HELPER" cpuburn --ms 3000) || die "cpuburn failed: $res"
ratio=$(json_field "$res" ratio)
say "cpuburn: $res"
awk -v r="$ratio" 'BEGIN { exit !(r >= 0.4 && r <= 0.6) }' || die "cpu ratio $ratio not 0.5 +/- 0.1"
st=$($TOOL stats "$leaf") || die "stats failed"
say "leaf stats after cpuburn: $st"
# cpu.max is on the task cgroup: that is where the throttling is counted
tst=$($TOOL stats "$task") || die "task stats failed"
say "task stats after cpuburn: $tst"
[ "$(json_field "$tst" nr_throttled)" -gt 0 ] || die "task not throttled"
[ "$(json_field "$tst" nr_throttled)" = "$(awk '$1 == "nr_throttled" { print $2 }' "$task/cpu.stat")" ] ||
	die "nr_throttled differs from cpu.stat"
[ "$(json_field "$tst" throttled_usec)" = "$(awk '$1 == "throttled_usec" { print $2 }' "$task/cpu.stat")" ] ||
	die "throttled_usec differs from cpu.stat"
[ "$(json_field "$tst" cpu_usage_usec)" -ge "$(json_field "$st" cpu_usage_usec)" ] ||
	die "task usage below its leaf's"
[ "$(json_field "$st" cpu_usage_usec)" = "$(awk '$1 == "usage_usec" { print $2 }' "$leaf/cpu.stat")" ] ||
	die "usage_usec differs from cpu.stat"
[ "$(json_field "$st" cpu_usage_usec)" -ge 1000000 ] || die "usage_usec too small for 3 s at 0.5 CPU"

# memory: 64 MiB in a 32 MiB task without swap, watched through poll
$TOOL watch-oom "$leaf" 60000 > "$BERTH_SCRATCH/watch.out" 2> "$BERTH_SCRATCH/watch.err" &
watcher=$!
wait_until 10 grep -q watching "$BERTH_SCRATCH/watch.out" || die "watch-oom did not start"
$TOOL run "$leaf" "$HELPER" memhog 64 > "$BERTH_SCRATCH/hog.out" 2>&1
rc=$?
wait "$watcher" || die "watch-oom failed: $(cat "$BERTH_SCRATCH/watch.err")"
w=$(tail -n 1 "$BERTH_SCRATCH/watch.out")
say "watch-oom: $w"
[ "$(json_field "$w" oom_kill)" = 1 ] || die "watcher saw oom_kill '$(json_field "$w" oom_kill)'"
[ "$(json_field "$w" wakeups)" -ge 1 ] || die "watcher was never woken"
say "memhog status $rc; last: $(tail -n 1 "$BERTH_SCRATCH/hog.out")"
[ "$rc" = 137 ] || die "memhog not SIGKILLed (status $rc)"
st=$($TOOL stats "$leaf") || die "stats failed"
say "stats after memhog: $st"
[ "$(json_field "$st" oom_kill)" = 1 ] || die "leaf oom_kill $(json_field "$st" oom_kill), want 1"
[ "$(json_field "$st" oom_kill)" = "$(awk '$1 == "oom_kill" { print $2 }' "$leaf/memory.events")" ] ||
	die "oom_kill differs from memory.events"
tst=$($TOOL stats "$task") || die "task stats failed"
[ "$(json_field "$tst" oom_kill)" = 1 ] || die "task oom_kill $(json_field "$tst" oom_kill), want 1"
[ "$(json_field "$st" memory_current)" = "$(cat "$leaf/memory.current")" ] || die "memory.current differs"
if [ -e "$leaf/memory.peak" ]; then
	[ "$(json_field "$st" memory_peak)" = "$(cat "$leaf/memory.peak")" ] || die "memory.peak differs"
	[ "$(json_field "$st" memory_peak)" -ge 30000000 ] || die "memory.peak $(json_field "$st" memory_peak) below the limit's reach"
fi
[ "$(json_field "$st" anon)" = "$(awk '$1 == "anon" { print $2 }' "$leaf/memory.stat")" ] || die "anon differs"
[ "$(json_field "$st" pids_current)" = 0 ] || die "pids_current $(json_field "$st" pids_current)"

# pids: 64 on the task; the tool itself is not in the cgroup
res=$($TOOL run --attach "$leaf" "$HELPER" forkbomb --max 500 --hold-ms 200 | head -n 1)
say "forkbomb: $res"
forked=$(json_field "$res" forked)
[ -n "$forked" ] && [ "$forked" -lt 64 ] && [ "$forked" -ge 50 ] || die "forkbomb forked '$forked', want 50..63"
[ "$(json_field "$res" errno)" = EAGAIN ] || die "fork did not fail with EAGAIN: $res"
wait_until 10 grep -q 'populated 0' "$leaf/cgroup.events" || die "forkbomb children left in $leaf"

# destroy a task with a live process in it; its leaf has ECS container
# cpu (shares) and memoryReservation
out=$($TOOL create "$ROOT" t2 idle --leaf-shares 1 --leaf-memory-low-mib 16 --leaf-memory-mib 48) ||
	die "create t2 failed"
[ "$(cat "$ROOT/t2/idle/cpu.weight")" = 1 ] || die "shares 1 -> cpu.weight $(cat "$ROOT/t2/idle/cpu.weight"), want 1"
[ "$(cat "$ROOT/t2/idle/memory.low")" = 16777216 ] || die "memory.low $(cat "$ROOT/t2/idle/memory.low")"
[ "$(cat "$ROOT/t2/idle/memory.max")" = 50331648 ] || die "leaf memory.max $(cat "$ROOT/t2/idle/memory.max")"
$TOOL destroy "$ROOT/t2" 2000 || die "destroy empty t2 failed"
out=$($TOOL create "$ROOT" t2 idle --leaf-shares 1024) || die "create t2 again failed"
[ "$(cat "$ROOT/t2/idle/cpu.weight")" = 39 ] || die "shares 1024 -> cpu.weight $(cat "$ROOT/t2/idle/cpu.weight"), want 39"
leaf2=$(json_field "$out" leaf)
$TOOL run "$leaf2" sleep 600 &
bg=$!
wait_until 10 grep -q 'populated 1' "$leaf2/cgroup.events" || die "sleep never entered $leaf2"
[ "$($TOOL stats "$leaf2" | sed -n 's/.*"pids_current":\([0-9]*\).*/\1/p')" = 1 ] || die "pids_current in $leaf2 not 1"
$TOOL destroy "$ROOT/t2" 5000 || die "destroy t2 failed"
wait "$bg"
rc=$?
[ "$rc" = 137 ] || die "the process of t2 ended with $rc, not SIGKILL"
[ ! -e "$ROOT/t2" ] || die "$ROOT/t2 left behind"

$TOOL destroy "$task" 5000 || die "destroy t1 failed"
left=$(find "$ROOT" -mindepth 1 -type d)
[ -z "$left" ] || die "left under $ROOT: $left"
rmdir "$ROOT" || die "rmdir $ROOT"
say "cleanup left nothing"
