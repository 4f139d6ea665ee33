#!/usr/bin/python3
"""berthd's SigV4 check against botocore's own signer.

usage: sigv4_botocore_test.py PATH/TO/berth-sigv4-tool

botocore (the library under the AWS CLI and boto3) signs ECS requests two
ways: SigV4Auth directly, and a real `ecs` client whose finished request is
caught just before it would be sent (so every header the CLI sends is
there). Each request goes as raw HTTP through berth-sigv4-tool, which parses
it with berthd's HTTP parser and verifies it; the verdict must be the
expected one: valid ones OK with the right key and region; a wrong secret,
an unknown key, a tampered body or signed header, a stale or future date,
another service, no signature at all refused with AWS's exception names.
Exit 0 when every verdict is right, 1 otherwise, 77 (skipped) without botocore.
"""
import datetime
import subprocess
import sys
import time
from urllib.parse import urlsplit

try:
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    import botocore.session
except ImportError as e:
    print(f"SKIP: botocore is not importable: {e}")
    sys.exit(77)

TOOL = sys.argv[1]
KEY, SECRET = "AKIDBERTHTEST0001", "berth/Test+Secret/0001"
OTHER_KEY, OTHER_SECRET = "AKIDBERTHOTHER02", "another-secret"
PREFIX = "AmazonEC2ContainerServiceV20141113."
ENDPOINT = "http://127.0.0.1:8080"
SKEW = 300

failures = 0
checks = 0


class FixedClock:
    """Stands in for botocore.auth's datetime module: utcnow() is fixed."""

    def __init__(self, when):
        fixed = when

        class _DT(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return fixed

        self.datetime = _DT


def sign(body=b"{}", op="ListClusters", key=KEY, secret=SECRET, region="us-east-1",
         service="ecs", when=None, url=ENDPOINT + "/", token=None):
    headers = {"X-Amz-Target": PREFIX + op,
               "Content-Type": "application/x-amz-json-1.1"}
    req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers=headers)
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(key, secret, token), service, region)
    saved = botocore.auth.datetime
    if when is not None:
        botocore.auth.datetime = FixedClock(when)
    try:
        signer.add_auth(req)
    finally:
        botocore.auth.datetime = saved
    return req.prepare()


def raw(prepared, drop=(), add=(), body=None):
    """The prepared request as the bytes an HTTP client puts on the wire."""
    u = urlsplit(prepared.url)
    target = (u.path or "/") + ("?" + u.query if u.query else "")
    body = prepared.body if body is None else body
    if isinstance(body, str):
        body = body.encode()
    body = body or b""
    lines = [f"{prepared.method} {target} HTTP/1.1"]
    names = {k.lower() for k in prepared.headers.keys()}
    if "host" not in names:
        lines.append(f"Host: {u.netloc}")
    for k, v in prepared.headers.items():
        if k.lower() in drop or k.lower() == "content-length":
            continue
        if isinstance(v, bytes):
            v = v.decode()
        lines.append(f"{k}: {v}")
    lines.extend(add)
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def verdict(data, extra_args=()):
    args = [TOOL, "--key", f"{KEY}:{SECRET}", "--key", f"{OTHER_KEY}:{OTHER_SECRET}",
            "--skew", str(SKEW), *extra_args]
    p = subprocess.run(args, input=data, capture_output=True, timeout=30)
    if p.returncode not in (0, 1):
        raise SystemExit(f"berth-sigv4-tool failed ({p.returncode}): {p.stderr.decode()}")
    return p.stdout.decode().strip()


def expect(name, data, want, extra_args=()):
    global failures, checks
    checks += 1
    got = verdict(data, extra_args)
    if got.startswith(want):
        print(f"ok    {name}: {got[:110]}")
    else:
        failures += 1
        print(f"FAIL  {name}: got {got!r}, want {want!r}...")


def replace_once(data, old, new):
    assert data.count(old) == 1, (old, data)
    return data.replace(old, new)


MISMATCH = ("FAIL InvalidSignatureException: The request signature we calculated "
            "does not match the signature you provided")
now = datetime.datetime.utcnow()

# ---- SigV4Auth directly
ok = sign()
expect("valid", raw(ok), f"OK {KEY} us-east-1")
body = '{"cluster": "default", "taskDefinition": "web:1", "startedBy": "caf\u00e9 \u2615"}'.encode()
expect("valid, UTF-8 body, another region",
       raw(sign(body=body, op="RunTask", region="eu-west-3")), f"OK {KEY} eu-west-3")
expect("valid, second key", raw(sign(key=OTHER_KEY, secret=OTHER_SECRET)),
       f"OK {OTHER_KEY} us-east-1")
# (botocore signs a query as written; berthd, as AWS specifies, decodes and
# re-encodes it, so both agree when the URL is escaped the way SDKs escape)
expect("valid, path and query", raw(sign(url=ENDPOINT + "/a/b%20c/./d?b=2&a=x%2By%20z&a=1&c")),
       f"OK {KEY} us-east-1")
expect("valid, session token header signed", raw(sign(token="FQoGZXIvYXdzEXAMPLE//token==")),
       f"OK {KEY} us-east-1")
expect("valid, unsigned header added", raw(ok, add=["User-Agent: curl/8.0", "X-Extra: 1"]),
       f"OK {KEY} us-east-1")
expect("valid, signed at the edge of the window",
       raw(sign(when=now - datetime.timedelta(seconds=SKEW - 30))), f"OK {KEY}")

expect("wrong secret", raw(sign(secret=SECRET + "x")), MISMATCH)
expect("unknown key", raw(sign(key="AKIDNOBODY", secret=SECRET)),
       "FAIL UnrecognizedClientException: The security token included in the request is invalid.")
tb = sign(body=b'{"cluster": "prod"}')
expect("tampered body, same length", raw(tb, body=b'{"cluster": "dev!"}'), MISMATCH)
expect("tampered body, longer", raw(tb, body=b'{"cluster": "production"}'), MISMATCH)
data = raw(sign(op="ListClusters"))
expect("tampered signed header (X-Amz-Target)",
       replace_once(data, b"ListClusters", b"DeleteCluster"), MISMATCH)
expect("tampered signed header (Content-Type)",
       replace_once(data, b"application/x-amz-json-1.1", b"application/x-amz-json-1.0"), MISMATCH)
expect("tampered Host", replace_once(data, b"Host: 127.0.0.1:8080", b"Host: 127.0.0.1:8081"),
       MISMATCH)
expect("tampered method", b"PUT" + data[4:], MISMATCH)
expect("tampered path", replace_once(data, b"POST / HTTP", b"POST /x HTTP"), MISMATCH)
expect("signature changed", data[:data.index(b"Signature=") + 10] + b"0" * 64
       + data[data.index(b"Signature=") + 74:], MISMATCH)
expect("stale date", raw(sign(when=now - datetime.timedelta(seconds=SKEW + 120))),
       "FAIL InvalidSignatureException: Signature expired: ")
expect("future date", raw(sign(when=now + datetime.timedelta(seconds=SKEW + 120))),
       "FAIL InvalidSignatureException: Signature not yet current: ")
expect("stale date, by --now", raw(ok), "FAIL InvalidSignatureException: Signature expired: ",
       ["--now", str(int(time.time()) + SKEW + 60)])
expect("other service", raw(sign(service="ecr")),
       "FAIL InvalidSignatureException: Credential should be scoped to correct service: 'ecs'.")
expect("unsigned", raw(ok, drop=("authorization",)),
       "FAIL MissingAuthenticationTokenException: Missing Authentication Token")
expect("unsigned, no date either", raw(ok, drop=("authorization", "x-amz-date")),
       "FAIL MissingAuthenticationTokenException")
expect("no X-Amz-Date", raw(ok, drop=("x-amz-date",)),
       "FAIL IncompleteSignatureException: Authorization header requires existence of a 'X-Amz-Date'")
expect("not SigV4", raw(ok, drop=("authorization",), add=["Authorization: Bearer abc"]),
       "FAIL IncompleteSignatureException")

# ---- the ecs client, as the AWS CLI and boto3 use it
captured = []


def catch(request, **kwargs):
    captured.append(request)
    return botocore.awsrequest.AWSResponse(request.url, 200, {}, _Raw(b"{}"))


class _Raw:
    def __init__(self, data):
        self.data = data

    def stream(self, **kwargs):
        yield self.data


session = botocore.session.get_session()
client = session.create_client("ecs", region_name="ap-south-1", endpoint_url=ENDPOINT,
                               aws_access_key_id=KEY, aws_secret_access_key=SECRET)
client.meta.events.register("before-send", catch)
client.list_clusters()
client.describe_clusters(clusters=["default", "prod"])
client.run_task(taskDefinition="web:3", count=2, startedBy="botocore-test",
                overrides={"containerOverrides": [{"name": "web", "command": ["sh", "-c", "echo h\u00e9"]}]})
client.register_task_definition(family="web", containerDefinitions=[
    {"name": "web", "image": "nginx", "memory": 128, "essential": True}])
assert len(captured) == 4
for req in captured:
    op = req.headers["X-Amz-Target"]
    op = op.decode() if isinstance(op, bytes) else op
    signed = (req.headers["Authorization"].decode() if isinstance(req.headers["Authorization"], bytes)
              else req.headers["Authorization"])
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-target" in signed, signed
    expect(f"client {op}", raw(req), f"OK {KEY} ap-south-1")
    if req.body and len(req.body) > 2:
        b = bytearray(req.body if isinstance(req.body, bytes) else req.body.encode())
        b[-2] = ord("X") if b[-2] != ord("X") else ord("Y")
        expect(f"client {op}, body tampered", raw(req, body=bytes(b)), MISMATCH)
# the four requests pipelined on one connection, one verdict each
pipelined = b"".join(raw(r) for r in captured)
checks += 1
lines = verdict(pipelined, ["--all", "--chunk", "1"]).splitlines()
if lines != [f"OK {KEY} ap-south-1"] * 4:
    failures += 1
    print(f"FAIL  pipelined: {lines}")
else:
    print("ok    pipelined: 4 x OK")

print(f"{checks - failures}/{checks} verdicts right")
sys.exit(1 if failures else 0)
