#!/bin/bash
# discovery_awscli HOST PORT KEY SECRET PHASE: ECS service discovery on a
# berthd in the guest (issue 12), driven with the real AWS CLI v2: Cloud
# Map's `servicediscovery` commands for the namespace and the service, ECS's
# for a service whose tasks register in it. The guest case
# (tests/vm/cases/services_discovery.sh) checks what tasks resolve between
# the phases.
#   create   namespace berth.local, service web (A and SRV), ECS service
#            "discweb" (2 tasks) registered in it; errors on the way
#   scale    discweb to 3 tasks: 3 instances
#   delete   discweb deleted; then the Cloud Map service and namespace
. "$(dirname "$0")/awscli_lib.sh" "$@"
PHASE=$5
sd() { $AWS --endpoint-url "http://$HOST:$PORT" --output json --cli-read-timeout 60 servicediscovery "$@"; }
net='awsvpcConfiguration={subnets=[subnet-local],securityGroups=[default]}'
ids() { sd list-namespaces --filters Name=NAME,Values=berth.local,Condition=EQ | py 'print(d["Namespaces"][0]["Id"])'; }
srv_of() { sd list-services --filters "Name=NAMESPACE_ID,Values=$1,Condition=EQ" | py 'print(d["Services"][0]["Id"])'; }
instances() { sd list-instances --service-id "$1" | py 'print(len(d["Instances"]))'; }

case $PHASE in
create)
	expect_error InvalidInput sd create-private-dns-namespace --name 'bad..name' --vpc vpc-berth
	op=$(sd create-private-dns-namespace --name berth.local --vpc vpc-berth --creator-request-id disc-1 |
		py 'print(d["OperationId"])')
	sd get-operation --operation-id "$op" > "$WORK/op"
	py 'o=d["Operation"]; assert o["Status"]=="SUCCESS" and o["Type"]=="CREATE_NAMESPACE", o; print(o["Targets"]["NAMESPACE"])' < "$WORK/op" > "$WORK/ns"
	ns=$(cat "$WORK/ns")
	expect_error NamespaceAlreadyExists sd create-private-dns-namespace --name berth.local --vpc vpc-berth
	sd get-namespace --id "$ns" | py 'n=d["Namespace"]; assert n["Name"]=="berth.local" and n["Type"]=="DNS_PRIVATE", n'
	ok "create-private-dns-namespace berth.local ($ns): get-operation SUCCESS, get-namespace"
	expect_error InvalidInput sd create-service --name web --namespace-id "$ns" \
		--dns-config 'RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=AAAA,TTL=5}]'
	sd create-service --name web --namespace-id "$ns" \
		--dns-config 'RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=5},{Type=SRV,TTL=5}]' \
		--health-check-custom-config FailureThreshold=1 > "$WORK/s"
	arn=$(py 'print(d["Service"]["Arn"])' < "$WORK/s")
	ok "create-service web: A and SRV records, TTL 5 ($arn)"
	cat > "$WORK/td.json" <<'JSON'
{ "family": "sd-web", "networkMode": "awsvpc", "requiresCompatibilities": ["EC2"], "cpu": "128", "memory": "64",
  "containerDefinitions": [ { "name": "web", "image": "berth-test/helper", "essential": true,
    "command": ["http-server", "--port", "8080", "--body", "from-discweb"], "stopTimeout": 2,
    "portMappings": [ { "containerPort": 8080 } ],
    "healthCheck": { "command": ["CMD", "/usr/bin/berth-testhelper", "exit", "0"], "interval": 5 } } ] }
JSON
	ecs register-task-definition --cli-input-json "file://$WORK/td.json" >/dev/null
	expect_error InvalidParameterException ecs create-service --cluster default --service-name discweb \
		--task-definition sd-web --desired-count 2 --network-configuration "$net" \
		--service-registries "registryArn=$arn"
	expect_error InvalidParameterException ecs create-service --cluster default --service-name discweb \
		--task-definition sd-web --desired-count 2 --network-configuration "$net" \
		--service-registries "registryArn=${arn%/*}/srv-doesnotexist00,containerName=web,containerPort=8080"
	ecs create-service --cluster default --service-name discweb --task-definition sd-web --desired-count 2 \
		--network-configuration "$net" \
		--service-registries "registryArn=$arn,containerName=web,containerPort=8080" > "$WORK/c"
	py 's=d["service"]; assert s["serviceRegistries"][0]["registryArn"]==sys.argv[1], s["serviceRegistries"]' "$arn" < "$WORK/c"
	ok "ecs create-service discweb registered in web (an SRV record without a port, an unknown registry refused)"
	ecs wait services-stable --cluster default --services discweb
	srv=$(srv_of "$ns")
	for i in $(seq 30); do [ "$(instances "$srv")" = 2 ] && break; sleep 1; done
	[ "$(instances "$srv")" = 2 ] || fail "list-instances: $(sd list-instances --service-id "$srv")"
	sd list-instances --service-id "$srv" | py 'a=d["Instances"][0]["Attributes"]; assert a["AWS_INSTANCE_PORT"]=="8080" and a["ECS_SERVICE_NAME"]=="discweb", a'
	expect_error ResourceInUse sd delete-namespace --id "$ns"
	expect_error ResourceInUse sd delete-service --id "$srv"
	ok "services-stable: 2 instances (list-instances), namespace and service in use"
	;;
scale)
	ecs update-service --cluster default --service discweb --desired-count 3 >/dev/null
	ecs wait services-stable --cluster default --services discweb
	srv=$(srv_of "$(ids)")
	for i in $(seq 30); do [ "$(instances "$srv")" = 3 ] && break; sleep 1; done
	[ "$(instances "$srv")" = 3 ] || fail "list-instances after the scale-out: $(sd list-instances --service-id "$srv")"
	ok "update-service --desired-count 3: 3 instances"
	;;
delete)
	ns=$(ids)
	srv=$(srv_of "$ns")
	ecs delete-service --cluster default --service discweb --force >/dev/null
	for i in $(seq 120); do
		st=$(ecs describe-services --cluster default --services discweb | py 'print(d["services"][0]["status"])')
		[ "$st" = INACTIVE ] && break
		sleep 1
	done
	[ "$st" = INACTIVE ] || fail "discweb still $st"
	[ "$(instances "$srv")" = 0 ] || fail "instances left: $(sd list-instances --service-id "$srv")"
	sd delete-service --id "$srv" >/dev/null
	op=$(sd delete-namespace --id "$ns" | py 'print(d["OperationId"])')
	sd get-operation --operation-id "$op" | py 'o=d["Operation"]; assert o["Status"]=="SUCCESS" and o["Type"]=="DELETE_NAMESPACE", o'
	sd list-namespaces | py 'assert d["Namespaces"]==[], d'
	ok "ecs delete-service: 0 instances; then delete-service and delete-namespace"
	;;
*)
	fail "unknown phase $PHASE"
	;;
esac
