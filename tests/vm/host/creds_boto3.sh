#!/bin/sh
# creds_boto3 HOST PORT AKID SECRET TOKEN TASK_ARN: boto3 (Debian's
# python3-boto3) calls the guest's berthd with a task's session credentials
# (as the task's own SDK would): its role's policy allows Describe*/List*
# and denies StopTask explicitly, and nothing allows RunTask; a token altered
# by one character is refused.
exec /usr/bin/python3 - "$@" <<'PY'
import sys
import boto3, botocore
from botocore.exceptions import ClientError

host, port, akid, secret, token, task_arn = sys.argv[1:7]
url = f"http://{host}:{port}/"

def client(tok=token):
    return boto3.client("ecs", region_name="us-east-1", endpoint_url=url,
                        aws_access_key_id=akid, aws_secret_access_key=secret, aws_session_token=tok,
                        config=botocore.config.Config(retries={"max_attempts": 1}, read_timeout=60))

def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)

ecs = client()
r = ecs.describe_clusters(clusters=["default"])
if r["clusters"][0]["clusterName"] != "default":
    fail(f"describe_clusters: {r}")
print("ok: describe_clusters allowed by the role's policy")
r = ecs.describe_tasks(tasks=[task_arn])
if r["tasks"][0]["taskArn"] != task_arn:
    fail(f"describe_tasks: {r}")
print("ok: describe_tasks of its own task allowed")
ecs.list_tasks()
print("ok: list_tasks allowed")

def denied(call, want_type, want_text):
    try:
        call()
    except ClientError as e:
        err = e.response["Error"]
        if err["Code"] != want_type or want_text not in err["Message"]:
            fail(f"want {want_type} '{want_text}', got {err}")
        print(f"ok: {want_type}: {err['Message'][:150]}")
        return
    fail(f"allowed, want {want_type}")

denied(lambda: ecs.stop_task(task=task_arn, reason="x"), "AccessDeniedException",
       "with an explicit deny in an identity-based policy")
denied(lambda: ecs.run_task(taskDefinition="creds-app"), "AccessDeniedException",
       "because no identity-based policy allows the ecs:RunTask action")
denied(lambda: ecs.create_cluster(clusterName="nope"), "AccessDeniedException", "ecs:CreateCluster")
bad = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
denied(lambda: client(bad).list_tasks(), "UnrecognizedClientException", "security token")
denied(lambda: client("").list_tasks(), "UnrecognizedClientException", "security token")
print("creds_boto3: all checks passed")
PY
