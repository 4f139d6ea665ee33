#!/bin/sh
# hostfwd_get HOST PORT TOKEN: fetch http://HOST:PORT/from-host/TOKEN from the
# host side (the guest's case checks that the request arrived).
exec python3 - "$@" <<'PY'
import sys, urllib.request
host, port, token = sys.argv[1], sys.argv[2], sys.argv[3]
url = f"http://{host}:{port}/from-host/{token}"
with urllib.request.urlopen(url, timeout=20) as r:
    body = r.read().decode()
print(f"GET {url} -> {r.status}: {body!r}")
sys.exit(0 if token in body else 1)
PY
