# Tasks run from pulled images (issue 8): a real registry (Debian's
# docker-registry, sent over by the host) runs in this guest on :8080 with
# the helper image pushed to it by the host's skopeo through the hostfwd
# (tests/vm/host/pull_registry.sh). berthd, configured with it as an
# insecure registry and the store empty, starts two tasks of
# 127.0.0.1:8080/berth-test/helper:v1 at once: both run, each blob left the
# registry once, pullStartedAt < pullStoppedAt <= startedAt, and the shims
# have no libcurl mapped (the pulls ran in berth children). A missing tag
# stops its task with TaskFailedToStart / CannotPullContainerError. `berth
# run` in the foreground pulls the same way into another root.
# vm-only: the registry comes from the host through the hostfwd
# timeout: 900
S=$BERTH_SCRATCH
RUN_ROOT=$S/state
RUN_CG=$BERTH_CGROUP/berth-test.$BERTH_CASE
RUN_DIR=$S/run
RUN_LOGS=$S/logs
ext4_dir "$RUN_ROOT" 512
on_exit "rmdir '$RUN_CG'"
B=$BERTH_BIN/berth
IMG=$BERTH_IMAGES/helper.oci.tar
REF=127.0.0.1:8080/berth-test/helper:v1

# ------------------------------------------------ the registry
# lined up on :8080 for the host call: receive the registry binary, send
# the image, then serve as the registry (the host pushes to it)
cat > "$S/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $S/registry-data
http:
  addr: 0.0.0.0:8080
EOF
echo ACK > "$S/ack"
(
	nc -l -p 8080 < "$S/ack" > "$S/docker-registry" || exit 1
	{ echo ACK; cat "$IMG"; } | nc -l -p 8080 > /dev/null || exit 1
	chmod 755 "$S/docker-registry"
	exec "$S/docker-registry" serve "$S/registry.yml" > "$S/registry.log" 2>&1
) &
FEED=$!
on_exit "kill $FEED; for p in \$(pids_of nc); do kill \$p; done"
out=$(hostcall pull_registry "$(wc -c < "$IMG")" "$(sha256sum "$IMG" | cut -d' ' -f1)") ||
	die "host call pull_registry failed: $out; registry: $(tail -n 5 "$S/registry.log" 2>/dev/null)"
want=$(echo "$out" | sed -n 's/^registry-sha256 \([0-9a-f]*\).*/\1/p')
[ -n "$want" ] && [ "$want" = "$(sha256sum "$S/docker-registry" | cut -d' ' -f1)" ] ||
	die "the registry binary did not arrive whole: $out"
echo "$out" | grep -q "^pushed berth-test/helper:v1" || die "no push: $out"
kill -0 "$FEED" 2>/dev/null || die "the registry is not running: $(tail -n 5 "$S/registry.log")"
say "registry in the guest on :8080 with berth-test/helper:v1"

# ------------------------------------------------ berthd, two tasks of a new image
cat > "$S/berthd.json" <<JSON
{ "root": "$RUN_ROOT", "runDir": "$RUN_DIR", "logDir": "$RUN_LOGS", "cgroupRoot": "$RUN_CG",
  "socket": "$S/berthd.sock", "storage": "tmpfs",
  "imagePullPolicy": "if-not-present", "insecureRegistries": ["127.0.0.1:8080"], "dockerConfig": "none" }
JSON
"$BERTH_BIN/berthd" --config "$S/berthd.json" --check || die "berthd --check refused the configuration"
"$BERTH_BIN/berthd" --config "$S/berthd.json" --log-level debug > "$S/berthd.log" 2>&1 &
BD=$!
on_exit "kill $BD"
wait_until 30 test -S "$S/berthd.sock" || die "berthd did not start: $(cat "$S/berthd.log")"
export BERTH_SOCKET=$S/berthd.sock BERTH_LOG_DIR=$RUN_LOGS
on_exit "'$B' ps -q | xargs -r '$B' stop --wait >/dev/null"
[ -z "$(ls -A "$RUN_ROOT/images/images" 2>/dev/null)" ] || die "the store has images before the pull"

cat > "$S/pulled.json" <<JSON
{ "family": "pulled", "requiresCompatibilities": ["EC2"], "networkMode": "none", "memory": "128",
  "containerDefinitions": [
    { "name": "main", "image": "$REF", "entryPoint": ["/bin/sh", "-c"], "stopTimeout": 2,
      "command": ["echo running-from-pulled-image; exec sleep 600"] } ] }
JSON
IDS=$("$B" run --detach --wait --count 2 "$S/pulled.json" 2> "$S/run.err") ||
	die "run --count 2 --wait: $(cat "$S/run.err"); berthd: $(tail -n 30 "$S/berthd.log")"
[ "$(echo "$IDS" | wc -l)" = 2 ] || die "want two task ids, got: $IDS"
# t KEY ID: a time of the task (DescribeTasks)
t() { "$B" --json describe "$2" | sed -n "s/.*\"$1\": \\([0-9.e+]*\\).*/\\1/p" | head -n 1; }
for id in $IDS; do
	ps=$(t pullStartedAt "$id") pe=$(t pullStoppedAt "$id") st=$(t startedAt "$id")
	run_cmp "$ps" '<' "$pe" "task $id: pullStartedAt < pullStoppedAt"
	run_cmp "$pe" '<=' "$st" "task $id: pullStoppedAt <= startedAt"
	wait_until 20 sh -c "'$B' logs $id 2>/dev/null | grep -qx running-from-pulled-image" ||
		die "task $id: no output from the pulled image: $("$B" logs "$id" 2>&1)"
	say "task $id: pulled in $(run_add "$pe" "-$ps") s, running"
done
# the shims pulled through a berth child: they never load libcurl (berthd
# links it for its etcd client; images are never its business)
shims=$(pids_of berth-shim)
[ "$(echo $shims | wc -w)" -ge 2 ] || die "want the two tasks' shims running, found: $shims"
for p in $shims; do
	grep -q libcurl "/proc/$p/maps" && die "process $p ($(cat /proc/$p/comm)) has libcurl mapped"
done
# the store has it, under the name it was pulled by
"$B" --root "$RUN_ROOT" image ls | grep -q "127.0.0.1:8080/berth-test/helper *v1" ||
	die "image ls: $("$B" --root "$RUN_ROOT" image ls)"
# each blob (3 layers, the config) left the registry once for both tasks
grep -o '"GET /v2/berth-test/helper/blobs/sha256:[0-9a-f]* HTTP/1.1" 200' "$S/registry.log" | sort | uniq -c > "$S/gets"
[ "$(wc -l < "$S/gets")" -ge 4 ] || die "blob downloads in the registry's log: $(cat "$S/gets")"
awk '$1 != 1 { bad = 1 } END { exit bad }' "$S/gets" || die "a blob was downloaded twice: $(cat "$S/gets")"
say "two tasks, one download: $(wc -l < "$S/gets") blobs served once each"
# (sleep, pid 1 of its container, ignores SIGTERM: killed after its
# stopTimeout of 2 s; both at once)
STOPS=
for id in $IDS; do
	"$B" stop --wait "$id" > /dev/null &
	STOPS="$STOPS $!"
done
for p in $STOPS; do wait "$p" || die "stop of a pulled task failed (exit $?): $("$B" ps -a)"; done

# ------------------------------------------------ a tag the registry lacks
sed "s|$REF|127.0.0.1:8080/berth-test/helper:nope|" "$S/pulled.json" > "$S/missing.json"
ID=$("$B" run --detach "$S/missing.json" 2> "$S/run.err")
[ -z "$ID" ] && ID=$(sed -n 's/.*task \([0-9a-f]\{32\}\) could not start.*/\1/p' "$S/run.err")
[ -n "$ID" ] || die "run missing.json: $(cat "$S/run.err")"
wait_until 60 sh -c "'$B' ps -a | grep '^$(echo "$ID" | cut -c1-12) ' | grep -q STOPPED" ||
	die "the task of a missing tag did not stop: $("$B" describe "$ID")"
"$B" describe "$ID" > "$S/describe.txt"
grep -q "^Stop code: *TaskFailedToStart" "$S/describe.txt" || die "stop code: $(cat "$S/describe.txt")"
reason=$(sed -n 's/^Stopped reason: *//p' "$S/describe.txt")
case $reason in
"CannotPullContainerError: "*"127.0.0.1:8080/berth-test/helper:nope"*"not found"*) ;;
*) die "stoppedReason: '$reason'" ;;
esac
say "missing tag: $reason"

# ------------------------------------------------ berth run, in the foreground
cat > "$S/fg.json" <<JSON
{ "family": "fg", "networkMode": "none", "memory": "128",
  "containerDefinitions": [
    { "name": "main", "image": "$REF", "entryPoint": ["/bin/sh", "-c"],
      "command": ["echo foreground-pulled; exit 7"] } ] }
JSON
mkdir -p "$RUN_ROOT/fg"
"$B" --root "$RUN_ROOT/fg" run --cgroup-root "$RUN_CG" --run-dir "$RUN_DIR" --log-dir none \
	--storage tmpfs --launch-type EC2 --insecure-registry 127.0.0.1:8080 "$S/fg.json" > "$S/fg.out" 2> "$S/fg.err"
rc=$?
[ "$rc" = 7 ] || die "berth run: exit $rc, want 7: $(tail -n 20 "$S/fg.err")"
grep -q "main | foreground-pulled" "$S/fg.out" || die "berth run's output: $(cat "$S/fg.out")"
"$B" --root "$RUN_ROOT/fg" image ls | grep -q "127.0.0.1:8080/berth-test/helper *v1" ||
	die "berth run did not pull into its root: $("$B" --root "$RUN_ROOT/fg" image ls)"
# --pull never with an image the root lacks: refused before anything runs
"$B" --root "$RUN_ROOT/fg" image rm "$REF" > /dev/null || die "image rm"
"$B" --root "$RUN_ROOT/fg" run --cgroup-root "$RUN_CG" --run-dir "$RUN_DIR" --log-dir none \
	--storage tmpfs --launch-type EC2 --pull never "$S/fg.json" > "$S/fg2.out" 2> "$S/fg2.err"
rc=$?
[ "$rc" = 125 ] || die "berth run --pull never: exit $rc, want 125: $(tail -n 5 "$S/fg2.err")"
grep -q 'CannotPullContainerError.*pull policy is "never"' "$S/fg2.err" || die "--pull never said: $(cat "$S/fg2.err")"

# ------------------------------------------------ nothing left
kill "$BD"
wait "$BD" 2>/dev/null
run_assert_clean
say "tasks ran from pulled images; a missing tag failed to start with CannotPullContainerError"
