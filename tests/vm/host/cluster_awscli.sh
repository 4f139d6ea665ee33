#!/bin/bash
# cluster_awscli HOST PORT KEY SECRET MODE [ARGS...]: the real AWS CLI v2
# against one berthd of a cluster in the guest (tests/vm/cluster_lib.sh:
# guest :8080 is DNATed to the host the case chose). Modes:
#   cli xHEX...    one `aws` command, each argument hex-encoded with an x
#                  in front (cl_aws); its output, JSON compacted to one line
#   members        list-container-instances, then describe-container-
#                  instances of all of them (the two must agree, no
#                  failures): "INSTANCE ID CONNECTED STATUS EC2ID ZONE" per
#                  instance, sorted by id, then "COUNT N"
#   run FAMILY     register-task-definition FAMILY (revision 1, awsvpc,
#                  EC2, one `sleep 600` container of berth-test/helper),
#                  describe-task-definition, run-task --launch-type EC2,
#                  describe-tasks until RUNNING (60 s); list-tasks has it:
#                  "TASK TASKID INSTANCE CI-ID IP ADDRESS"
#   stop TASKID    stop-task with a reason, describe-tasks until STOPPED
#                  (60 s): stopCode UserInitiated, the reason kept, an exit
#                  code: "STOPPED TASKID"
# Exits non-zero at the first thing that is not as expected, saying what.
. "$(dirname "$0")/awscli_lib.sh" "$@"
MODE=${5:?mode}
shift 5

# describe TASKID: describe-tasks of one task into $WORK/dt
describe() { ecs describe-tasks --cluster default --tasks "$1" > "$WORK/dt"; }
status() { py 'print(d["tasks"][0]["lastStatus"] if d["tasks"] else "MISSING")' < "$WORK/dt"; }

case $MODE in
cli)
	args=()
	for a in "$@"; do
		[[ $a == x* ]] || fail "cli: argument '$a' is not x<hex>"
		args+=("$(/usr/bin/python3 -c 'import sys; sys.stdout.write(bytes.fromhex(sys.argv[1][1:]).decode())' "$a")")
	done
	rc=0
	$AWS --endpoint-url "http://$HOST:$PORT" --output json --cli-read-timeout 60 "${args[@]}" \
		> "$WORK/out" 2> "$WORK/err" || rc=$?
	/usr/bin/python3 - "$WORK/out" <<'PY'
import json, sys
s = open(sys.argv[1]).read()
try:
    print(json.dumps(json.loads(s), separators=(",", ":"), sort_keys=True))
except ValueError:
    sys.stdout.write(s)
PY
	[ "$rc" = 0 ] || cat "$WORK/err"
	exit "$rc"
	;;
members)
	ecs list-container-instances --cluster default > "$WORK/lci"
	py 'print(" ".join(d["containerInstanceArns"]))' < "$WORK/lci" > "$WORK/arns"
	read -r -a arns < "$WORK/arns"
	[ "${#arns[@]}" -gt 0 ] || fail "list-container-instances: none ($(cat "$WORK/lci"))"
	ecs describe-container-instances --cluster default --container-instances "${arns[@]}" > "$WORK/dci"
	py '
lst = sys.argv[1:]
assert not d["failures"], "describe failures: %s" % d["failures"]
got = [i["containerInstanceArn"] for i in d["containerInstances"]]
assert sorted(got) == sorted(lst), "listed %s, described %s" % (lst, got)
assert len(set(got)) == len(got), "an instance twice: %s" % got
for i in sorted(d["containerInstances"], key=lambda i: i["containerInstanceArn"]):
    attrs = {a["name"]: a.get("value", "") for a in i.get("attributes", [])}
    print("INSTANCE", i["containerInstanceArn"].rsplit("/", 1)[1], str(i["agentConnected"]).lower(),
          i["status"], i.get("ec2InstanceId", "-"), attrs.get("zone", "-"))
print("COUNT", len(got))' "${arns[@]}" < "$WORK/dci"
	;;
run)
	fam=${1:?family}
	cat > "$WORK/td.json" <<JSON
{ "family": "$fam", "networkMode": "awsvpc", "requiresCompatibilities": ["EC2"], "cpu": "128", "memory": "64",
  "containerDefinitions": [
    { "name": "main", "image": "berth-test/helper", "essential": true, "command": ["sleep", "600"],
      "stopTimeout": 2 } ] }
JSON
	ecs register-task-definition --cli-input-json "file://$WORK/td.json" > "$WORK/reg"
	py 't=d["taskDefinition"]; assert t["family"]==sys.argv[1] and t["revision"]==1 and t["status"]=="ACTIVE", t' \
		"$fam" < "$WORK/reg" || fail "register-task-definition $fam: $(cat "$WORK/reg")"
	ecs describe-task-definition --task-definition "$fam:1" |
		py 'assert d["taskDefinition"]["containerDefinitions"][0]["command"]==["sleep","600"], d' ||
		fail "describe-task-definition $fam:1"
	ok "register-task-definition $fam (revision 1), describe-task-definition"
	ecs run-task --cluster default --task-definition "$fam" --launch-type EC2 --started-by cluster-test \
		--network-configuration 'awsvpcConfiguration={subnets=[subnet-local],securityGroups=[default]}' > "$WORK/run"
	task=$(py 'assert not d["failures"], d["failures"]; t=d["tasks"][0]; assert t["desiredStatus"]=="RUNNING", t; print(t["taskArn"])' \
		< "$WORK/run") || fail "run-task: $(cat "$WORK/run")"
	id=${task##*/}
	st=
	for _ in $(seq 60); do
		describe "$id"
		st=$(status)
		[ "$st" = RUNNING ] && break
		[ "$st" = STOPPED ] && fail "task $id stopped: $(cat "$WORK/dt")"
		sleep 1
	done
	[ "$st" = RUNNING ] || fail "task $id not RUNNING after 60 s: $st"
	py '
t = d["tasks"][0]
c = t["containers"][0]
assert c["lastStatus"] == "RUNNING", c
assert t["startedBy"] == "cluster-test" and t["launchType"] == "EC2", t
ip = c["networkInterfaces"][0]["privateIpv4Address"]
print("TASK", t["taskArn"].rsplit("/", 1)[1], "INSTANCE", t["containerInstanceArn"].rsplit("/", 1)[1], "IP", ip)' \
		< "$WORK/dt" || fail "describe-tasks $id: $(cat "$WORK/dt")"
	ecs list-tasks --cluster default --family "$fam" | py 'assert sys.argv[1] in d["taskArns"], d' "$task" ||
		fail "list-tasks --family $fam lacks $task"
	ok "run-task $fam: $id RUNNING (describe-tasks, list-tasks)"
	;;
stop)
	id=${1:?task id}
	ecs stop-task --cluster default --task "$id" --reason "cluster test stop" |
		py 'assert d["task"]["desiredStatus"]=="STOPPED", d' || fail "stop-task $id"
	st=
	for _ in $(seq 60); do
		describe "$id"
		st=$(status)
		[ "$st" = STOPPED ] && break
		sleep 1
	done
	[ "$st" = STOPPED ] || fail "task $id not STOPPED after 60 s: $st"
	py '
t = d["tasks"][0]
assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "cluster test stop", t
assert "exitCode" in t["containers"][0], t["containers"]' < "$WORK/dt" || fail "describe-tasks $id: $(cat "$WORK/dt")"
	echo "STOPPED $id"
	ok "stop-task $id: STOPPED, UserInitiated, the reason kept"
	;;
*)
	fail "unknown mode $MODE"
	;;
esac
