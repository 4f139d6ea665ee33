#!/bin/sh
# creds_provider HOST PORT RELATIVE_URI ROLE_ARN: botocore's own container
# credential provider (Debian's python3-botocore) loads a task's
# credentials from its endpoint, reached through the hostfwd and a proxy
# into the task's namespace (AWS_CONTAINER_CREDENTIALS_FULL_URI on
# loopback, as botocore allows), and they are a berth session set.
exec /usr/bin/python3 - "$@" <<'PY'
import os, re, sys
import botocore.session

host, port, uri, role = sys.argv[1:5]
os.environ.pop("AWS_ACCESS_KEY_ID", None)
os.environ.pop("AWS_SECRET_ACCESS_KEY", None)
os.environ.pop("AWS_PROFILE", None)
os.environ["AWS_CONFIG_FILE"] = "/nonexistent"
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = f"http://{host}:{port}{uri}"
s = botocore.session.get_session()
c = s.get_credentials()
if c is None:
    print("FAIL: botocore found no credentials")
    sys.exit(1)
f = c.get_frozen_credentials()
print("method:", c.method, "access key:", f.access_key)
if c.method != "container-role":
    print("FAIL: method", c.method)
    sys.exit(1)
if not re.fullmatch(r"ASIA[A-Z2-7]{16}", f.access_key) or len(f.secret_key) != 40 or not f.token:
    print("FAIL: not a berth session set:", f.access_key)
    sys.exit(1)
print("creds_provider: botocore's container provider loaded", f.access_key)
PY
