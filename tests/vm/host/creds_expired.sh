#!/bin/sh
# creds_expired HOST PORT AKID SECRET TOKEN: a task's credentials after their
# Expiration are refused by berthd with ExpiredTokenException (boto3).
exec /usr/bin/python3 - "$@" <<'PY'
import sys
import boto3, botocore
from botocore.exceptions import ClientError

host, port, akid, secret, token = sys.argv[1:6]
ecs = boto3.client("ecs", region_name="us-east-1", endpoint_url=f"http://{host}:{port}/",
                   aws_access_key_id=akid, aws_secret_access_key=secret, aws_session_token=token,
                   config=botocore.config.Config(retries={"max_attempts": 1}))
try:
    ecs.list_tasks()
except ClientError as e:
    err = e.response["Error"]
    if err["Code"] == "ExpiredTokenException" and "expired" in err["Message"]:
        print("ok: ExpiredTokenException:", err["Message"])
        sys.exit(0)
    print("FAIL: want ExpiredTokenException, got", err)
    sys.exit(1)
print("FAIL: an expired set was accepted")
sys.exit(1)
PY
