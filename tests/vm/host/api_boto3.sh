#!/bin/sh
# api_boto3 HOST PORT KEY SECRET: boto3 (Debian's python3-boto3) drives the
# guest's berthd, and SigV4 is checked from outside: a valid signature is
# served; a wrong secret, an unknown key, a tampered body, a stale date
# and no signature at all get 403 with AWS's exception names.
exec /usr/bin/python3 - "$@" <<'PY'
import datetime, json, sys, urllib.request, urllib.error
import boto3, botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

host, port, key, secret = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
url = f"http://{host}:{port}/"
print("boto3", boto3.__version__, "botocore", botocore.__version__)

def client(k=key, s=secret):
    return boto3.client("ecs", region_name="us-east-1", endpoint_url=url,
                        aws_access_key_id=k, aws_secret_access_key=s,
                        config=botocore.config.Config(retries={"max_attempts": 1}, read_timeout=60))

def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)

ecs = client()
r = ecs.describe_clusters(clusters=["default"])
assert r["clusters"][0]["clusterName"] == "default", r
print("ok: boto3 describe_clusters")
td = ecs.register_task_definition(family="boto-echo", networkMode="awsvpc", cpu="256", memory="512",
    requiresCompatibilities=["FARGATE"],
    containerDefinitions=[{"name": "main", "image": "berth-test/helper", "command": ["exit", "0"],
                           "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 1024}]}],
    tags=[{"key": "team", "value": "berth"}])
arn = td["taskDefinition"]["taskDefinitionArn"]
t = ecs.list_tags_for_resource(resourceArn=arn)["tags"]
assert t == [{"key": "team", "value": "berth"}], t
print("ok: boto3 register_task_definition with tags:", arn)
net = {"awsvpcConfiguration": {"subnets": ["s"], "securityGroups": ["default"]}}
run = ecs.run_task(taskDefinition="boto-echo", launchType="FARGATE", networkConfiguration=net)
a = run["tasks"][0]["taskArn"]
print("ok: boto3 run_task:", a)
ecs.get_waiter("tasks_stopped").wait(tasks=[a], WaiterConfig={"Delay": 2, "MaxAttempts": 150})
d = ecs.describe_tasks(tasks=[a])["tasks"][0]
assert d["containers"][0]["exitCode"] == 0 and d["lastStatus"] == "STOPPED", d
for k in ("createdAt", "startedAt", "stoppedAt"):
    assert isinstance(d[k], datetime.datetime), (k, d.get(k))
print("ok: boto3 waiter tasks_stopped; timestamps parse as datetimes")

def expect(c, want, call):
    try:
        call(c)
    except botocore.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if code != want or status != 403:
            fail(f"expected {want}/403, got {code}/{status}: {e}")
        print(f"ok: {want} (403)")
        return
    fail(f"expected {want}, the call succeeded")

expect(client(s=secret + "x"), "InvalidSignatureException", lambda c: c.list_clusters())
expect(client(k="AKIDUNKNOWNUNKNOWN00"), "UnrecognizedClientException", lambda c: c.list_clusters())

def raw(headers, body=b"{}"):
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")

base = {"Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters"}

def signed(body=b"{}", when=None, target="ListClusters"):
    h = dict(base)
    h["X-Amz-Target"] = "AmazonEC2ContainerServiceV20141113." + target
    r = AWSRequest(method="POST", url=url, data=body, headers=h)
    auth = SigV4Auth(Credentials(key, secret), "ecs", "us-east-1")
    if when is not None:
        # botocore stamps the current time: sign as if at `when`
        import botocore.auth as ba
        real = ba.datetime.datetime
        class Fixed(real):
            @classmethod
            def utcnow(cls):
                return when
            @classmethod
            def now(cls, tz=None):
                return when if tz is None else when.replace(tzinfo=tz)
        ba.datetime.datetime = Fixed
        try:
            auth.add_auth(r)
        finally:
            ba.datetime.datetime = real
    else:
        auth.add_auth(r)
    return dict(r.headers.items())

st, b = raw(signed())
assert st == 200 and "clusterArns" in b, (st, b)
print("ok: a raw request signed with botocore's SigV4Auth is served")
body = json.dumps({"taskDefinition": "boto-echo", "launchType": "FARGATE", "clientToken": "tok-1",
                   "networkConfiguration": net}).encode()
arns = []
for _ in range(2):
    st, b = raw(signed(body, target="RunTask"), body)
    assert st == 200 and not b["failures"], (st, b)
    arns.append(b["tasks"][0]["taskArn"])
assert arns[0] == arns[1], arns
ecs.get_waiter("tasks_stopped").wait(tasks=[arns[0]], WaiterConfig={"Delay": 2, "MaxAttempts": 150})
print("ok: RunTask with the same clientToken twice is one task")
st, b = raw(base)
assert st == 403 and b.get("__type") == "MissingAuthenticationTokenException", (st, b)
print("ok: unsigned -> 403 MissingAuthenticationTokenException")
h = signed(b'{"maxResults": 1}')
st, b = raw(h, b'{"maxResults": 2}')
assert st == 403 and b.get("__type") == "InvalidSignatureException", (st, b)
print("ok: tampered body -> 403 InvalidSignatureException")
h = signed()
h["X-Amz-Target"] = "AmazonEC2ContainerServiceV20141113.DeleteCluster"
st, b = raw(h)
assert st == 403 and b.get("__type") == "InvalidSignatureException", (st, b)
print("ok: tampered signed header -> 403 InvalidSignatureException")
stale = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
st, b = raw(signed(when=stale))
assert st == 403 and b.get("__type") == "InvalidSignatureException" and "expired" in b.get("message", ""), (st, b)
print("ok: a 20-minute-old signature -> 403 Signature expired")
print("PASS: boto3 and raw SigV4 checks")
PY
