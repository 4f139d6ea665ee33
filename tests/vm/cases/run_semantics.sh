# berth run: how a container's process is made from the definition and the
# image (entryPoint/command, environment and environmentFiles, user,
# workingDirectory, hostname, RunTask overrides), read back with the test
# helper's `info` / `echo`; exit codes (exit N, killed by a signal, program
# not found) and a broken task definition.
# timeout: 150
run_setup
ID=5e0a11c0ffee00112233445566778899
HOST=$(echo $ID | cut -c1-12)
S=$BERTH_SCRATCH

printf 'FROMFILE=a\nBOTH=a\n# a comment\n\nOVER=file\nBERTH_IMAGE=fromfile\n' > "$S/a.env"
printf 'BOTH=b\nONLYB=b\n' > "$S/b.env"
cat > "$S/task.json" <<JSON
{
  "family": "semantics",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "512",
  "containerDefinitions": [
    { "name": "defaults", "image": "berth-test/helper", "essential": false },
    { "name": "cmd", "image": "berth-test/helper", "essential": false,
      "command": ["echo", "x y", "z"] },
    { "name": "ep", "image": "berth-test/helper", "essential": false,
      "entryPoint": ["/usr/bin/berth-testhelper", "echo", "ep"] },
    { "name": "app", "image": "berth-test/helper", "essential": false,
      "user": "app", "workingDirectory": "/tmp", "hostname": "custom-host",
      "environment": [
        { "name": "BERTH_IMAGE", "value": "override" },
        { "name": "DUP", "value": "first" },
        { "name": "DUP", "value": "second" },
        { "name": "EMPTY", "value": "" } ] },
    { "name": "numeric", "image": "berth-test/helper", "essential": false,
      "user": "1000:2000" },
    { "name": "envf", "image": "berth-test/helper", "essential": false,
      "environmentFiles": [ { "value": "$S/a.env", "type": "s3" },
                            { "value": "$S/b.env", "type": "s3" } ],
      "environment": [ { "name": "OVER", "value": "def" } ] },
    { "name": "ovr", "image": "berth-test/helper", "essential": false,
      "command": ["echo", "original"],
      "environment": [ { "name": "OVR", "value": "no" }, { "name": "KEEP", "value": "1" } ] },
    { "name": "last", "image": "berth-test/helper",
      "command": ["exit", "3"],
      "dependsOn": [
        { "containerName": "defaults", "condition": "COMPLETE" },
        { "containerName": "cmd", "condition": "COMPLETE" },
        { "containerName": "ep", "condition": "COMPLETE" },
        { "containerName": "app", "condition": "COMPLETE" },
        { "containerName": "numeric", "condition": "COMPLETE" },
        { "containerName": "envf", "condition": "COMPLETE" },
        { "containerName": "ovr", "condition": "COMPLETE" } ] }
  ]
}
JSON
cat > "$S/ovr.json" <<JSON
{ "containerOverrides": [ { "name": "ovr", "command": ["info"],
    "environment": [ { "name": "OVR", "value": "yes" } ] } ] }
JSON

t0=$(run_uptime)
run_berth_json --task-id $ID --overrides "$S/ovr.json" "$S/task.json" > "$S/res.json" 2> "$S/err.txt"
st=$?
say "berth run: status $st in $(awk -v a="$t0" -v b="$(run_uptime)" 'BEGIN { print b - a }') s"
sed 's/^/  | /' "$S/err.txt" | cut -c1-300
[ "$st" = 3 ] || die "berth run exited $st, want 3 (the essential container's exit code)"
run_expect_j "$S/res.json" taskId $ID
run_expect_j "$S/res.json" lastStatus STOPPED
run_expect_j "$S/res.json" stopCode EssentialContainerExited
run_expect_j "$S/res.json" exitCode 3
run_expect_j "$S/res.json" limits true
run_expect_j "$S/res.json" exitCode last 3
for c in defaults cmd ep app numeric envf ovr; do
	run_expect_j "$S/res.json" exitCode $c 0
	run_expect_j "$S/res.json" essential $c false
done
run_expect_j "$S/res.json" essential last true

# one output line per container; `info` is one JSON object
one() { run_out "$S/err.txt" "$1" | head -n 1; }
want() { # CONTAINER TEXT...: its output holds each TEXT
	_o=$(one "$1"); _c=$1; shift
	[ -n "$_o" ] || die "$_c printed nothing"
	for _t in "$@"; do run_has "$_o" "$_t" || die "$_c: want $_t in: $_o"; done
}
wantnot() {
	_o=$(one "$1"); _c=$1; shift
	for _t in "$@"; do run_has "$_o" "$_t" && die "$_c: $_t should not be in: $_o"; done
	true
}

# image defaults: Entrypoint + Cmd, WorkingDir, Env, root, the task's hostname
want defaults '"argv":["/usr/bin/berth-testhelper","info"]' '"cwd":"/srv"' \
	'"BERTH_IMAGE":"helper"' '"PATH":"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"' \
	'"uid":0,' '"gid":0,' '"euid":0,' "\"hostname\":\"$HOST\"" "\"HOSTNAME\":\"$HOST\""
# command replaces Cmd only; entryPoint alone drops the image's Cmd
want cmd '{"argv":["x y","z"]}'
want ep '{"argv":["ep"]}'
# user by name: uid, gid and supplementary groups from the image's files;
# workingDirectory; hostname; environment overrides Env, a later entry wins
want app '"uid":1000,' '"gid":1000,' '"euid":1000,' '"egid":1000,' '"cwd":"/tmp"' \
	'"hostname":"custom-host"' '"HOSTNAME":"custom-host"' '"BERTH_IMAGE":"override"' \
	'"DUP":"second"' '"EMPTY":""'
# groups: the primary gid first, then the groups listing "app" (extra, 2000)
want app '"groups":[1000,2000]'
# user:group sets the gid and, as Docker does, no supplementary groups
want numeric '"uid":1000,' '"gid":2000,' '"egid":2000,' '"groups":[2000]' '"cwd":"/srv"'
# environmentFiles: after the image's Env, the first file naming a variable
# wins, the definition's environment wins over files
want envf '"FROMFILE":"a"' '"BOTH":"a"' '"ONLYB":"b"' '"OVER":"def"' '"BERTH_IMAGE":"fromfile"'
# overrides: command replaced, environment merged
want ovr '"argv":["/usr/bin/berth-testhelper","info"]' '"OVR":"yes"' '"KEEP":"1"'
wantnot ovr 'original'

# log files: one per container, JSON lines
for c in defaults cmd ep app numeric envf ovr last; do
	[ -f "$RUN_LOGS/$ID/$c.log" ] || die "no log file $RUN_LOGS/$ID/$c.log"
done
grep -q '^{"time":"[0-9-]*T[0-9:.]*Z","stream":"stdout","log":"{\\"argv\\":\[\\"x y\\",\\"z\\"\]}"}$' \
	"$RUN_LOGS/$ID/cmd.log" || die "cmd.log: $(cat "$RUN_LOGS/$ID/cmd.log")"
run_assert_clean

# killed by a signal: 128 + N (SIGKILL from outside: 137, and no OOM reason)
cat > "$S/sleep.json" <<JSON
{ "family": "killed", "requiresCompatibilities": ["EC2"], "networkMode": "none",
  "containerDefinitions": [ { "name": "s", "image": "berth-test/helper", "memory": 64,
    "command": ["signals"] } ] }
JSON
run_bg killed --task-id k$ID "$S/sleep.json"
run_wait_line 60 "$S/killed.err" 's | {"ready":true' || die "container s never got ready: $(cat "$S/killed.err")"
pids=$(cat "$RUN_CG/k$ID/s/cgroup.procs")
[ -n "$pids" ] || die "no process in $RUN_CG/k$ID/s"
kill -KILL $pids
run_wait
st=$?
[ "$st" = 137 ] || die "killed by SIGKILL: berth run exited $st, want 137"
run_expect_j "$S/killed.result.json" exitCode s 137
run_expect_j "$S/killed.result.json" reason s ""
run_expect_j "$S/killed.result.json" stopCode EssentialContainerExited

# a program that does not exist: 127, and an error naming it
cat > "$S/missing.json" <<JSON
{ "family": "missing", "requiresCompatibilities": ["EC2"], "networkMode": "none",
  "containerDefinitions": [ { "name": "m", "image": "berth-test/helper", "memory": 64,
    "entryPoint": ["/no/such/program"] } ] }
JSON
run_berth_json "$S/missing.json" > "$S/missing.out" 2> "$S/missing.err"
st=$?
say "missing program: status $st; $(grep -v '^m | ' "$S/missing.err" | tail -n 2)"
[ "$st" = 127 ] || die "missing program: berth run exited $st, want 127"
grep -q '/no/such/program' "$S/missing.err" || die "the error does not name /no/such/program: $(cat "$S/missing.err")"
run_expect_j "$S/missing.out" stopCode TaskFailedToStart
run_expect_j "$S/missing.out" exitCode 127
r=$(run_jget "$S/missing.out" reason m)
run_has "$r" CannotStartContainerError || die "m's reason: '$r'"
run_has "$r" /no/such/program || die "m's reason does not name the program: '$r'"
[ -z "$(run_jget "$S/missing.out" exitCode m)" ] || die "m never ran but has an exitCode"

# a broken task definition: 2, the JSON path in the error, nothing set up
cat > "$S/bad.json" <<JSON
{ "family": "bad", "requiresCompatibilities": ["EC2"], "networkMode": "none",
  "containerDefinitions": [ { "name": "ok", "image": "berth-test/helper", "memory": 64 },
    { "name": "b", "image": 42, "memory": 64 } ] }
JSON
run_berth "$S/bad.json" > "$S/bad.out" 2> "$S/bad.err"
st=$?
say "bad definition: status $st; $(cat "$S/bad.err")"
[ "$st" = 2 ] || die "bad definition: berth run exited $st, want 2"
grep -q 'containerDefinitions\[1\]\.image' "$S/bad.err" || die "error does not name containerDefinitions[1].image"
grep -q 'bad.json' "$S/bad.err" || die "error does not name the file"
[ ! -s "$S/bad.out" ] || die "bad definition printed on stdout: $(cat "$S/bad.out")"
run_assert_clean
