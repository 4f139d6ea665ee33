# berth exec through berthd (issue 7, Exec): a process started in a running
# container has the container's user, capabilities, no_new_privs, seccomp
# filter, cgroup and namespaces; exit codes come back (128 + signal too);
# -i passes stdin, -t gives a pty that is the controlling terminal; -u, -w
# and -e; signals to the CLI reach the process, whose exit code the CLI
# returns; exec into a stopped, unknown or missing thing fails with a clear
# message and its exit code; an exec'd process dies when its client is
# killed and when the task stops; nothing is left behind.
# tests/unit/runtime/test_shim_exec.c covers the same in user namespaces.
# timeout: 300
run_setup 1024
S=$BERTH_SCRATCH
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "storage": "tmpfs" }
JSON
"$BERTH_BIN/berthd" --config "$S/berthd.json" > "$S/berthd.log" 2>&1 &
BD=$!
on_exit "kill $BD"
wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(cat "$S/berthd.log")"
export BERTH_SOCKET=$S/berthd.sock BERTH_LOG_DIR=$RUN_LOGS BERTH_RUN_DIR=$RUN_DIR
B=$BERTH_BIN/berth
on_exit "'$B' ps -q | xargs -r '$B' stop --wait >/dev/null"

# main sleeps (pid 1 of its container: SIGKILL after stopTimeout); side has
# exited by the time we look
cat > "$S/task.json" <<'JSON'
{ "family": "exec-basic", "requiresCompatibilities": ["EC2"], "networkMode": "none",
  "memory": "256",
  "containerDefinitions": [
    { "name": "main", "image": "berth-test/helper", "stopTimeout": 2,
      "environment": [{ "name": "FROM_DEF", "value": "yes" }],
      "command": ["sleep", "inf"] },
    { "name": "side", "image": "berth-test/helper", "essential": false,
      "command": ["exit", "0"] }
  ] }
JSON
ID=$("$B" run --detach --wait "$S/task.json" 2> "$S/run.err") ||
	die "run --detach --wait: $(cat "$S/run.err"); berthd: $(tail -n 20 "$S/berthd.log")"
say "task $ID is RUNNING"
LEAF=$RUN_CG/$ID/main
MAIN=$(head -n 1 "$LEAF/cgroup.procs")
[ -n "$MAIN" ] || die "no process in $LEAF"
wait_until 20 sh -c "'$B' --json describe $ID | grep -q '\"exitCode\": 0'" ||
	die "side never exited: $("$B" describe "$ID")"

# jv JSON KEY: a top-level scalar of one JSON line (numbers, booleans, strings)
jv() { printf '%s\n' "$1" | tr -d '\r' | sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" | tr -d '"' | head -n 1; }
st() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# ------------------------------------------------ identity, caps, seccomp
out=$("$B" exec "$ID" -- berth-testhelper info 2> "$S/err") || die "exec info: $? $(cat "$S/err")"
caps=$(printf "%s\n" "$out" | sed -n 's/.*"effective":"\([0-9a-f]*\)".*/\1/p')
[ "$caps" = "$(st "$MAIN" CapEff)" ] || die "exec CapEff $caps, main's $(st "$MAIN" CapEff)"
bnd=$(printf "%s\n" "$out" | sed -n 's/.*"bounding":"\([0-9a-f]*\)".*/\1/p')
[ "$bnd" = "$(st "$MAIN" CapBnd)" ] || die "exec CapBnd $bnd, main's $(st "$MAIN" CapBnd)"
[ "$(jv "$out" seccomp)" = 2 ] && [ "$(st "$MAIN" Seccomp)" = 2 ] ||
	die "seccomp: exec $(jv "$out" seccomp), main $(st "$MAIN" Seccomp) (want 2, a filter)"
nnp=$(jv "$out" no_new_privs)
{ [ "$nnp" = true ] && [ "$(st "$MAIN" NoNewPrivs)" = 1 ]; } || die "no_new_privs: exec $nnp, main $(st "$MAIN" NoNewPrivs)"
[ "$(jv "$out" uid)" = "$(st "$MAIN" Uid)" ] || die "uid: exec $(jv "$out" uid)"
[ "$(jv "$out" cwd)" = /srv ] || die "cwd $(jv "$out" cwd), want the image's /srv"
printf "%s\n" "$out" | grep -q '"FROM_DEF":"yes"' || die "the definition's environment is missing"
[ "$(jv "$out" cgroup)" = '0::/\n' ] || die "cgroup as the exec'd process sees it: $(jv "$out" cgroup)"
say "exec'd: caps $caps, seccomp 2, no_new_privs, uid $(jv "$out" uid) as main (pid $MAIN)"

# a long one: in main's cgroup leaf and namespaces
"$B" exec "$ID" -- berth-testhelper sleep inf > /dev/null 2>&1 &
CL=$!
wait_until 10 sh -c "[ \$(wc -l < '$LEAF/cgroup.procs') = 2 ]" || die "the exec'd process is not in $LEAF: $(cat "$LEAF/cgroup.procs")"
XP=$(grep -vx "$MAIN" "$LEAF/cgroup.procs")
for ns in mnt net uts ipc pid cgroup; do
	[ "$(readlink /proc/$XP/ns/$ns)" = "$(readlink /proc/$MAIN/ns/$ns)" ] || die "exec'd process $XP: not in main's $ns namespace"
done
[ "$(st "$XP" Seccomp)" = 2 ] || die "exec'd process $XP: no seccomp filter"
# its client killed: it dies too
kill -KILL "$CL"
wait_until 10 sh -c "! kill -0 $XP" || die "exec'd process $XP outlived its client"
say "an exec'd process is in main's cgroup and namespaces, and dies with its client"

# ------------------------------------------------ exit codes, stdin, user, env, workdir
"$B" exec "$ID" -- berth-testhelper exit 7 2> "$S/err"
[ $? = 7 ] || die "exit 7 came back as $? $(cat "$S/err")"
"$B" exec "$ID" main -- sh -c 'kill -TERM $$' 2> "$S/err"
[ $? = 143 ] || die "killed by SIGTERM: want 143, got $? $(cat "$S/err")"
out=$(echo "hello stdin" | "$B" exec -i "$ID" -- berth-testhelper cat /dev/stdin) || die "exec -i: $?"
[ "$out" = "hello stdin" ] || die "exec -i printed '$out'"
out=$(echo "not read" | "$B" exec "$ID" -- berth-testhelper cat /dev/stdin) || die "exec without -i: $?"
[ -z "$out" ] || die "without -i stdin is /dev/null, got '$out'"
out=$("$B" exec -u app -w /tmp -e X=1 "$ID" -- berth-testhelper info) || die "exec -u -w -e: $?"
[ "$(jv "$out" uid)" = 1000 ] && [ "$(jv "$out" cwd)" = /tmp ] && printf "%s\n" "$out" | grep -q '"X":"1"' ||
	die "exec -u app -w /tmp -e X=1: $out"
printf "%s\n" "$out" | grep -q '"effective":"0000000000000000"' || die "exec -u app kept capabilities"

# ------------------------------------------------ -t: a pty, the controlling terminal
out=$("$B" exec -t "$ID" -- berth-testhelper tty) || die "exec -t: $?"
for k in stdin_tty stdout_tty ctty foreground; do
	[ "$(jv "$out" $k)" = true ] || die "exec -t: $k is not true: $out"
done
[ "$(jv "$out" sid)" = "$(jv "$out" pid)" ] || die "exec -t: not a session leader: $out"
[ "$(jv "$out" tty_nr)" != 0 ] || die "exec -t: no controlling terminal in /proc/self/stat: $out"
out=$("$B" exec "$ID" -- berth-testhelper tty) || die "exec (no -t) tty: $?"
[ "$(jv "$out" ctty)" = false ] || die "without -t the process has a terminal: $out"
say "exec -t: a pty that is the controlling terminal; exit codes, -i, -u, -w, -e"

# ------------------------------------------------ signals to berth exec go to the process
# SIGTERM to the CLI (no -t): the process's trap runs in the container, the
# CLI waits for its end and exits with its code (not 143)
rm -f "$S/sig.out"   # the last run's "ready" must not count: the job truncates it only once it runs
"$B" exec "$ID" -- sh -c 'trap "echo got-TERM > /tmp/sig.txt; exit 42" TERM; echo ready; while :; do sleep 0.05; done' \
	> "$S/sig.out" 2> "$S/sig.err" &
CL=$!
wait_until 10 grep -q ready "$S/sig.out" || die "the trapping shell did not start: $(cat "$S/sig.err")"
kill -TERM "$CL"
wait "$CL"
rc=$?
[ $rc = 42 ] || die "SIGTERM to berth exec: exit $rc, want the trap's 42 $(cat "$S/sig.err")"
out=$("$B" exec "$ID" -- cat /tmp/sig.txt) || die "read the trap's file: $?"
[ "$out" = got-TERM ] || die "the trap in the container wrote '$out'"
# an untrapped one ends the process: 128 + N from berth's own exit
rm -f "$S/sig.out"   # the last run's "ready" must not count: the job truncates it only once it runs
"$B" exec "$ID" -- sh -c 'echo ready; exec berth-testhelper sleep inf' > "$S/sig.out" 2> "$S/sig.err" &
CL=$!
wait_until 10 grep -q ready "$S/sig.out" || die "the sleeper did not start: $(cat "$S/sig.err")"
usleep 200000 2>/dev/null || sleep 0.2
kill -USR1 "$CL"
wait "$CL"
rc=$?
[ $rc = 138 ] || die "SIGUSR1 to berth exec of an untrapping process: exit $rc, want 138 $(cat "$S/sig.err")"
wait_until 10 sh -c "[ \$(wc -l < '$LEAF/cgroup.procs') = 1 ]" || die "the signalled process is still in $LEAF"
# -t: SIGHUP and SIGTERM to the CLI are forwarded too
rm -f "$S/sig.out"   # the last run's "ready" must not count: the job truncates it only once it runs
"$B" exec -t "$ID" -- sh -c 'trap "echo got-HUP" HUP; trap "exit 43" TERM; echo ready; while :; do sleep 0.05; done' \
	> "$S/sig.out" 2> "$S/sig.err" &
CL=$!
wait_until 10 grep -q ready "$S/sig.out" || die "exec -t: the trapping shell did not start: $(cat "$S/sig.err")"
kill -HUP "$CL"
wait_until 10 grep -q got-HUP "$S/sig.out" || die "SIGHUP to berth exec -t did not reach the process: $(cat "$S/sig.out" "$S/sig.err")"
kill -TERM "$CL"
wait "$CL"
rc=$?
[ $rc = 43 ] || die "SIGTERM to berth exec -t: exit $rc, want the trap's 43 $(cat "$S/sig.err")"
say "signals to berth exec reach the process (trap ran: exit 42, 43; untrapped SIGUSR1: 138)"

# ------------------------------------------------ refusals
"$B" exec "$ID" side -- id > /dev/null 2> "$S/err"
rc=$?
[ $rc = 1 ] && grep -q "container side is not RUNNING (STOPPED)" "$S/err" || die "exec into side (exited): $rc $(cat "$S/err")"
"$B" exec "$ID" nope -- id > /dev/null 2> "$S/err"
rc=$?
[ $rc = 3 ] && grep -q 'no container "nope" (it has: main, side)' "$S/err" || die "exec into nope: $rc $(cat "$S/err")"
"$B" exec ffffffffffffffffffffffffffffffff -- id > /dev/null 2> "$S/err"
rc=$?
[ $rc = 3 ] || die "exec into an unknown task: $rc $(cat "$S/err")"
"$B" exec "$ID" -- no-such-cmd > /dev/null 2> "$S/err"
rc=$?
[ $rc = 127 ] && grep -q "executable file not found: no-such-cmd" "$S/err" || die "a missing command: $rc $(cat "$S/err")"
"$B" exec -u bob "$ID" -- id > /dev/null 2> "$S/err"
rc=$?
[ $rc = 126 ] && grep -q 'no user "bob"' "$S/err" || die "an unknown user: $rc $(cat "$S/err")"
say "refusals: stopped container 1, unknown container/task 3, missing command 127, unknown user 126"

# ------------------------------------------------ the task stops under an exec
"$B" exec "$ID" -- berth-testhelper sleep inf > /dev/null 2> "$S/long.err" &
CL=$!
wait_until 10 sh -c "[ \$(wc -l < '$LEAF/cgroup.procs') = 2 ]" || die "the long exec did not start"
XP=$(grep -vx "$MAIN" "$LEAF/cgroup.procs")
"$B" stop --wait "$ID" > /dev/null || die "stop --wait"
wait "$CL"
rc=$?
[ $rc = 137 ] || die "berth exec of a process the stop killed: exit $rc, want 137 $(cat "$S/long.err")"
kill -0 "$XP" 2>/dev/null && die "exec'd process $XP outlived the task"
"$B" exec "$ID" -- id > /dev/null 2> "$S/err"
rc=$?
[ $rc = 1 ] && grep -q "is STOPPED" "$S/err" || die "exec into a stopped task: $rc $(cat "$S/err")"
say "the stop ended the exec'd process (137); exec into the stopped task: 1"

# ------------------------------------------------ nothing left
kill "$BD"
wait "$BD" 2>/dev/null
run_assert_clean
say "berth exec ran processes in the task's container and left nothing behind"
