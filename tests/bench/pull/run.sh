#!/usr/bin/env bash
# tests/bench/pull/run.sh - pull + unpack of a multi-layer image from a local
# registry: `berth image pull` vs `skopeo copy docker://... oci:DIR` + `umoci unpack`.
#
#   tests/bench/pull/run.sh [-b BUILD_DIR] [-n RUNS] [-o OUT_DIR]
#
# Builds a 4-layer image (gzip -6 layers of directories under /usr: python,
# perl, vim, git; ~100-200 MB uncompressed, a realistic mix of small text
# files and binaries), starts Debian's docker-registry on 127.0.0.1 (a free
# port, no TLS, storage under a temporary directory) and pushes the image
# with skopeo. Then, RUNS times (default 3) and alternating (berth, peer,
# berth, peer, ...), each side pulls the image into an empty directory on
# tmpfs (OUT_DIR, default a fresh directory under /dev/shm) and unpacks it:
#   berth: berth --root OUT/berth image pull --insecure-registry ... (a fresh
#          store each run: every layer downloaded, verified and unpacked)
#   peer:  skopeo copy docker://... oci:OUT/oci:bench, then umoci unpack
#          --image OUT/oci:bench OUT/bundle (--rootless when not root)
# Prints the median wall time and CPU time of each and the ratio peer/berth
# (> 1: berth is faster). Not part of ctest. Only loopback traffic.
#
# Needs: docker-registry, skopeo, umoci, tar, gzip, python3, /usr/bin/time,
# and BUILD_DIR/bin/berth (built here when missing).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
build=${BERTH_BUILD:-$src/build}
runs=3
out=

while getopts "b:n:o:h" opt; do
	case $opt in
	b) build=$OPTARG ;;
	n) runs=$OPTARG ;;
	o) out=$OPTARG ;;
	*) sed -n '2,22p' "$0"; exit 2 ;;
	esac
done

for t in docker-registry skopeo umoci tar gzip python3 /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "run.sh: $t is missing (scripts/setup.sh --deps)" >&2; exit 1; }
done
berth=$build/bin/berth
if [ ! -x "$berth" ]; then
	echo "building berth in $build" >&2
	cmake --build "$build" --target berth -j2 >&2
fi

work=$(mktemp -d /tmp/berth-bench-pull.XXXXXX)
if [ -z "$out" ]; then
	out=$(mktemp -d /dev/shm/berth-bench-pull.XXXXXX)
	own_out=1
else
	mkdir -p "$out"
	own_out=0
fi
reg_pid=
cleanup() {
	if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
	rm -rf "$work"
	if [ "$own_out" = 1 ]; then rm -rf "$out"; else rm -rf "${out:?}"/berth "${out:?}"/oci "${out:?}"/bundle; fi
}
trap cleanup EXIT

# ------------------------------------------------------------ the image
dirs=()
for d in usr/lib/python3.11 usr/share/perl usr/share/vim usr/lib/git-core; do
	[ -d "/$d" ] && dirs+=("$d")
done
[ ${#dirs[@]} -gt 0 ] || dirs=(usr/lib usr/share)
echo "building a ${#dirs[@]}-layer image from /: ${dirs[*]}" >&2
mkdir -p "$work/layers"
i=0
for d in "${dirs[@]}"; do
	tar -C / -cf "$work/layers/$i.tar" "$d" 2>/dev/null || true
	gzip -6 -n "$work/layers/$i.tar"
	i=$((i + 1))
done
python3 - "$work" <<'PY'
import gzip, hashlib, json, os, sys
work = sys.argv[1]
d = os.path.join(work, 'oci')
os.makedirs(os.path.join(d, 'blobs', 'sha256'))
def sha_file(path, opener=open):
    h = hashlib.sha256()
    with opener(path, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return h.hexdigest()
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open(os.path.join(d, 'blobs', 'sha256', h), 'wb').write(data)
    return 'sha256:' + h, len(data)
layers, diff_ids = [], []
n = len([f for f in os.listdir(os.path.join(work, 'layers'))])
for i in range(n):
    p = os.path.join(work, 'layers', '%d.tar.gz' % i)
    lh = sha_file(p)
    os.rename(p, os.path.join(d, 'blobs', 'sha256', lh))
    layers.append({'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip',
                   'digest': 'sha256:' + lh, 'size': os.path.getsize(os.path.join(d, 'blobs', 'sha256', lh))})
    diff_ids.append('sha256:' + sha_file(os.path.join(d, 'blobs', 'sha256', lh), gzip.open))
cfg = json.dumps({'architecture': 'amd64', 'os': 'linux', 'config': {'Cmd': ['/bin/sh']},
                  'rootfs': {'type': 'layers', 'diff_ids': diff_ids}}).encode()
cd, cs = put(cfg)
man = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                  'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': cd, 'size': cs},
                  'layers': layers}).encode()
md, ms = put(man)
json.dump({'schemaVersion': 2, 'manifests': [{'mediaType': 'application/vnd.oci.image.manifest.v1+json',
           'digest': md, 'size': ms, 'annotations': {'org.opencontainers.image.ref.name': 'bench'}}]},
          open(os.path.join(d, 'index.json'), 'w'))
open(os.path.join(d, 'oci-layout'), 'w').write('{"imageLayoutVersion":"1.0.0"}')
PY
compressed=$(du -cb "$work"/oci/blobs/sha256/* | tail -1 | cut -f1)

# ------------------------------------------------------------ the registry
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
ref=127.0.0.1:$port/bench/pull:1
skopeo copy -q --dest-tls-verify=false "oci:$work/oci:bench" "docker://$ref" ||
	{ cat "$work/registry.log" >&2; exit 1; }
rm -rf "$work/oci"

umoci_flags=()
[ "$(id -u)" = 0 ] || umoci_flags=(--rootless)
# ------------------------------------------------------------ one run
# run NAME: pull + unpack into $out, print "wall user sys"
run() {
	local name=$1 cmd
	rm -rf "${out:?}/berth" "${out:?}/oci" "${out:?}/bundle"
	sync
	case $name in
	berth) cmd="$berth --root $out/berth image pull -q --insecure-registry 127.0.0.1:$port $ref" ;;
	peer) cmd="skopeo copy -q --src-tls-verify=false docker://$ref oci:$out/oci:bench &&
		   umoci unpack ${umoci_flags[*]} --image $out/oci:bench $out/bundle" ;;
	esac
	if ! /usr/bin/time -o "$work/time" -f "%e %U %S" bash -c "$cmd" >/dev/null 2>"$work/err.$name"; then
		echo "$name failed: $cmd" >&2
		cat "$work/err.$name" >&2
		echo "fail fail fail"
		return
	fi
	tail -n 1 "$work/time"
}

echo "image: ${#dirs[@]} gzip layers, $compressed bytes in the registry; $(skopeo --version), umoci $(umoci --version | awk '{print $3}'), $(nproc) CPUs"
echo "target: $out ($(stat -f -c %T "$out"))"
declare -A wall cpu
cases=(berth peer)
for ((i = 1; i <= runs; i++)); do
	for c in "${cases[@]}"; do
		read -r w u s < <(run "$c")
		wall[$c]+="$w "
		cpu[$c]+="$(awk -v u="$u" -v s="$s" 'BEGIN {if (u == "fail") print "fail"; else print u + s}') "
		echo "  run $i $c: wall $w, user $u, sys $s" >&2
	done
done
# the last berth pull's tree is the image's: a quick check that it unpacked
run berth >/dev/null
n_layers=$(find "$out/berth/images/layers" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$n_layers" = "${#dirs[@]}" ] || echo "warning: berth's store has $n_layers layers, expected ${#dirs[@]}" >&2

median() {
	tr ' ' '\n' | awk '$1 != "" && $1 != "fail"' | sort -g |
		awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "nan"}'
}
printf '%-6s %9s %9s %9s\n' case "wall s" "MB/s" "cpu s"
declare -A med
for c in "${cases[@]}"; do
	w=$(echo "${wall[$c]}" | median)
	cp=$(echo "${cpu[$c]}" | median)
	med[$c]=$w
	if [ "$w" = nan ]; then
		printf '%-6s %9s %9s %9s\n' "$c" failed - -
	else
		awk -v c="$c" -v w="$w" -v b="$compressed" -v cpu="$cp" \
			'BEGIN {printf "%-6s %9.3f %9.1f %9.3f\n", c, w, b / w / 1e6, cpu}'
	fi
done
if [ "${med[berth]}" = nan ] || [ "${med[peer]}" = nan ]; then
	echo "ratio: n/a"
else
	awk -v a="${med[berth]}" -v b="${med[peer]}" -v n="$runs" \
		'BEGIN {printf "ratio (wall, median of %d runs): berth/peer %.2f (berth %.2fx as fast as skopeo + umoci)\n", n, a / b, b / a}'
fi
