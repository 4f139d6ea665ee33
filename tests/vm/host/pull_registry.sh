#!/bin/bash
# pull_registry HOST PORT SIZE SHA256 (tests/vm/cases/pull_task.sh): give
# the guest a registry with the test helper image in it. The guest cannot
# reach the host (QEMU user networking with restrict=on), so everything
# goes the other way, over the hostfwd HOST:PORT -> guest :8080, to
# listeners the case has lined up there one after the other:
#   1. Debian's docker-registry binary is sent to the guest (it needs only
#      libc, which the guest has for berth);
#   2. the guest's helper.oci.tar (SIZE bytes, SHA256) is read back from it
#      (the host script does not know the build directory; the guest has
#      the build's images);
#   3. once the registry runs in the guest on :8080, skopeo pushes the
#      image to it as berth-test/helper:v1.
# Only 127.0.0.1 is contacted. The temporary directory is removed on every
# path; nothing runs on the host when this returns.
set -euo pipefail
HOST=$1 PORT=$2 SIZE=$3 SUM=$4
REG=$(command -v docker-registry) || { echo "docker-registry not found on the host (scripts/setup.sh --deps)"; exit 3; }
command -v skopeo >/dev/null || { echo "skopeo not found on the host (scripts/setup.sh --deps)"; exit 3; }
T=$(mktemp -d /tmp/berth-vm-pull.XXXXXX)
trap 'rm -rf "$T"' EXIT

python3 - "$HOST" "$PORT" "$REG" "$T/helper.oci.tar" "$SIZE" "$SUM" <<'PY'
import hashlib, socket, sys, time, urllib.request
host, port, reg, out, size, want = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]

def connect_acked():
    # QEMU accepts for the guest even when nothing listens there yet: the
    # guest's listener says ACK first
    for _ in range(60):
        try:
            s = socket.create_connection((host, port), timeout=10)
            s.settimeout(10)
            if s.recv(4).startswith(b"ACK"):
                s.settimeout(120)
                return s
            s.close()
        except OSError:
            pass
        time.sleep(1)
    sys.exit("no listener answered ACK on the guest's :8080")

data = open(reg, "rb").read()
s = connect_acked()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
s.close()
print(f"registry-sha256 {hashlib.sha256(data).hexdigest()} ({len(data)} bytes sent)")

s = connect_acked()
buf = bytearray()
while len(buf) < size:
    chunk = s.recv(min(1 << 20, size - len(buf)))
    if not chunk:
        break
    buf += chunk
s.close()
got = hashlib.sha256(buf).hexdigest()
if len(buf) != size or got != want:
    sys.exit(f"helper.oci.tar from the guest: {len(buf)} of {size} bytes, sha256 {got}, want {want}")
open(out, "wb").write(buf)
print(f"helper.oci.tar received ({size} bytes)")

url = f"http://{host}:{port}/v2/"
for _ in range(120):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            if r.status == 200:
                break
    except Exception:
        pass
    time.sleep(1)
else:
    sys.exit(f"the guest's registry did not answer on {url}")
print("the guest's registry answers")
PY

skopeo copy --retry-times 3 --dest-tls-verify=false "oci-archive:$T/helper.oci.tar" \
	"docker://$HOST:$PORT/berth-test/helper:v1" > "$T/push.log" 2>&1 || { cat "$T/push.log"; exit 1; }
echo "pushed berth-test/helper:v1"
