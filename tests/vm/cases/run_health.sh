# berth run: health checks. HEALTHY through CMD and CMD-SHELL; HEALTHY then
# UNHEALTHY when the check starts failing (retries 1); UNHEALTHY only after
# `retries` failures; a check that outlives its timeout fails at
# interval + timeout; failures within startPeriod do not count. Transition
# times come from berth's status lines ("NAME: health A -> B"), stamped
# on arrival, measured from the container's "started" line. Also: berth's
# open fds do not grow while checks run.
# timeout: 150
run_setup
S=$BERTH_SCRATCH
cat > "$S/task.json" <<'JSON'
{
  "family": "health",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "512",
  "containerDefinitions": [
    { "name": "clock", "image": "berth-test/helper", "command": ["sleep", "21"] },
    { "name": "okcmd", "image": "berth-test/helper", "essential": false,
      "command": ["signals"],
      "healthCheck": { "command": ["CMD", "/usr/bin/berth-testhelper", "exit", "0"], "interval": 5 } },
    { "name": "okshell", "image": "berth-test/helper", "essential": false,
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["touch /tmp/ready; exec berth-testhelper signals"],
      "healthCheck": { "command": ["CMD-SHELL", "test -f /tmp/ready && test \"$BERTH_IMAGE\" = helper"], "interval": 5 } },
    { "name": "flip", "image": "berth-test/helper", "essential": false,
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["trap 'exit 0' TERM; sleep 7; touch /tmp/bad; while :; do sleep 1; done"],
      "healthCheck": { "command": ["CMD-SHELL", "test ! -e /tmp/bad"], "interval": 5, "retries": 1 } },
    { "name": "bad", "image": "berth-test/helper", "essential": false,
      "command": ["signals"],
      "healthCheck": { "command": ["CMD", "/usr/bin/berth-testhelper", "exit", "1"], "interval": 5, "retries": 2 } },
    { "name": "slow", "image": "berth-test/helper", "essential": false,
      "command": ["signals"],
      "healthCheck": { "command": ["CMD", "/usr/bin/berth-testhelper", "sleep", "30"],
                       "interval": 5, "timeout": 2, "retries": 1 } },
    { "name": "grace", "image": "berth-test/helper", "essential": false,
      "command": ["signals"],
      "healthCheck": { "command": ["CMD-SHELL", "exit 1"], "interval": 5, "retries": 1, "startPeriod": 12 } }
  ]
}
JSON
run_bg health "$S/task.json"
# berth's open fds between rounds of checks (no check in flight: the least
# of 10 samples over 2 s), after the first round and after the third
fdmin() {
	_min=
	for _i in 1 2 3 4 5 6 7 8 9 10; do
		_n=$(ls /proc/$RUN_PID/fd 2>/dev/null | wc -l)
		[ -z "$_min" ] || [ "$_n" -lt "$_min" ] && _min=$_n
		usleep 200000
	done
	echo "$_min"
}
run_wait_line 60 "$S/health.err" "berth: clock: started" || die "clock never started: $(cat "$S/health.err")"
t0=$(run_t "$S/health.err" "berth: clock: started")
run_sleep_until "$(run_add "$t0" 7.8)"
fd1=$(fdmin)
run_sleep_until "$(run_add "$t0" 17.8)"
fd2=$(fdmin)
run_wait
st=$?
sed 's/^/  | /' "$S/health.err"
say "berth fds: $fd1 after the first checks, $fd2 after three rounds"
[ "$st" = 0 ] || die "berth run exited $st, want 0"
[ "$fd1" = "$fd2" ] || die "berth's fds went from $fd1 to $fd2 while health checks ran"

E=$S/health.err
# since CONTAINER started, when did it go FROM -> TO (seconds; empty: never)
since() {
	_s=$(run_t "$E" "berth: $1: started")
	_t=$(run_t "$E" "berth: $1: health $2 -> $3")
	[ -n "$_s" ] && [ -n "$_t" ] && awk -v a="$_s" -v b="$_t" 'BEGIN { printf "%.2f", b - a }'
}
expect_at() { # CONTAINER FROM TO MIN MAX
	_d=$(since "$1" "$2" "$3")
	[ -n "$_d" ] || die "$1 never went $2 -> $3"
	say "$1: $2 -> $3 after $_d s (want $4..$5)"
	run_cmp "$_d" '>=' "$4" "$1 $2 -> $3 too early"
	run_cmp "$_d" '<=' "$5" "$1 $2 -> $3 too late"
}
never() { grep -qF "berth: $1: health $2 -> $3" "$E" && die "$1 went $2 -> $3"; true; }

expect_at okcmd UNKNOWN HEALTHY 4.9 8
never okcmd HEALTHY UNHEALTHY
expect_at okshell UNKNOWN HEALTHY 4.9 8
expect_at flip UNKNOWN HEALTHY 4.9 8
expect_at flip HEALTHY UNHEALTHY 9.9 13
# retries 2: the checks at 5 and 10 s fail; UNHEALTHY at the second
expect_at bad UNKNOWN UNHEALTHY 9.9 13
never bad UNKNOWN HEALTHY
# a check that hangs is killed at its timeout and counts as a failure
expect_at slow UNKNOWN UNHEALTHY 6.9 10
# startPeriod 12: the failures at 5 and 10 s do not count, the one at 15 does
expect_at grace UNKNOWN UNHEALTHY 14.9 18
never grace UNKNOWN HEALTHY

run_expect_j "$S/health.result.json" healthStatus okcmd HEALTHY
run_expect_j "$S/health.result.json" healthStatus okshell HEALTHY
run_expect_j "$S/health.result.json" healthStatus flip UNHEALTHY
run_expect_j "$S/health.result.json" healthStatus bad UNHEALTHY
run_expect_j "$S/health.result.json" healthStatus slow UNHEALTHY
run_expect_j "$S/health.result.json" healthStatus grace UNHEALTHY
run_expect_j "$S/health.result.json" healthStatus clock UNKNOWN
# an unhealthy non-essential container does not stop the task
run_expect_j "$S/health.result.json" exitCode clock 0
run_expect_j "$S/health.result.json" stopCode EssentialContainerExited
# the hung check was killed: no berth-testhelper sleep 30 is left
for p in /proc/[0-9]*; do
	case $(tr '\0' ' ' < $p/cmdline 2>/dev/null) in
	*"berth-testhelper sleep 30"*) die "a timed-out health check survives: pid ${p#/proc/}" ;;
	esac
done
run_assert_clean
