# berth run: dependsOn START, COMPLETE, SUCCESS and HEALTHY. Each container
# prints "start T" / "end T" with T = /proc/uptime (the same clock for
# every container), so the order is checked on times: b (SUCCESS on a)
# starts after a ended, d (COMPLETE on c) after c ended with 3, e (SUCCESS
# on c) never starts (DependencyNotResolved), i (HEALTHY on h) only after
# h's first passing check (interval 5 s), s (START on a) after a started.
# timeout: 150
run_setup
S=$BERTH_SCRATCH
cat > "$S/task.json" <<'JSON'
{
  "family": "depends",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "512",
  "containerDefinitions": [
    { "name": "a", "image": "berth-test/helper", "essential": false,
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["read u x < /proc/uptime; echo start $u; sleep 2; read u x < /proc/uptime; echo end $u"] },
    { "name": "b", "image": "berth-test/helper", "essential": false,
      "dependsOn": [ { "containerName": "a", "condition": "SUCCESS" } ],
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["read u x < /proc/uptime; echo start $u"] },
    { "name": "s", "image": "berth-test/helper", "essential": false,
      "dependsOn": [ { "containerName": "a", "condition": "START" } ],
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["read u x < /proc/uptime; echo start $u"] },
    { "name": "c", "image": "berth-test/helper", "essential": false,
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["read u x < /proc/uptime; echo start $u; sleep 1; read u x < /proc/uptime; echo end $u; exit 3"] },
    { "name": "d", "image": "berth-test/helper", "essential": false,
      "dependsOn": [ { "containerName": "c", "condition": "COMPLETE" } ],
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["read u x < /proc/uptime; echo start $u"] },
    { "name": "e", "image": "berth-test/helper", "essential": false,
      "dependsOn": [ { "containerName": "c", "condition": "SUCCESS" } ],
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["read u x < /proc/uptime; echo start $u"] },
    { "name": "h", "image": "berth-test/helper", "essential": false, "stopTimeout": 2,
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["trap 'exit 0' TERM; read u x < /proc/uptime; echo start $u; sleep 1; touch /tmp/up; read u x < /proc/uptime; echo up $u; while :; do sleep 1; done"],
      "healthCheck": { "command": ["CMD-SHELL", "test -f /tmp/up"], "interval": 5, "retries": 1 } },
    { "name": "i", "image": "berth-test/helper", "essential": false,
      "dependsOn": [ { "containerName": "h", "condition": "HEALTHY" } ],
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["read u x < /proc/uptime; echo start $u"] },
    { "name": "main", "image": "berth-test/helper",
      "dependsOn": [ { "containerName": "b", "condition": "COMPLETE" },
                     { "containerName": "d", "condition": "SUCCESS" },
                     { "containerName": "i", "condition": "SUCCESS" },
                     { "containerName": "s", "condition": "COMPLETE" } ],
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["read u x < /proc/uptime; echo start $u"] }
  ]
}
JSON
run_berth_json "$S/task.json" > "$S/res.json" 2> "$S/err.txt"
st=$?
sed 's/^/  | /' "$S/err.txt"
[ "$st" = 0 ] || die "berth run exited $st, want 0"
t() { run_out "$S/err.txt" "$1" | sed -n "s/^$2 //p" | head -n 1; }
for c in a b s c d h i main; do
	[ -n "$(t $c start)" ] || die "$c never started"
done
[ -z "$(run_out "$S/err.txt" e)" ] || die "e ran although c failed its SUCCESS condition"
run_cmp "$(t b start)" '>=' "$(t a end)" "b (SUCCESS on a) starts after a ended"
run_cmp "$(t s start)" '>=' "$(t a start)" "s (START on a) starts after a started"
run_cmp "$(t s start)" '<' "$(t a end)" "s (START on a) does not wait for a to end"
run_cmp "$(t d start)" '>=' "$(t c end)" "d (COMPLETE on c) starts after c ended"
run_cmp "$(t i start)" '>=' "$(awk -v h="$(t h start)" 'BEGIN { print h + 5 }')" \
	"i (HEALTHY on h) starts after h's first check, 5 s after h started"
run_cmp "$(t i start)" '>=' "$(t h up)" "i starts after h became able to pass"
run_cmp "$(t main start)" '>=' "$(t i start)" "main after i"

run_expect_j "$S/res.json" stopCode EssentialContainerExited
run_expect_j "$S/res.json" exitCode 0
run_expect_j "$S/res.json" exitCode c 3
for c in a b s d i main; do run_expect_j "$S/res.json" exitCode $c 0; done
run_expect_j "$S/res.json" healthStatus h HEALTHY
# h stopped by its SIGTERM trap (0), not killed after stopTimeout (137)
run_expect_j "$S/res.json" exitCode h 0
[ -z "$(run_jget "$S/res.json" exitCode e)" ] || die "e has an exitCode"
r=$(run_jget "$S/res.json" reason e)
case $r in DependencyNotResolved*c*) ;; *) die "e's reason: '$r'" ;; esac
say "e: $r"
run_assert_clean
