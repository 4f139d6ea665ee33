#!/bin/bash
# scripts/demo.sh - set up berth and show what it can do today (the README's first command).
#
# Installs the Debian packages berth needs, builds it, and runs what exists.
# Privileged parts run on this host when it has a usable cgroup v2 hierarchy,
# and inside berth's test VM (tests/vm) when it does not (e.g. a hybrid cgroup
# layout); the demo says which.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
bold() { if [ -t 1 ]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }

bold "1. Set up and build"
BUILD_DIR=$BUILD scripts/setup.sh

bold "2. This host"
where=$(tests/vm/detect-host.sh 2>"$BUILD/detect.txt")
echo "kernel $(uname -r); $(cat "$BUILD/detect.txt")"
if [ "$where" = direct ]; then
	echo "-> privileged parts run here, on this host"
else
	echo "-> privileged parts run inside berth's test VM (QEMU, Debian cloud kernel, real cgroup v2)"
fi

bold "3. Test images (built reproducibly from busybox-static + berth-testhelper)"
python3 - "$BUILD/images/digests.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["images"]
base = None
for name, v in sorted(d.items()):
    print(f"{name}:latest  manifest {v['manifest_digest'][:23]}...  {len(v['layer_digests'])} layers")
    for fmt in ("oci_archive", "docker_archive"):
        print(f"    {v[fmt]['file']:18} sha256:{v[fmt]['sha256'][:16]}...")
    base = v["layer_digests"][0] if base is None else (base if base == v["layer_digests"][0] else "")
if base:
    print(f"both images share the base layer {base[:23]}...")
PY

bold "4. berth's image store (here, in a scratch state root; no mounts)"
demo_root=$(mktemp -d "${TMPDIR:-/tmp}/berth-demo.XXXXXX")
trap 'rm -rf "$demo_root"' EXIT
B="$BUILD/bin/berth --root $demo_root"
echo "\$ berth image import helper.docker.tar; berth image import web.oci.tar"
$B image import "$BUILD/images/helper.docker.tar"
$B image import "$BUILD/images/web.oci.tar"
echo "\$ berth image ls"
$B image ls
echo "\$ berth image inspect berth-test/web   (its config)"
$B image inspect berth-test/web | python3 -c 'import json,sys; c=json.load(sys.stdin)[0]["config"]; print(json.dumps({k: c[k] for k in ("Entrypoint","Cmd","User","WorkingDir")}))'

bold "5. berth run, as root on real cgroup v2"
echo "examples/hello.json and examples/web-and-client.json run with berth run (output"
echo "prefixed by container; the client waits for the web server's health check);"
echo "the escape suite inside a default container (every attempt denied); cgroup"
echo "limits (OOM kill reported the ECS way, a CPU cap, a fork bomb stopped at"
echo "pids.max); a task's ephemeral volume filling to ENOSPC while its neighbour and"
echo "the host keep working; awsvpc tasks with their own IPs, where security groups"
echo "decide who connects and the internet is reached through NAT; a host client"
echo "reaching the guest."
cases="run_examples run_escape run_limits ephemeral_enospc net_awsvpc hostfwd_reachable"
set +e
if [ "$where" = direct ]; then
	BERTH_BIN=$BUILD/bin BERTH_IMAGES=$BUILD/images BERTH_EXAMPLES=$PWD/examples \
		tests/vm/runner.sh ${cases% net_awsvpc hostfwd_reachable}
	rc=$?
else
	tests/vm/run.sh -b "$BUILD" $cases > "$BUILD/demo-vm.log" 2>&1
	rc=$?
	grep -E '^(  |===|runner:|\[vm)' "$BUILD/demo-vm.log" | grep -v '^\[vm.*booting'
fi
set -e
if [ "$rc" -ne 0 ]; then
	echo "demo: the privileged part failed (status $rc); full log: $BUILD/demo-vm.log" >&2
	exit "$rc"
fi

bold "What this showed, and what is not there yet"
cat <<'TXT'
Shown: berth builds from Debian packages alone; its test images are reproducible
OCI and docker-save archives; berth imports both formats into a verified content
store where images share layers; `berth run` takes an ECS task definition and
runs its containers isolated (namespaces, pivot_root, Docker's capabilities,
no_new_privs, seccomp, masked /proc) under cgroup v2 limits, in dependsOn order
with health checks, and stops them in reverse order.
Not yet: task networking (awsvpc with a veth IP, bridge with host ports): tasks
use networkMode none or host until then; the daemon and its ECS API.
TXT
