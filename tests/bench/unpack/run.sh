#!/usr/bin/env bash
# tests/bench/unpack/run.sh - layer unpack throughput: berth vs GNU tar vs umoci.
#
#   tests/bench/unpack/run.sh [-b BUILD_DIR] [-l LAYER.tar] [-n RUNS] [-o OUT_DIR]
#
# Builds (or takes with -l) an uncompressed layer, by default a tar of
# directories under /usr (python, perl, vim, git, cmake: ~200 MB, ~12k
# files: a realistic mix of small text files and binaries), compresses it
# with gzip -6 and zstd -3, and puts each in an OCI layout for umoci. Then,
# RUNS times (default 3) and interleaved (berth, tar, umoci, berth, ...),
# unpacks every layer into an empty directory on tmpfs (OUT_DIR, default a
# fresh directory under /dev/shm), removing it between runs. Prints the
# median wall time and MB/s (uncompressed tar bytes / second), the CPU time,
# and the ratios berth/tar and berth/umoci. Not part of ctest.
#
# Needs: berth-bench-unpack (cmake --build BUILD_DIR --target berth-bench-unpack;
# built here when missing), tar, gzip, zstd, umoci, python3. As root, every
# tool keeps ownership (tar does by default, umoci without --rootless,
# berth chowns); unprivileged, umoci runs --rootless and berth --no-chown.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
build=${BERTH_BUILD:-$src/build}
layer=
runs=3
out=

while getopts "b:l:n:o:h" opt; do
	case $opt in
	b) build=$OPTARG ;;
	l) layer=$OPTARG ;;
	n) runs=$OPTARG ;;
	o) out=$OPTARG ;;
	*) sed -n '2,22p' "$0"; exit 2 ;;
	esac
done

bin=$build/tests/bench/berth-bench-unpack
if [ ! -x "$bin" ]; then
	echo "building berth-bench-unpack in $build" >&2
	cmake --build "$build" --target berth-bench-unpack -j2 >&2
fi

work=$(mktemp -d /tmp/berth-bench-unpack.XXXXXX)
if [ -z "$out" ]; then
	out=$(mktemp -d /dev/shm/berth-bench-unpack.XXXXXX)
	own_out=1
else
	mkdir -p "$out"
	own_out=0
fi
cleanup() {
	rm -rf "$work"
	if [ "$own_out" = 1 ]; then rm -rf "$out"; else rm -rf "${out:?}"/target; fi
}
trap cleanup EXIT

# ------------------------------------------------------------ the layer
if [ -z "$layer" ]; then
	dirs=()
	for d in usr/lib/python3.11 usr/lib/python3 usr/share/perl usr/share/vim \
		 usr/lib/git-core usr/share/cmake-3.25; do
		[ -d "/$d" ] && dirs+=("$d")
	done
	if [ ${#dirs[@]} -eq 0 ]; then
		dirs=(usr/lib usr/share)
	fi
	echo "building the layer from /: ${dirs[*]}" >&2
	tar -C / -cf "$work/layer.tar" "${dirs[@]}" 2>/dev/null || true
	layer=$work/layer.tar
fi
tar_bytes=$(stat -c %s "$layer")
files=$(tar -tf "$layer" | wc -l)
echo "compressing (gzip -6, zstd -3)" >&2
gzip -6 -n -c "$layer" > "$work/layer.tar.gz"
zstd -3 -q -c "$layer" > "$work/layer.tar.zst"

# OCI layouts for umoci: one image per compression
python3 - "$work" "$layer" <<'EOF'
import hashlib, json, os, sys
work, layer = sys.argv[1], sys.argv[2]
def sha(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return h.hexdigest()
diff_id = 'sha256:' + sha(layer)
for comp, blob, mt in [('gzip', 'layer.tar.gz', 'application/vnd.oci.image.layer.v1.tar+gzip'),
                       ('zstd', 'layer.tar.zst', 'application/vnd.oci.image.layer.v1.tar+zstd'),
                       ('none', 'layer.tar', 'application/vnd.oci.image.layer.v1.tar')]:
    d = os.path.join(work, 'oci-' + comp)
    os.makedirs(os.path.join(d, 'blobs', 'sha256'))
    def put(data):
        h = hashlib.sha256(data).hexdigest()
        open(os.path.join(d, 'blobs', 'sha256', h), 'wb').write(data)
        return 'sha256:' + h, len(data)
    src = os.path.join(work, blob) if comp != 'none' else layer
    lh = sha(src)
    try:
        os.link(src, os.path.join(d, 'blobs', 'sha256', lh))
    except OSError:   # -l LAYER on another filesystem
        os.symlink(os.path.abspath(src), os.path.join(d, 'blobs', 'sha256', lh))
    cfg = json.dumps({'architecture': 'amd64', 'os': 'linux', 'config': {},
                      'rootfs': {'type': 'layers', 'diff_ids': [diff_id]}}).encode()
    cd, cs = put(cfg)
    man = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                      'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': cd, 'size': cs},
                      'layers': [{'mediaType': mt, 'digest': 'sha256:' + lh, 'size': os.path.getsize(src)}]}).encode()
    md, ms = put(man)
    json.dump({'schemaVersion': 2, 'manifests': [{'mediaType': 'application/vnd.oci.image.manifest.v1+json',
               'digest': md, 'size': ms, 'annotations': {'org.opencontainers.image.ref.name': 'bench'}}]},
              open(os.path.join(d, 'index.json'), 'w'))
    open(os.path.join(d, 'oci-layout'), 'w').write('{"imageLayoutVersion":"1.0.0"}')
EOF

berth_flags=()
umoci_flags=()
if [ "$(id -u)" != 0 ]; then
	berth_flags=(--no-chown)
	umoci_flags=(--rootless)
fi

# ------------------------------------------------------------ one run
# run NAME CMD...: unpack into $out/target, print "wall user sys"
run() {
	local name=$1
	shift
	rm -rf "${out:?}/target"
	[[ $name == umoci* ]] || mkdir "$out/target"   # umoci wants to create it
	sync
	if ! /usr/bin/time -o "$work/time" -f "%e %U %S" "$@" >/dev/null 2>"$work/err.$name"; then
		echo "$name failed: $*" >&2
		cat "$work/err.$name" >&2
		echo "fail fail fail"
		return
	fi
	tail -n 1 "$work/time"
}

declare -A wall user sys
cases=(berth-gzip tar-gzip umoci-gzip berth-zstd tar-zstd umoci-zstd berth-none tar-none umoci-none)
cmd_for() {
	case $1 in
	berth-gzip) echo "$bin ${berth_flags[*]} -c gzip $work/layer.tar.gz $out/target" ;;
	berth-zstd) echo "$bin ${berth_flags[*]} -c zstd $work/layer.tar.zst $out/target" ;;
	tar-gzip)   echo "tar -C $out/target -xzf $work/layer.tar.gz" ;;
	tar-zstd)   echo "tar -C $out/target --zstd -xf $work/layer.tar.zst" ;;
	berth-none) echo "$bin ${berth_flags[*]} -c none $layer $out/target" ;;
	tar-none)   echo "tar -C $out/target -xf $layer" ;;
	umoci-none) echo "umoci raw unpack ${umoci_flags[*]} --image $work/oci-none:bench $out/target" ;;
	umoci-gzip) echo "umoci raw unpack ${umoci_flags[*]} --image $work/oci-gzip:bench $out/target" ;;
	umoci-zstd) echo "umoci raw unpack ${umoci_flags[*]} --image $work/oci-zstd:bench $out/target" ;;
	esac
}

echo "layer: $tar_bytes bytes uncompressed, $files entries; gzip $(stat -c %s "$work/layer.tar.gz"), zstd $(stat -c %s "$work/layer.tar.zst")"
echo "target: $out ($(stat -f -c %T "$out")); $(tar --version | head -1), umoci $(umoci --version | awk '{print $3}'), $(nproc) CPUs"
declare -A unsupported
for ((i = 1; i <= runs; i++)); do
	for c in "${cases[@]}"; do
		[ -z "${unsupported[$c]:-}" ] || continue
		# shellcheck disable=SC2046
		read -r w u s < <(run "$c" $(cmd_for "$c"))
		wall[$c]+="$w "
		user[$c]+="$u "
		sys[$c]+="$s "
		echo "  run $i $c: wall $w, user $u, sys $s" >&2
		# umoci 0.4.x knows gzip and plain layers only: try that once
		if [ "$w" = fail ] && grep -q "not correct mediatype" "$work/err.$c"; then
			unsupported[$c]=1
		fi
	done
done

# median of the numbers on stdin (words; "fail" and blanks ignored), or nan
median() {
	tr ' ' '\n' | awk '$1 != "" && $1 != "fail"' | sort -g |
		awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "nan"}'
}

printf '%-11s %9s %9s %10s\n' case "wall s" "MB/s" "cpu s"
declare -A med
for c in "${cases[@]}"; do
	w=$(echo "${wall[$c]}" | median)
	cpu=$(paste -d' ' <(echo "${user[$c]}" | tr ' ' '\n' | awk '$1 != ""') \
			  <(echo "${sys[$c]}" | tr ' ' '\n' | awk '$1 != ""') |
	      awk '$1 != "fail" {print $1 + $2}' | median)
	med[$c]=$w
	if [ "$w" = nan ]; then
		why=failed
		[ -z "${unsupported[$c]:-}" ] || why=unsupported
		printf '%-11s %9s %9s %10s\n' "$c" "$why" - -
	else
		awk -v c="$c" -v w="$w" -v b="$tar_bytes" -v cpu="$cpu" \
			'BEGIN {printf "%-11s %9.3f %9.1f %10.3f\n", c, w, b / w / 1e6, cpu}'
	fi
done
ratio() {
	if [ "${med[$2]}" = nan ] || [ "${med[$1]}" = nan ]; then echo n/a; return; fi
	awk -v a="${med[$1]}" -v b="${med[$2]}" 'BEGIN {printf "%.2fx", b / a}'
}
echo "ratios (throughput, median of $runs runs):"
for comp in gzip zstd none; do
	echo "  $comp: berth/tar $(ratio berth-$comp tar-$comp), berth/umoci $(ratio berth-$comp umoci-$comp)"
done
