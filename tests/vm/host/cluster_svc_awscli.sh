#!/bin/bash
# cluster_svc_awscli HOST PORT KEY SECRET MODE [ARGS...]: the real AWS CLI
# v2 against one berthd of a three-host cluster in the guest (the guest's
# :8080 is DNATed to the host the case chose: tests/vm/cluster_lib.sh),
# for tests/vm/cases/cluster_services.sh (issue 13). Modes:
#   spread           run-task of 3 tasks spread over the availability zones
#                    (each host has its own: instance.availabilityZone): one
#                    on each container instance, all RUNNING, then stopped:
#                    "SPREAD <instance ids>"
#   create SVC       register-task-definition cweb, create-service SVC with 3
#                    tasks spread over the instances, until 3 RUNNING:
#                    "TASK <id> <instance id>" each
#   count SVC N AWAY TIMEOUT
#                    until SVC has exactly N tasks RUNNING (and meant to
#                    run) and none of them is on instance AWAY ("-": any):
#                    "COUNT <seconds it took>"; also: desired N, runningCount N
#   nodup SVC N ID SECONDS
#                    every task of SVC on instance ID ends STOPPED, then for
#                    SECONDS every observation has exactly N RUNNING: "NODUP"
#   snap NAME        what must survive an etcd restart (task definitions,
#                    services, the service tasks), kept on this machine as
#                    NAME; "snap same NAME" compares with it (a difference
#                    drops it), "snap drop NAME" drops it
#   delete SVC       delete-service --force, until INACTIVE and every task
#                    STOPPED
# Exits non-zero at the first thing that is not as expected, saying what.
. "$(dirname "$0")/awscli_lib.sh" "$@"
MODE=${5:?mode}
shift 5

# tasks SVC: one line per task of SVC: id lastStatus desiredStatus instance-id
tasks() {
	local arns
	arns=$( { ecs list-tasks --cluster default --service-name "$1" --desired-status RUNNING |
		  py 'print(" ".join(d["taskArns"]))'
		  ecs list-tasks --cluster default --service-name "$1" --desired-status STOPPED |
		  py 'print(" ".join(d["taskArns"]))'; } | tr ' ' '\n' | sort -u | tr '\n' ' ')
	[ -n "${arns// /}" ] || return 0
	# shellcheck disable=SC2086 # ARNs
	ecs describe-tasks --cluster default --tasks $arns | py '
for t in d["tasks"]:
    print(t["taskArn"].rsplit("/",1)[1], t["lastStatus"], t["desiredStatus"],
          t.get("containerInstanceArn", "-").rsplit("/",1)[-1])'
}
# all3 EXPR SECONDS: until EXPR (python, over describe-tasks of $WORK/ids as
# d) is 3; states: what those tasks are now
all3() {
	for _i in $(seq "$2"); do
		# shellcheck disable=SC2046 # ids
		ecs describe-tasks --cluster default --tasks $(cat "$WORK/ids") > "$WORK/dt"
		[ "$(py "print($1)" < "$WORK/dt")" = 3 ] && return 0
		sleep 1
	done
	return 1
}
states() { py 'print([(t["lastStatus"], t.get("stoppedReason")) for t in d["tasks"]])' < "$WORK/dt"; }
running() { awk '$2=="RUNNING" && $3=="RUNNING"' "$1" | wc -l; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

case $MODE in
spread)
	cat > "$WORK/td.json" <<'JSON'
{ "family": "csleep", "networkMode": "awsvpc", "requiresCompatibilities": ["EC2"], "memory": "64",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "command": ["sleep", "900"],
    "stopTimeout": 2 } ] }
JSON
	ecs register-task-definition --cli-input-json "file://$WORK/td.json" > /dev/null
	ecs list-container-instances --cluster default |
		py 'print("\n".join(sorted(a.rsplit("/",1)[1] for a in d["containerInstanceArns"])))' > "$WORK/ci"
	[ "$(wc -l < "$WORK/ci")" = 3 ] || fail "list-container-instances: $(cat "$WORK/ci")"
	ecs run-task --cluster default --task-definition csleep --count 3 --launch-type EC2 \
		--placement-strategy type=spread,field=attribute:ecs.availability-zone \
		--network-configuration 'awsvpcConfiguration={subnets=[subnet-local]}' > "$WORK/run"
	py 'assert not d["failures"], d["failures"]; print("\n".join(t["taskArn"].rsplit("/",1)[1] for t in d["tasks"]))' \
		< "$WORK/run" > "$WORK/ids"
	py 'print("\n".join(sorted(t["containerInstanceArn"].rsplit("/",1)[1] for t in d["tasks"])))' \
		< "$WORK/run" > "$WORK/placed"
	cmp -s "$WORK/ci" "$WORK/placed" || fail "spread: the 3 tasks are on $(tr '\n' ' ' < "$WORK/placed"), the instances are $(tr '\n' ' ' < "$WORK/ci")"
	ok "run-task --count 3, spread(attribute:ecs.availability-zone): one task on each instance"
	all3 'sum(t["lastStatus"] == "RUNNING" for t in d["tasks"])' 90 || fail "not all 3 RUNNING after 90 s: $(states)"
	ok "all 3 RUNNING, as this host describes them"
	for id in $(cat "$WORK/ids"); do
		ecs stop-task --cluster default --task "$id" --reason "cluster spread done" > /dev/null
	done
	all3 'sum(t["lastStatus"] == "STOPPED" and t.get("stoppedReason") == "cluster spread done" for t in d["tasks"])' 60 ||
		fail "not all 3 STOPPED with the reason after 60 s: $(states)"
	ok "stop-task from this host stopped each on its own instance"
	echo "SPREAD $(tr '\n' ' ' < "$WORK/placed")"
	;;
create)
	svc=$1
	cat > "$WORK/td.json" <<'JSON'
{ "family": "cweb", "networkMode": "awsvpc", "requiresCompatibilities": ["EC2"], "memory": "64",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "command": ["sleep", "903"],
    "stopTimeout": 2 } ] }
JSON
	ecs register-task-definition --cli-input-json "file://$WORK/td.json" > /dev/null
	ecs create-service --cluster default --service-name "$svc" --task-definition cweb \
		--desired-count 3 --launch-type EC2 --placement-strategy type=spread,field=instanceId \
		--network-configuration 'awsvpcConfiguration={subnets=[subnet-local]}' > "$WORK/c"
	py 's=d["service"]; assert s["status"]=="ACTIVE" and s["desiredCount"]==3, s' < "$WORK/c"
	t0=$(now)
	for i in $(seq 120); do
		tasks "$svc" > "$WORK/t"
		[ "$(running "$WORK/t")" = 3 ] && break
		sleep 1
	done
	[ "$(running "$WORK/t")" = 3 ] || fail "service $svc: not 3 RUNNING after 120 s: $(cat "$WORK/t")"
	n=$(awk '$2=="RUNNING" && $3=="RUNNING" { print $4 }' "$WORK/t" | sort -u | wc -l)
	[ "$n" = 3 ] || fail "service $svc: its 3 tasks are on $n instances, not spread: $(cat "$WORK/t")"
	ok "create-service $svc: 3 RUNNING, one per instance, after $(since "$t0") s"
	awk '$2=="RUNNING" && $3=="RUNNING" { print "TASK", $1, $4 }' "$WORK/t"
	;;
count)
	svc=$1 want=$2 away=$3 limit=$4
	t0=$(now)
	while :; do
		tasks "$svc" > "$WORK/t"
		n=$(running "$WORK/t")
		bad=$(awk -v a="$away" '$2=="RUNNING" && $3=="RUNNING" && $4==a' "$WORK/t" | wc -l)
		[ "$n" = "$want" ] && [ "$bad" = 0 ] && break
		[ "$(awk -v s="$(since "$t0")" -v l="$limit" 'BEGIN { print (s > l) }')" = 1 ] &&
			fail "service $svc: not $want RUNNING off instance $away after $limit s: $(cat "$WORK/t")"
		sleep 0.5
	done
	took=$(since "$t0")
	ecs describe-services --cluster default --services "$svc" |
		py 's=d["services"][0]; assert s["desiredCount"]==int(sys.argv[1]), s["desiredCount"]' "$want"
	ok "service $svc: $want RUNNING off instance $away after $took s"
	echo "COUNT $took"
	;;
nodup)
	svc=$1 want=$2 id=$3 secs=$4
	for i in $(seq 90); do
		tasks "$svc" > "$WORK/t"
		left=$(awk -v a="$id" '$4==a && $2!="STOPPED"' "$WORK/t" | wc -l)
		[ "$left" = 0 ] && break
		sleep 1
	done
	[ "$left" = 0 ] || fail "service $svc: tasks on instance $id not STOPPED after 90 s: $(cat "$WORK/t")"
	ok "service $svc: every task on the returned instance $id is STOPPED"
	for i in $(seq "$secs"); do
		tasks "$svc" > "$WORK/t"
		n=$(running "$WORK/t")
		[ "$n" = "$want" ] || fail "service $svc: $n RUNNING (want $want) at observation $i: $(cat "$WORK/t")"
		sleep 1
	done
	ok "service $svc: exactly $want RUNNING at each of $secs observations"
	echo "NODUP"
	;;
snap)
	case $1 in same|drop) name=$2 ;; *) name=$1 ;; esac
	f=${TMPDIR:-/tmp}/berth-cluster-snap-$name
	if [ "$1" = drop ]; then rm -f "$f"; ok "snapshot $name dropped"; exit 0; fi
	{
		ecs list-task-definitions | py 'print(sorted(d["taskDefinitionArns"]))'
		arns=$(ecs list-services --cluster default | py 'print(" ".join(sorted(d["serviceArns"])))')
		echo "$arns"
		# shellcheck disable=SC2086 # ARNs
		[ -z "$arns" ] || ecs describe-services --cluster default --services $arns | py '
for s in sorted(d["services"], key=lambda s: s["serviceName"]):
    print(s["serviceName"], s["status"], s["desiredCount"], s["taskDefinition"], len(s["deployments"]))'
		ecs list-tasks --cluster default --desired-status RUNNING | py 'print("\n".join(sorted(d["taskArns"])))'
	} > "$WORK/snap"
	if [ "$1" = same ]; then
		[ -f "$f" ] || fail "no snapshot $name"
		diff "$f" "$WORK/snap" > "$WORK/diff" || { rm -f "$f"; fail "state changed: $(cat "$WORK/diff")"; }
		ok "the same task definitions, services and service tasks as before"
		cat "$WORK/snap"
	else
		cp "$WORK/snap" "$f"
		ok "snapshot $name: $(wc -l < "$f") lines"
	fi
	;;
delete)
	svc=$1
	ecs delete-service --cluster default --service "$svc" --force |
		py 'assert d["service"]["status"]=="DRAINING", d["service"]["status"]'
	for i in $(seq 90); do
		st=$(ecs describe-services --cluster default --services "$svc" | py 'print(d["services"][0]["status"])')
		tasks "$svc" > "$WORK/t"
		[ "$st" = INACTIVE ] && [ "$(awk '$2!="STOPPED"' "$WORK/t" | wc -l)" = 0 ] && break
		sleep 1
	done
	[ "$st" = INACTIVE ] || fail "service $svc: $st after 90 s: $(cat "$WORK/t")"
	[ "$(awk '$2!="STOPPED"' "$WORK/t" | wc -l)" = 0 ] || fail "service $svc: tasks left: $(cat "$WORK/t")"
	ok "delete-service $svc --force: INACTIVE, every task STOPPED"
	;;
*)
	fail "unknown mode $MODE"
	;;
esac
