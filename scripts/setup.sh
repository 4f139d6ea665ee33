#!/bin/bash
# scripts/setup.sh - install everything berth needs from Debian, then configure
# and build. Idempotent; meant for a fresh Debian bookworm machine, as root.
#
#   scripts/setup.sh             install packages, configure and build (build/)
#   scripts/setup.sh --deps      install packages only
#
# Environment: BUILD_DIR (default build), BUILD_TYPE (default Release: -O2 -g).
set -euo pipefail
cd "$(dirname "$0")/.."

# One list, grouped by why it is here. Keep docs/ARCHITECTURE.md in step.
PKGS=(
	# toolchain
	build-essential cmake pkg-config clang libclang-rt-14-dev
	# berth-init, the static program every container start execs, is linked
	# against musl (runtime/CMakeLists.txt)
	musl-tools
	# the product card's libraries
	libjansson-dev libseccomp-dev libcap-dev libnl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev
	# images (rootfs/): streaming inflate (ISA-L igzip), zstd, tar parsing (sha256 is
	# built in: common/sha256.c)
	zlib1g-dev libisal-dev libzstd-dev libarchive-dev
	# registry pull (rootfs/pull.c) and its tests: a real registry, pushes, htpasswd
	libcurl4-openssl-dev docker-registry skopeo apache2-utils
	# berthd: state store (SQLite); secrets at rest (OpenSSL's libcrypto, AES-256-GCM)
	libsqlite3-dev libssl-dev
	# the ECS API is tested with the real AWS CLI v2 and boto3 (host side)
	awscli python3-boto3
	# ephemeral storage volumes (ext4 and XFS tooling, also staged into the test VM)
	xfsprogs
	# unit tests; etcd-server: the etcd client's tests start a private etcd (scheduler/etcd.c)
	libcmocka-dev etcd-server
	# VM harness: emulator, guest userland, disk and network tools staged into the guest
	qemu-system-x86 busybox-static e2fsprogs iproute2 kmod
	# nft(8) reads back what netns/ writes over netlink (unit tests, VM cases)
	nftables
	# reproducible test image builder
	python3
	# benchmark peers (tests/bench; haproxy, nginx, wrk: tests/bench/lb, each started by the
	# bench on its own ports; the services their packages start are stopped below)
	umoci zstd crun containernetworking-plugins haproxy nginx wrk
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages: ${missing[*]}" >&2
		echo "setup: run this script as root (it uses apt-get) or install them yourself" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -q -o DPkg::Lock::Timeout=600 update
	apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends "${missing[@]}"
	# haproxy and nginx are benchmark peers that tests/bench/lb starts on its
	# own ports, etcd-server the store the etcd client's tests start on free
	# ports: their packages also start and enable system services on install
	# (nginx on port 80, etcd on 2379); stop and disable the ones this run
	# installed (PACKAGE:SERVICE)
	for ps in nginx:nginx haproxy:haproxy etcd-server:etcd; do
		svc=${ps#*:}
		printf '%s\n' "${missing[@]}" | grep -qx "${ps%%:*}" || continue
		if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
			systemctl disable --now "$svc" >/dev/null 2>&1 || true
		elif command -v invoke-rc.d >/dev/null; then
			invoke-rc.d "$svc" stop >/dev/null 2>&1 || true
			update-rc.d "$svc" disable >/dev/null 2>&1 || true
		fi
	done
else
	echo "setup: all ${#PKGS[@]} Debian packages present"
fi
[ "${1:-}" = --deps ] && exit 0

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "setup: built into $BUILD_DIR ($BUILD_TYPE)"
