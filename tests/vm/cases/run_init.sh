# berth run: linuxParameters.initProcessEnabled. PID 1 is berth-init; it
# reaps orphans (a control container without init keeps its zombie, so
# the check can see one); it forwards signals to its child (SIGUSR1 from
# the host reaches the helper with sender_pid 1, the init; SIGTERM at stop
# kills a `sleep` child whose default action is to die, where a `sleep`
# that is PID 1 itself ignores SIGTERM and is SIGKILLed after stopTimeout).
# timeout: 120
run_setup
S=$BERTH_SCRATCH
ID=1717171717171717171717171717abcd
cat > "$S/task.json" <<'JSON'
{
  "family": "init",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "256",
  "containerDefinitions": [
    { "name": "noinit", "image": "berth-test/helper", "essential": false, "stopTimeout": 2,
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["(berth-testhelper sleep 0.3 &); echo ready; exec berth-testhelper sleep inf"] },
    { "name": "withinit", "image": "berth-test/helper", "essential": false, "stopTimeout": 10,
      "linuxParameters": { "initProcessEnabled": true },
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["berth-testhelper cat --json /proc/1/cmdline; echo pid $$; (berth-testhelper sleep 0.3 &); echo ready; exec berth-testhelper sleep inf"] },
    { "name": "usr", "image": "berth-test/helper", "essential": false, "stopTimeout": 10,
      "linuxParameters": { "initProcessEnabled": true },
      "command": ["signals"] },
    { "name": "fwd", "image": "berth-test/helper", "stopTimeout": 10,
      "linuxParameters": { "initProcessEnabled": true },
      "command": ["sleep", "inf"] }
  ]
}
JSON
run_bg init --task-id $ID "$S/task.json"
for w in 'noinit | ready' 'withinit | ready' 'usr | {"ready":true' 'berth: fwd: started'; do
	run_wait_line 60 "$S/init.err" "$w" || die "no '$w': $(cat "$S/init.err")"
done
sleep 1.5   # the orphans' sleep 0.3 is over

# host pid of the process that is PID 1 in the container of cgroup $1
nsinit_of() {
	for _p in $(cat "$1/cgroup.procs"); do
		[ "$(awk '/^NSpid:/ { print $NF }' /proc/$_p/status)" = 1 ] && echo "$_p"
	done
}
# zombie children of pid $1
zombies_of() {
	for _f in /proc/[0-9]*/stat; do
		_s=$(cat "$_f" 2>/dev/null) || continue
		_r=${_s##*) }
		case $_r in "Z $1 "*) _z=${_f#/proc/}; echo "${_z%/stat}" ;; esac
	done
}
C=$RUN_CG/$ID
p_no=$(nsinit_of "$C/noinit")
p_init=$(nsinit_of "$C/withinit")
[ -n "$p_no" ] && [ -n "$p_init" ] || die "no PID 1 found in noinit ($p_no) / withinit ($p_init)"
z=$(zombies_of "$p_no")
say "noinit: PID 1 is host pid $p_no ($(tr '\0' ' ' < /proc/$p_no/cmdline)); zombies: $z"
[ -n "$z" ] || die "control: no zombie under noinit's PID 1 (the check cannot see zombies)"
z=$(zombies_of "$p_init")
say "withinit: PID 1 is host pid $p_init ($(tr '\0' ' ' < /proc/$p_init/cmdline)); zombies: $z"
[ -z "$z" ] || die "berth-init left zombies: $z"
# PID 1 is berth-init, the shell is its child (pid 2)
c1=$(run_out "$S/init.err" withinit | sed -n 's/^{"path":"\/proc\/1\/cmdline","content":"\(.*\)"}$/\1/p')
say "withinit: /proc/1/cmdline: $c1"
case $c1 in *berth-init*) ;; *) die "PID 1 is not berth-init: '$c1'" ;; esac
[ "$(run_out "$S/init.err" withinit | sed -n 's/^pid //p')" = 2 ] || die "the shell is not PID 2 under init"

# SIGUSR1 to the init is forwarded: the helper sees it sent by pid 1
p_usr=$(nsinit_of "$C/usr")
[ -n "$p_usr" ] || die "no PID 1 in usr"
kill -USR1 "$p_usr"
run_wait_line 20 "$S/init.err" 'usr | {"signal":"SIGUSR1","sender_pid":1}' ||
	die "usr's helper did not get SIGUSR1 from its init: $(run_out "$S/init.err" usr)"

t_term=$(run_uptime)
kill -TERM $RUN_PID
run_wait
st=$?
sed 's/^/  | /' "$S/init.err"
[ "$st" = 143 ] || die "berth run exited $st, want 143 (fwd's sleep killed by the forwarded SIGTERM)"
run_expect_j "$S/init.result.json" exitCode fwd 143
run_expect_j "$S/init.result.json" exitCode withinit 143
run_expect_j "$S/init.result.json" exitCode usr 0
run_expect_j "$S/init.result.json" exitCode noinit 137
run_expect_j "$S/init.result.json" stopCode UserInitiated
grep -qF 'usr | {"signal":"SIGTERM","sender_pid":1}' "$S/init.err" || die "usr's helper did not get SIGTERM from its init"
t_fwd=$(run_t "$S/init.err" "berth: fwd: exited with code 143")
run_cmp "$t_fwd" '<' "$(run_add "$t_term" 2)" "fwd stopped at once through its init, not after stopTimeout"
run_assert_clean
