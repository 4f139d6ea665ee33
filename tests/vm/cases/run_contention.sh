# berth run, CPU contention (issue 5): two tasks of 256 and 768 cpu units,
# each a single-threaded cpu hog, both berth runs (and so their containers)
# pinned to CPU 0 with taskset. Their cpu.max caps (0.25 and 0.75 CPU) add
# up to exactly the one CPU they compete for, so what is measured is that
# each task's cap holds under contention and neither starves the other:
# the hogs' CPU shares over the same 4 s (started together through a
# barrier file on a host volume) split ~1:3, the small one's fraction of
# the total 0.25 +/- 0.1.
# timeout: 150
run_setup
S=$BERTH_SCRATCH
mkdir -p "$S/barrier"
for u in 256 768; do
	cat > "$S/t$u.json" <<JSON
{
  "family": "contention$u",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "cpu": "$u",
  "memory": "128",
  "volumes": [ { "name": "barrier", "host": { "sourcePath": "$S/barrier" } } ],
  "containerDefinitions": [
    { "name": "hog", "image": "berth-test/helper",
      "mountPoints": [ { "sourceVolume": "barrier", "containerPath": "/barrier", "readOnly": true } ],
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["echo waiting; while [ ! -e /barrier/go ]; do sleep 0.1; done; exec berth-testhelper cpuburn --ms 4000"] }
  ]
}
JSON
done
RUN_WRAP="taskset -c 0"
run_bg small --task-id small "$S/t256.json"
p_small=$RUN_PID s_small=$RUN_STAMPER
run_bg big --task-id big "$S/t768.json"
p_big=$RUN_PID s_big=$RUN_STAMPER
RUN_WRAP=
run_wait_line 60 "$S/small.err" "hog | waiting" || die "small task never got ready: $(cat "$S/small.err")"
run_wait_line 60 "$S/big.err" "hog | waiting" || die "big task never got ready: $(cat "$S/big.err")"
[ "$(cat "$RUN_CG/small/cpu.max")" = "25000 100000" ] || die "small cpu.max: $(cat "$RUN_CG/small/cpu.max")"
[ "$(cat "$RUN_CG/big/cpu.max")" = "75000 100000" ] || die "big cpu.max: $(cat "$RUN_CG/big/cpu.max")"
touch "$S/barrier/go"
sleep 1
for t in small big; do
	for p in $(cat "$RUN_CG/$t/hog/cgroup.procs"); do
		a=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/$p/status)
		[ "$a" = 0 ] || die "$t: pid $p may run on CPUs $a, not only 0"
	done
done
RUN_PID=$p_small RUN_STAMPER=$s_small
run_wait
st1=$?
RUN_PID=$p_big RUN_STAMPER=$s_big
run_wait
st2=$?
sed 's/^/  small| /' "$S/small.err"
sed 's/^/  big  | /' "$S/big.err"
[ "$st1" = 0 ] && [ "$st2" = 0 ] || die "berth run exited $st1 / $st2"
rs=$(run_out "$S/small.err" hog | sed -n 's/.*"ratio":\([0-9.]*\).*/\1/p')
rb=$(run_out "$S/big.err" hog | sed -n 's/.*"ratio":\([0-9.]*\).*/\1/p')
f=$(awk -v a="$rs" -v b="$rb" 'BEGIN { if (a + b > 0) printf "%.3f", a / (a + b) }')
# they burned at the same time: both ran 4 s and ended within 0.5 s
e1=$(run_t "$S/small.err" 'hog | {"wall_ms"')
e2=$(run_t "$S/big.err" 'hog | {"wall_ms"')
run_cmp "$(run_add "$e1" "-$e2" | tr -d -)" '<' 0.5 "the two hogs did not burn at the same time (ended at $e1 and $e2)"
say "one CPU shared: 256 units got $rs CPU, 768 units got $rb CPU; fraction of the small one $f (want 0.25 +/- 0.1)"
run_cmp "$f" '>=' 0.15 "fraction of the 256-unit task"
run_cmp "$f" '<=' 0.35 "fraction of the 256-unit task"
run_cmp "$rs" '<=' 0.32 "the 256-unit task's cap (0.25 CPU)"
run_cmp "$rb" '<=' 0.82 "the 768-unit task's cap (0.75 CPU)"
run_cmp "$rb" '>=' 0.5 "the 768-unit task was starved"
run_assert_clean
