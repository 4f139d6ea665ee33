#!/bin/bash
# services_awscli HOST PORT KEY SECRET PHASE: ECS services on a berthd in the
# guest, driven with the real AWS CLI v2 (issue 11). One phase per call; the
# guest case (tests/vm/cases/services.sh) does what the CLI cannot (kill a
# container) between them. Exits non-zero at the first thing that is not as
# ECS would answer.
#   create   create-service (3 tasks), wait services-stable, errors
#   replace  after the guest killed a task: replaced, the dead one STOPPED
#   update   update-service to a new revision: a rolling replacement with
#            minimumHealthyPercent 100 / maximumPercent 200 checked at every
#            observation
#   breaker  update to a revision whose tasks fail: the circuit breaker marks
#            the deployment FAILED and rolls back
#   delete   delete-service --force: DRAINING, every task stopped, INACTIVE
#   ascreate, asout, asin: service "asweb" with a target-tracking policy on
#            CPU (tests/vm/cases/services_autoscaling.sh): out to the maximum
#            under load, back in to the minimum after it
#   lbcreate, lbupdate, lbdelete: service "lbweb" behind berth-lb's target
#            group "web" (tests/vm/cases/services_lb.sh): the deployment
#            completes once the targets are healthy; a rolling update; delete
. "$(dirname "$0")/awscli_lib.sh" "$@"
PHASE=$5
SVC=web
case $PHASE in lb*) SVC=lbweb ;; as*) SVC=asweb ;; esac
aas() { $AWS --endpoint-url "http://$HOST:$PORT" --output json --cli-read-timeout 60 application-autoscaling "$@"; }
svc() { ecs describe-services --cluster default --services $SVC; }
# tasks of the service, one line each: id lastStatus desiredStatus taskDefinition stopCode
tasks() {
	local arns
	arns=$( { ecs list-tasks --cluster default --service-name $SVC --desired-status RUNNING |
		  py 'print(" ".join(d["taskArns"]))'
		  ecs list-tasks --cluster default --service-name $SVC --desired-status STOPPED |
		  py 'print(" ".join(d["taskArns"]))'; } | tr ' ' '\n' | sort -u | tr '\n' ' ')
	# (a task can move from the first list to the second between the calls: once)
	[ -n "${arns// /}" ] || return 0
	ecs describe-tasks --cluster default --tasks $arns | py '
for t in d["tasks"]:
    print(t["taskArn"].rsplit("/",1)[1], t["lastStatus"], t["desiredStatus"], t["taskDefinitionArn"].rsplit("/",1)[1], t.get("stopCode","-"))'
}
td() { # td REV-NAME COMMAND-JSON
	cat > "$WORK/td.json" <<JSON
{ "family": "svc-web", "networkMode": "awsvpc", "requiresCompatibilities": ["EC2"],
  "cpu": "128", "memory": "64",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "essential": true,
    "command": $2, "stopTimeout": 2,
    "healthCheck": { "command": ["CMD", "/usr/bin/berth-testhelper", "exit", "0"], "interval": 5 } } ] }
JSON
	ecs register-task-definition --cli-input-json "file://$WORK/td.json" |
		py 'print(d["taskDefinition"]["revision"])'
}
net='awsvpcConfiguration={subnets=[subnet-local],securityGroups=[default]}'

case $PHASE in
create)
	[ "$(td web '["sleep", "601"]')" = 1 ] || fail "first revision of svc-web is not 1"
	expect_error InvalidParameterException ecs create-service --cluster default --service-name web \
		--task-definition svc-web:1 --desired-count 3 --launch-type EC2 \
		--load-balancers targetGroupArn=arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/1,containerName=main,containerPort=80
	ecs create-service --cluster default --service-name web --task-definition svc-web:1 \
		--desired-count 3 --launch-type EC2 --network-configuration "$net" \
		--deployment-configuration 'maximumPercent=200,minimumHealthyPercent=100' > "$WORK/c"
	py 's=d["service"]; assert s["status"]=="ACTIVE" and s["desiredCount"]==3, s; assert len(s["deployments"])==1, s' < "$WORK/c"
	ok "create-service web (desired 3)"
	expect_error InvalidParameterException ecs create-service --cluster default --service-name web \
		--task-definition svc-web:1 --desired-count 1
	expect_error ServiceNotFoundException ecs update-service --cluster default --service nope --desired-count 1
	ecs describe-services --cluster default --services nope | py 'assert d["failures"][0]["reason"]=="MISSING", d'
	ecs list-services --cluster default | py 'assert [a.rsplit("/",1)[1] for a in d["serviceArns"]]==["web"], d'
	ok "errors: duplicate name, unknown service, MISSING; list-services"
	ecs wait services-stable --cluster default --services web
	svc | py 's=d["services"][0]; assert s["runningCount"]==3 and s["desiredCount"]==3, s; print(s["events"][0]["message"])'
	n=$(tasks | awk '$2=="RUNNING" && $3=="RUNNING"' | wc -l)
	[ "$n" = 3 ] || fail "$n tasks RUNNING, expected 3: $(tasks)"
	ok "wait services-stable: 3 RUNNING"
	;;
replace)
	# the guest killed one container: its task STOPPED (EssentialContainerExited), another replaces it
	for i in $(seq 120); do
		tasks > "$WORK/t"
		dead=$(awk '$2=="STOPPED" && $5=="EssentialContainerExited"' "$WORK/t" | wc -l)
		live=$(awk '$2=="RUNNING" && $3=="RUNNING"' "$WORK/t" | wc -l)
		[ "$dead" -ge 1 ] && [ "$live" = 3 ] && break
		sleep 1
	done
	[ "$dead" -ge 1 ] && [ "$live" = 3 ] || fail "no replacement: $(cat "$WORK/t")"
	svc | py 'm=[e["message"] for e in d["services"][0]["events"]]; assert any("has started 1 tasks" in x for x in m), m'
	ok "a killed task was replaced (3 RUNNING again, the dead one EssentialContainerExited)"
	;;
update)
	# first the service settles: every task is HEALTHY (its container
	# health check; the 40 s rule for tasks without one is unit-tested in
	# test_service), the deployment COMPLETED, steady
	for i in $(seq 240); do
		svc > "$WORK/s"
		py 's=d["services"][0]; ds=s["deployments"]; sys.exit(0 if len(ds)==1 and ds[0]["rolloutState"]=="COMPLETED" and s["runningCount"]==3 and s["events"][0]["message"].endswith("has reached a steady state.") else 1)' < "$WORK/s" && break
		sleep 1
	done
	py 's=d["services"][0]; assert s["events"][0]["message"].endswith("has reached a steady state."), (s["deployments"], s["events"][:3])' < "$WORK/s"
	ok "steady before the update"
	[ "$(td web '["sleep", "602"]')" = 2 ] || fail "second revision of svc-web is not 2"
	ecs update-service --cluster default --service web --task-definition svc-web:2 > "$WORK/u"
	py 's=d["service"]; assert len(s["deployments"])==2 and s["deployments"][0]["taskDefinition"].endswith("svc-web:2"), s' < "$WORK/u"
	# every observation: at least 3 RUNNING (min 100%), at most 6 not STOPPED (max 200%)
	done_=0 peak=0 low=99
	end=$((SECONDS + 300))
	while [ $SECONDS -lt $end ]; do
		tasks > "$WORK/t"
		running=$(awk '$2=="RUNNING" && $3=="RUNNING"' "$WORK/t" | wc -l)
		live=$(awk '$2!="STOPPED"' "$WORK/t" | wc -l)
		[ "$live" -gt "$peak" ] && peak=$live
		[ "$running" -lt "$low" ] && low=$running
		[ "$running" -ge 3 ] || fail "only $running tasks RUNNING during the rollout (min 100%): $(cat "$WORK/t")"
		[ "$live" -le 6 ] || fail "$live tasks live during the rollout (max 200%): $(cat "$WORK/t")"
		if svc | py 's=d["services"][0]; ds=s["deployments"]; sys.exit(0 if len(ds)==1 and ds[0]["rolloutState"]=="COMPLETED" and s["runningCount"]==3 else 1)'; then
			done_=1; break
		fi
		sleep 1
	done
	[ "$done_" = 1 ] || fail "the rollout did not complete: $(svc)"
	new=$(tasks | awk '$2=="RUNNING" && $3=="RUNNING" && $4=="svc-web:2"' | wc -l)
	[ "$new" = 3 ] || fail "$new tasks of svc-web:2 RUNNING, expected 3: $(tasks)"
	ok "rolling update to svc-web:2: 3 RUNNING at least and 6 live at most at every observation (peak $peak, low $low)"
	;;
breaker)
	[ "$(td web '["exit", "1"]')" = 3 ] || fail "third revision of svc-web is not 3"
	ecs update-service --cluster default --service web --task-definition svc-web:3 \
		--deployment-configuration 'maximumPercent=200,minimumHealthyPercent=100,deploymentCircuitBreaker={enable=true,rollback=true}' > "$WORK/u"
	failed=$(py 'print(d["service"]["deployments"][0]["id"])' < "$WORK/u")
	good=$(py 'print(d["service"]["deployments"][1]["id"])' < "$WORK/u")
	# the failing deployment may leave deployments[] as soon as its last task
	# is gone (ECS drops INACTIVE ones): the events tell what happened
	want_fail="(service web) (deployment $failed) deployment failed: tasks failed to start."
	want_back="(service web) rolling back to deployment $good."
	end=$((SECONDS + 240))
	while [ $SECONDS -lt $end ]; do
		svc > "$WORK/s"
		py 'm=[e["message"] for e in d["services"][0]["events"]]; sys.exit(0 if sys.argv[1] in m and sys.argv[2] in m else 1)' \
			"$want_fail" "$want_back" < "$WORK/s" && break
		sleep 1
	done
	py 'm=[e["message"] for e in d["services"][0]["events"]]; assert sys.argv[1] in m and sys.argv[2] in m, m[:10]' \
		"$want_fail" "$want_back" < "$WORK/s"
	py 'ds=d["services"][0]["deployments"]; assert ds[0]["taskDefinition"].endswith("svc-web:2") and ds[0]["id"] not in (sys.argv[1], sys.argv[2]), ds' \
		"$failed" "$good" < "$WORK/s"
	ecs wait services-stable --cluster default --services web
	svc | py 's=d["services"][0]; assert s["taskDefinition"].endswith("svc-web:2"), s; assert s["runningCount"]==3, s; assert len(s["deployments"])==1, s["deployments"]'
	n=$(tasks | awk '$2=="STOPPED" && $4=="svc-web:3"' | wc -l)
	[ "$n" -ge 3 ] || fail "only $n tasks of svc-web:3 STOPPED: $(tasks)"
	ok "circuit breaker: $failed failed ($n tasks of svc-web:3 failed), rolled back to svc-web:2, stable again"
	;;
delete)
	ecs delete-service --cluster default --service web --force | py 'assert d["service"]["status"]=="DRAINING", d'
	for i in $(seq 120); do
		st=$(svc | py 'print(d["services"][0]["status"])')
		[ "$st" = INACTIVE ] && break
		sleep 1
	done
	[ "$st" = INACTIVE ] || fail "service still $st: $(tasks)"
	left=$(tasks | awk '$2!="STOPPED"' | wc -l)
	[ "$left" = 0 ] || fail "$left tasks not STOPPED after delete: $(tasks)"
	ecs list-services --cluster default | py 'assert d["serviceArns"]==[], d'
	ok "delete-service --force: DRAINING, every task STOPPED, INACTIVE"
	;;
ascreate)
	cat > "$WORK/td.json" <<'JSON'
{ "family": "svc-as", "networkMode": "awsvpc", "requiresCompatibilities": ["EC2"], "cpu": "256", "memory": "64",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "essential": true,
    "command": ["sleep", "900"], "stopTimeout": 2 } ] }
JSON
	ecs register-task-definition --cli-input-json "file://$WORK/td.json" >/dev/null
	ecs create-service --cluster default --service-name asweb --task-definition svc-as --desired-count 1 \
		--network-configuration "$net" --health-check-grace-period-seconds 1 >/dev/null
	ecs wait services-stable --cluster default --services asweb
	expect_error ValidationException aas register-scalable-target --service-namespace ecs \
		--resource-id service/default/nope --scalable-dimension ecs:service:DesiredCount \
		--min-capacity 1 --max-capacity 3
	aas register-scalable-target --service-namespace ecs --resource-id service/default/asweb \
		--scalable-dimension ecs:service:DesiredCount --min-capacity 1 --max-capacity 3 >/dev/null
	aas describe-scalable-targets --service-namespace ecs |
		py 't=d["ScalableTargets"]; assert len(t)==1 and t[0]["MaxCapacity"]==3, t'
	aas put-scaling-policy --service-namespace ecs --resource-id service/default/asweb \
		--scalable-dimension ecs:service:DesiredCount --policy-name cpu20 --policy-type TargetTrackingScaling \
		--target-tracking-scaling-policy-configuration \
		'{"TargetValue": 20.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}, "ScaleOutCooldown": 2, "ScaleInCooldown": 2}' |
		py 'assert len(d["Alarms"])==2, d'
	aas describe-scaling-policies --service-namespace ecs | py 'assert d["ScalingPolicies"][0]["PolicyName"]=="cpu20", d'
	ok "asweb: 1 task; scalable target 1-3, policy cpu20 (target tracking, CPU 20 %)"
	;;
asout)
	end=$((SECONDS + 180))
	while [ $SECONDS -lt $end ]; do
		svc > "$WORK/s"
		py 's=d["services"][0]; sys.exit(0 if s["desiredCount"]==3 and s["runningCount"]==3 else 1)' < "$WORK/s" && break
		sleep 1
	done
	py 's=d["services"][0]; assert s["desiredCount"]==3 and s["runningCount"]==3, (s["desiredCount"], s["runningCount"])' < "$WORK/s"
	aas describe-scaling-activities --service-namespace ecs --resource-id service/default/asweb > "$WORK/a"
	py 'a=d["ScalingActivities"]; assert a and "3" in a[0]["Description"], a; print(a[0]["Description"], "/", a[0]["Cause"])' < "$WORK/a"
	ok "asweb scaled out to 3 under CPU load"
	;;
asin)
	end=$((SECONDS + 240))
	while [ $SECONDS -lt $end ]; do
		svc > "$WORK/s"
		py 's=d["services"][0]; sys.exit(0 if s["desiredCount"]==1 and s["runningCount"]==1 else 1)' < "$WORK/s" && break
		sleep 1
	done
	py 's=d["services"][0]; assert s["desiredCount"]==1 and s["runningCount"]==1, (s["desiredCount"], s["runningCount"])' < "$WORK/s"
	aas describe-scaling-activities --service-namespace ecs --resource-id service/default/asweb |
		py 'a=d["ScalingActivities"]; assert len(a)>=2 and "1" in a[0]["Description"], a; print(a[0]["Description"], "/", a[0]["Cause"])'
	ecs delete-service --cluster default --service asweb --force >/dev/null
	ok "asweb scaled back in to 1 after the load stopped"
	;;
lbcreate)
	cat > "$WORK/td.json" <<'JSON'
{ "family": "svc-lb", "networkMode": "awsvpc", "requiresCompatibilities": ["EC2"], "cpu": "128", "memory": "64",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "essential": true,
    "command": ["http-server", "--port", "8080", "--body", "v1"], "stopTimeout": 2,
    "portMappings": [ { "containerPort": 8080 } ] } ] }
JSON
	ecs register-task-definition --cli-input-json "file://$WORK/td.json" >/dev/null
	tg=arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef
	expect_error InvalidParameterException ecs create-service --cluster default --service-name lbweb \
		--task-definition svc-lb --desired-count 2 --network-configuration "$net" \
		--load-balancers "targetGroupArn=arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/nope/1,containerName=main,containerPort=8080"
	expect_error InvalidParameterException ecs create-service --cluster default --service-name lbweb \
		--task-definition svc-lb --desired-count 2 --network-configuration "$net" \
		--load-balancers "targetGroupArn=$tg,containerName=main,containerPort=9999"
	ecs create-service --cluster default --service-name lbweb --task-definition svc-lb --desired-count 2 \
		--network-configuration "$net" --load-balancers "targetGroupArn=$tg,containerName=main,containerPort=8080" \
		--deployment-configuration 'maximumPercent=200,minimumHealthyPercent=100' > "$WORK/c"
	py 's=d["service"]; assert s["loadBalancers"][0]["targetGroupArn"]==sys.argv[1], s["loadBalancers"]' "$tg" < "$WORK/c"
	ok "create-service lbweb behind target group web (unknown group and port refused)"
	# complete only once berth-lb calls both targets healthy
	end=$((SECONDS + 240))
	while [ $SECONDS -lt $end ]; do
		svc > "$WORK/s"
		py 's=d["services"][0]; ds=s["deployments"]; sys.exit(0 if len(ds)==1 and ds[0]["rolloutState"]=="COMPLETED" and s["runningCount"]==2 else 1)' < "$WORK/s" && break
		sleep 1
	done
	py 's=d["services"][0]; assert s["deployments"][0]["rolloutState"]=="COMPLETED", (s["deployments"], s["events"][:4])' < "$WORK/s"
	ok "lbweb: 2 tasks RUNNING and healthy in berth-lb, deployment COMPLETED"
	;;
lbupdate)
	sed 's/"v1"/"v2"/' > "$WORK/td2.json" <<'JSON'
{ "family": "svc-lb", "networkMode": "awsvpc", "requiresCompatibilities": ["EC2"], "cpu": "128", "memory": "64",
  "containerDefinitions": [ { "name": "main", "image": "berth-test/helper", "essential": true,
    "command": ["http-server", "--port", "8080", "--body", "v1"], "stopTimeout": 2,
    "portMappings": [ { "containerPort": 8080 } ] } ] }
JSON
	ecs register-task-definition --cli-input-json "file://$WORK/td2.json" >/dev/null
	ecs update-service --cluster default --service lbweb --task-definition svc-lb:2 >/dev/null
	end=$((SECONDS + 300))
	while [ $SECONDS -lt $end ]; do
		svc > "$WORK/s"
		py 's=d["services"][0]; ds=s["deployments"]; sys.exit(0 if len(ds)==1 and ds[0]["taskDefinition"].endswith("svc-lb:2") and ds[0]["rolloutState"]=="COMPLETED" and s["runningCount"]==2 else 1)' < "$WORK/s" && break
		sleep 1
	done
	py 's=d["services"][0]; ds=s["deployments"]; assert len(ds)==1 and ds[0]["rolloutState"]=="COMPLETED", (ds, s["events"][:5])' < "$WORK/s"
	n=$(tasks | awk '$2=="RUNNING" && $3=="RUNNING" && $4=="svc-lb:2"' | wc -l)
	[ "$n" = 2 ] || fail "$n tasks of svc-lb:2 RUNNING: $(tasks)"
	ok "lbweb: rolling update to svc-lb:2 behind berth-lb completed"
	;;
lbdelete)
	ecs delete-service --cluster default --service lbweb --force >/dev/null
	end=$((SECONDS + 120))
	while [ $SECONDS -lt $end ]; do
		st=$(svc | py 'print(d["services"][0]["status"])')
		[ "$st" = INACTIVE ] && break
		sleep 1
	done
	[ "$st" = INACTIVE ] || fail "lbweb still $st: $(tasks)"
	ok "lbweb deleted: INACTIVE"
	;;
*) fail "unknown phase $PHASE" ;;
esac
