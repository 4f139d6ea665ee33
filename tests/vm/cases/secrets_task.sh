# Secrets (issue 9): `berth secret put` stores a value encrypted; a task whose
# container names it in secrets[] (a plain name and the Secrets Manager ARN
# with a json-key) gets it in its environment, and berth exec sees it too
# (as ECS Exec does); the value is in no DescribeTasks output, no berthd
# log, neither the state database nor its WAL, no file of the task's run or
# log directories (the container prints only a hash of it). A missing
# secret, a role whose policy does not allow it and a task without an
# execution role stop the task before it starts, with ECS's
# ResourceInitializationError naming the secret, and leave nothing behind.
# timeout: 300
run_setup 1024
S=$BERTH_SCRATCH
ROLE=arn:aws:iam::000000000000:role/secrets-exec
NOROLE=arn:aws:iam::000000000000:role/no-secrets
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "storage": "tmpfs",
  "roles": [
    { "roleArn": "$ROLE", "policies": [ { "Version": "2012-10-17", "Statement": [
        { "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "ssm:GetParameters"],
          "Resource": ["arn:aws:secretsmanager:*:*:secret:app/*",
                       "arn:aws:ssm:*:*:parameter/app/*"] } ] } ] },
    { "roleArn": "$NOROLE", "policies": [ { "Version": "2012-10-17", "Statement": [
        { "Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*" } ] } ] } ] }
JSON
"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug > "$S/berthd.log" 2>&1 &
BD=$!
on_exit "kill $BD; wait_until 10 sh -c '! kill -0 $BD'"
wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(cat "$S/berthd.log")"
export BERTH_SOCKET=$S/berthd.sock BERTH_LOG_DIR=$RUN_LOGS BERTH_RUN_DIR=$RUN_DIR
B=$BERTH_BIN/berth
on_exit "'$B' ps -q | xargs -r '$B' stop --wait >/dev/null"

# values nobody could guess, never written to a file of the test's either
VAL="s3cr3t-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PW="pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
HASH=$(printf %s "$VAL" | sha256sum | cut -c1-64)
PWHASH=$(printf %s "$PW" | sha256sum | cut -c1-64)

# ------------------------------------------------ put, ls
if "$B" secret put app/token "$VAL" > "$S/arg.out" 2>&1; then
	die "secret put took the value as an argument"
fi
grep -q "never given as an argument" "$S/arg.out" || die "put VALUE: $(cat "$S/arg.out")"
grep -q "$VAL" "$S/arg.out" && die "the refusal echoed the value"
printf %s "$VAL" | "$B" secret put /app/token --from-stdin > "$S/put1.out" ||
	die "secret put: $(cat "$S/put1.out")"
grep -q "^/app/token created (version 1): arn:aws:secretsmanager:us-east-1:000000000000:secret:/app/token-" \
	"$S/put1.out" || die "put output: $(cat "$S/put1.out")"
printf '{"user":"app","password":"%s"}' "$PW" | "$B" secret put app/db --from-stdin > "$S/put2.out" ||
	die "secret put app/db: $(cat "$S/put2.out")"
DBARN=$(sed -n 's/.*: \(arn:aws:secretsmanager:[^ ]*\)$/\1/p' "$S/put2.out")
[ -n "$DBARN" ] || die "no ARN in: $(cat "$S/put2.out")"
"$B" secret ls > "$S/ls.out" || die "secret ls"
grep -q "^/app/token " "$S/ls.out" && grep -q "^app/db " "$S/ls.out" || die "ls: $(cat "$S/ls.out")"
say "secrets stored: /app/token, app/db ($DBARN)"

# ------------------------------------------------ a task gets them
cat > "$S/sec.json" <<JSON
{ "family": "sec-app", "requiresCompatibilities": ["EC2"], "networkMode": "none", "memory": "128",
  "executionRoleArn": "$ROLE",
  "containerDefinitions": [
    { "name": "app", "image": "berth-test/helper", "entryPoint": ["/bin/sh", "-c"], "stopTimeout": 2,
      "command": ["printf %s \"\$TOKEN\" | sha256sum; printf %s \"\$DB_PASSWORD\" | sha256sum; exec sleep 600"],
      "secrets": [ { "name": "TOKEN", "valueFrom": "/app/token" },
                   { "name": "DB_PASSWORD", "valueFrom": "$DBARN:password::" } ] } ] }
JSON
ID=$("$B" run --detach --wait "$S/sec.json" 2> "$S/run.err") ||
	die "run: $(cat "$S/run.err"); berthd: $(tail -n 20 "$S/berthd.log")"
wait_until 20 sh -c "'$B' logs $ID 2>/dev/null | grep -q $PWHASH" ||
	die "the container did not print the hashes: $("$B" logs "$ID" 2>&1)"
"$B" logs "$ID" 2>/dev/null | grep -q "^$HASH" || die "TOKEN in the container is not the value"
"$B" logs "$ID" 2>/dev/null | grep -q "^$PWHASH" || die "DB_PASSWORD is not the json key's value"
say "the container's environment has both values (hashes match)"
"$B" exec "$ID" -- sh -c 'printf %s "$TOKEN" | sha256sum' > "$S/exec.out" 2> "$S/exec.err" ||
	die "exec (exit $?): $(cat "$S/exec.err")"
X=$(cut -c1-64 "$S/exec.out")
[ "$X" = "$HASH" ] || die "berth exec does not see TOKEN (got '$X'; stderr: $(cat "$S/exec.err"))"
say "berth exec sees the secret, as ECS Exec does"

# ------------------------------------------------ and nowhere else
nowhere() {   # WHAT FILE...
	_what=$1; shift
	for _f in "$@"; do
		[ -e "$_f" ] || continue
		if grep -a -q -e "$VAL" -e "$PW" "$_f"; then
			die "a secret value is in $_what ($_f)"
		fi
	done
}
"$B" describe --json "$ID" > "$S/describe.json" || die "describe"
grep -q '"lastStatus": *"RUNNING"' "$S/describe.json" || die "describe: $(cat "$S/describe.json")"
nowhere "DescribeTasks" "$S/describe.json"
"$B" ps --json > "$S/ps.json" || die "ps"
nowhere "ListTasks/DescribeTasks (ps)" "$S/ps.json"
"$B" secret ls --json > "$S/ls.json" || die "secret ls --json"
nowhere "ListSecrets" "$S/ls.json"
nowhere "berthd's log" "$S/berthd.log"
for f in "$RUN_ROOT"/berth.db "$RUN_ROOT"/berth.db-wal; do
	[ -s "$f" ] || continue
	n=$(grep -a -c -e "$VAL" -e "$PW" "$f")
	[ "$n" = 0 ] || die "$f holds a secret value ($n matches)"
	grep -a -q "/app/token" "$f" && say "$f has the secret's name, not its value"
done
[ -e "$RUN_ROOT/berth.db" ] || die "no state database at $RUN_ROOT/berth.db"
# every file of the task's run dir (bundle, config.json, status.json,
# shim.log), its logs and berth's state; the scan is shown to work on the
# container's log, which holds the hashes it printed
find "$RUN_DIR" "$RUN_LOGS" "$RUN_ROOT" -type f > "$S/files" 2> "$S/find.err" ||
	die "find: $(cat "$S/find.err")"
grep -q "^$RUN_DIR/$ID/" "$S/files" || die "the scan does not see the task's bundle: $(head "$S/files")"
n=0
while read -r f; do
	nowhere "a file of berth's" "$f"
	grep -a -q "$HASH" "$f" && n=$((n + 1))
done < "$S/files"
[ "$n" -ge 1 ] || die "the scan did not find the container's log (with the hash) either"
say "no value in DescribeTasks, ps, ListSecrets, berthd.log, berth.db(-wal), $(wc -l < "$S/files") files of berth ($n with the hash)"
"$B" stop --wait "$ID" > /dev/null || die "stop"

# ------------------------------------------------ tasks that cannot have them
failed() {   # NAME ROLE VALUEFROM WANT
	_role=""
	[ -n "$2" ] && _role="\"executionRoleArn\": \"$2\","
	cat > "$S/$1.json" <<JSON
{ "family": "$1", "requiresCompatibilities": ["EC2"], "networkMode": "none", "memory": "128", $_role
  "containerDefinitions": [
    { "name": "app", "image": "berth-test/helper", "command": ["sleep", "600"],
      "secrets": [ { "name": "S", "valueFrom": "$3" } ] } ] }
JSON
	"$B" run --detach --json "$S/$1.json" > "$S/$1.out" 2>&1 || true
	grep -q '"lastStatus": *"STOPPED"' "$S/$1.out" || die "$1 did not stop: $(cat "$S/$1.out")"
	grep -q '"stopCode": *"TaskFailedToStart"' "$S/$1.out" || die "$1 stopCode: $(cat "$S/$1.out")"
	grep -q "\"stoppedReason\": *\"ResourceInitializationError: unable to pull secrets or registry auth: .*$4" \
		"$S/$1.out" || die "$1 stoppedReason: $(cat "$S/$1.out")"
	_id=$(sed -n 's/.*"taskArn": *"[^"]*\/\([0-9a-f]\{32\}\)".*/\1/p' "$S/$1.out" | head -n 1)
	[ -n "$_id" ] || die "$1: no task id in $(cat "$S/$1.out")"
	[ ! -e "$RUN_DIR/$_id" ] || die "$1 left its bundle $RUN_DIR/$_id"
	say "$1: STOPPED, $(sed -n 's/.*"stoppedReason": *"\([^"]*\)".*/\1/p' "$S/$1.out" | head -n 1)"
}
failed sec-missing "$ROLE" "/app/nope" "container app: secrets\\[0\\] (S): invalid parameters: /app/nope"
failed sec-denied "$NOROLE" "/app/token" "AccessDeniedException: $NOROLE is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:us-east-1:000000000000:parameter/app/token"
failed sec-norole "" "/app/token" "the task definition has no executionRoleArn"
nowhere "berthd's log" "$S/berthd.log"

# ------------------------------------------------ rm; berth run without berthd
"$B" secret rm /app/token > "$S/rm.out" || die "secret rm: $(cat "$S/rm.out")"
"$B" secret rm /app/token > "$S/rm2.out" 2>&1
[ $? = 3 ] || die "rm of a missing secret: want exit 3: $(cat "$S/rm2.out")"
grep -q "secret /app/token not found" "$S/rm2.out" || die "rm2: $(cat "$S/rm2.out")"
if "$B" --root "$RUN_ROOT" run "$S/sec.json" > "$S/fg.out" 2>&1; then
	die "berth run (no berthd) ran a task with secrets"
fi
grep -q "secrets need berthd" "$S/fg.out" || die "berth run: $(cat "$S/fg.out")"
say "berth run without berthd refuses secrets: $(grep -o 'containerDefinitions.*' "$S/fg.out" | head -c 160)"
