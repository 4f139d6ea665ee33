#!/bin/bash
# api_awscli HOST PORT KEY SECRET: drive a berthd in the guest (its SigV4
# listener on guest :8080, reached through the hostfwd) with the real AWS
# CLI v2 from Debian (/usr/bin/aws). Prints what it checks; exits non-zero
# at the first thing that is not as ECS would answer.
. "$(dirname "$0")/awscli_lib.sh" "$@"

$AWS --version
ecs create-cluster --cluster-name web | py 'c=d["cluster"]; assert c["clusterName"]=="web" and c["status"]=="ACTIVE", c; print(c["clusterArn"])'
ok "create-cluster web"
ecs describe-clusters --clusters default web nope > "$WORK/dc"
py 'assert sorted(c["clusterName"] for c in d["clusters"])==["default","web"], d; assert d["failures"][0]["reason"]=="MISSING", d' < "$WORK/dc"
ok "describe-clusters (default, web; nope MISSING)"
ecs list-clusters | py 'assert len(d["clusterArns"])==2, d'

cat > "$WORK/td.json" <<'JSON'
{ "family": "cli-sleeper", "networkMode": "awsvpc", "requiresCompatibilities": ["EC2", "FARGATE"],
  "cpu": "256", "memory": "512",
  "containerDefinitions": [
    { "name": "main", "image": "berth-test/helper", "essential": true, "command": ["sleep", "600"], "stopTimeout": 2,
      "ulimits": [ { "name": "nofile", "softLimit": 1024, "hardLimit": 1024 } ] } ] }
JSON
ecs register-task-definition --cli-input-json "file://$WORK/td.json" > "$WORK/reg"
py 't=d["taskDefinition"]; assert t["family"]=="cli-sleeper" and t["revision"]==1 and t["status"]=="ACTIVE", t' < "$WORK/reg"
ecs register-task-definition --cli-input-json "file://$WORK/td.json" | py 'assert d["taskDefinition"]["revision"]==2'
ok "register-task-definition (revisions 1, 2)"
ecs list-task-definitions --family-prefix cli-sleeper | py 'assert len(d["taskDefinitionArns"])==2, d'
ecs describe-task-definition --task-definition cli-sleeper:1 | py 'assert d["taskDefinition"]["containerDefinitions"][0]["name"]=="main"'
ecs list-task-definition-families | py 'assert "cli-sleeper" in d["families"], d'
ok "list/describe task definitions"
sed 's/"sleeper"/"exiter"/; s/"cli-sleeper"/"cli-exiter"/; s/\["sleep", "600"\]/["exit", "3"]/' "$WORK/td.json" > "$WORK/td3.json"
ecs register-task-definition --cli-input-json "file://$WORK/td3.json" >/dev/null

net='awsvpcConfiguration={subnets=[subnet-local],securityGroups=[default]}'
ecs run-task --cluster default --task-definition cli-sleeper --launch-type FARGATE \
	--network-configuration "$net" --started-by awscli-test > "$WORK/run"
task=$(py 'assert not d["failures"], d; t=d["tasks"][0]; assert t["desiredStatus"]=="RUNNING"; print(t["taskArn"])' < "$WORK/run")
ok "run-task: $task"
ecs wait tasks-running --cluster default --tasks "$task"
ok "wait tasks-running"
ecs describe-tasks --cluster default --tasks "$task" > "$WORK/desc"
py '
t=d["tasks"][0]
assert t["lastStatus"]=="RUNNING", t["lastStatus"]
c=t["containers"][0]
assert c["lastStatus"]=="RUNNING", c
ip=c["networkInterfaces"][0]["privateIpv4Address"]
assert ip.count(".")==3, c
assert t["startedBy"]=="awscli-test" and t["launchType"]=="FARGATE", t
print("task ip", ip)' < "$WORK/desc"
ok "describe-tasks: RUNNING with an awsvpc address"

ecs run-task --task-definition cli-exiter --network-configuration "$net" > "$WORK/run3"
task3=$(py 'print(d["tasks"][0]["taskArn"])' < "$WORK/run3")
ecs wait tasks-stopped --tasks "$task3"
ecs describe-tasks --tasks "$task3" | py '
t=d["tasks"][0]
assert t["lastStatus"]=="STOPPED", t
assert t["containers"][0]["exitCode"]==3, t["containers"]
assert t["stopCode"]=="EssentialContainerExited", t'
ok "a task whose container exits 3: STOPPED, exitCode 3, EssentialContainerExited"

ecs stop-task --cluster default --task "$task" --reason "stopped by the awscli test" | py 'assert d["task"]["desiredStatus"]=="STOPPED"'
ecs wait tasks-stopped --cluster default --tasks "$task"
ecs describe-tasks --cluster default --tasks "$task" | py '
t=d["tasks"][0]
assert t["lastStatus"]=="STOPPED" and t["stopCode"]=="UserInitiated", t
assert t["stoppedReason"]=="stopped by the awscli test", t
assert "exitCode" in t["containers"][0], t["containers"]'
ok "stop-task: STOPPED, UserInitiated, the reason kept, exit code recorded"
ecs list-tasks --cluster default --desired-status STOPPED > "$WORK/lt"
py "assert '$task' in d['taskArns'] and '$task3' in d['taskArns'], d" < "$WORK/lt"
ecs list-tasks --cluster default | py 'assert d["taskArns"]==[], d'
ok "list-tasks --desired-status STOPPED"

ecs list-container-instances > "$WORK/lci"
ci=$(py 'assert len(d["containerInstanceArns"])==1, d; print(d["containerInstanceArns"][0])' < "$WORK/lci")
ecs describe-container-instances --container-instances "$ci" | py '
i=d["containerInstances"][0]
assert i["status"]=="ACTIVE" and i["agentConnected"], i
r={x["name"]: x for x in i["registeredResources"]}
assert r["CPU"]["integerValue"]>0 and r["MEMORY"]["integerValue"]>0, r'
ok "describe-container-instances"

expect_error ClusterNotFoundException ecs run-task --cluster nope --task-definition cli-sleeper
expect_error ClientException ecs describe-task-definition --task-definition no-such-family
echo '{"family": "bad", "containerDefinitions": [{"name": "x", "image": "i", "memory": "lots"}]}' > "$WORK/bad.json"
if ecs register-task-definition --cli-input-json "file://$WORK/bad.json" > /dev/null 2>"$WORK/err"; then fail "a bad task definition was registered"; fi
ok "register-task-definition with a bad field refused: $(tail -n1 "$WORK/err")"
echo '{"family": "bad2", "containerDefinitions": [{"name": "x", "image": "i", "memory": 64, "portMappings": [{"containerPort": 80, "hostPort": 81}]}], "networkMode": "awsvpc"}' > "$WORK/bad2.json"
expect_error ClientException ecs register-task-definition --cli-input-json "file://$WORK/bad2.json"
expect_error UnsupportedFeatureException ecs list-account-settings
ecs delete-cluster --cluster web | py 'assert d["cluster"]["status"]=="INACTIVE", d'
ok "delete-cluster web"
echo "PASS: the AWS CLI drove berthd"
