#!/usr/bin/env bash
# tests/bench/lb/run.sh - berth-lb against HAProxy and nginx as reverse proxies
# on loopback, the same backend, the same run (issue 10).
#
#   tests/bench/lb/run.sh [-b BUILD_DIR] [-d SECONDS] [-c CONNS] [-n ROUNDS]
#                         [-p PAUSE_S] [-o OUT_DIR] [-C CASES] [-P]
#
# One backend: nginx with one worker serving /small (32 bytes) and /16k (16384
# bytes) from a temporary directory, access log off, keep-alive unlimited.
# In front of it, each with ONE worker and on a port of its own on 127.0.0.1:
#   berth-lb      HTTP listener (health checks off) and a TCP listener,
#                 --workers 1 (when the binary has the option)
#   haproxy-http  HAProxy mode http, nbthread 1, http-reuse always,
#                 option forwardfor + X-Forwarded-Proto/Port (as berth-lb adds)
#   nginx         worker_processes 1, proxy_pass to an upstream with keepalive,
#                 HTTP/1.1 upstream, X-Forwarded-For/Proto/Port
#   haproxy-tcp   HAProxy mode tcp (the same HAProxy process)
#   direct        no proxy: wrk against the backend (reference only)
# Every configuration is generated into a temporary directory; every process
# is started and stopped by this script (only the pids it started).
#
# Cases: keep-alive and `Connection: close` (wrk -H), x small body and 16 KiB.
# Per round, each case runs once through every proxy (the order rotates by
# round), wrk -t1 -cCONNS -dSECONDS --latency (default 50 connections, 10 s,
# 3 rounds; one wrk thread: wrk, proxy and backend share the 2 cores). Per run:
# requests/s, p99 latency, and the proxy's CPU time per request (utime+stime
# of its worker from /proc/PID/stat before and after, divided by the requests
# wrk counted), plus the backend's CPU us/req and how many connections the
# backend accepted per request (nginx stub_status: shows whether a proxy
# reuses its target connections), the CPU time of the whole machine per request
# and the proxy's context switches per request (how often it slept and was
# woken: on these VMs a wakeup is dear), and the TCP segments sent per request
# (all three programs: each segment is work for its sender and its receiver).
# Reports medians over the rounds, the ratios berth-lb / best(HAProxy http,
# nginx) per case (median of the per-round ratios against that round's
# better peer, per figure), L4
# berth-lb TCP / HAProxy tcp, and "goal ... met / NOT met" lines. Never fails
# on a number.
#
# -C CASES: only these cases, comma-separated (e.g. -C close-small,close-16k:
# quicker turns while working on one case; the goal lines then speak for
# those cases only).
#
# -P: afterwards, profile (-n 0: profile only): `perf record -g` on berth-lb
# during one keep-alive and one close run (small body), the hottest symbols
# and objects; then `strace -c -f` on berth-lb, HAProxy http and nginx (3 s
# each; strace slows them down, so only the counts mean something): syscalls
# per request side by side. Needs Debian linux-perf and strace.
#
# OUT_DIR (default: a temporary directory, removed) keeps runs.tsv (every run:
# round, case, proxy, CPU ticks of proxy and backend, backend accepts, machine
# ticks, wrk CPU, seconds, wrk output file, the proxy's context switches, TCP
# segments sent),
# the wrk outputs, the generated configs and the logs.
#
# Needs: wrk, haproxy, nginx (Debian packages; scripts/setup.sh --deps), curl,
# python3, and BUILD_DIR/bin/berth-lb (built when missing; use a Release build).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
build=${BERTH_BUILD:-$src/build}
dur=10
conns=50
rounds=3
pause=1
out=
do_perf=0
only=

while getopts "b:d:c:n:p:o:C:Ph" opt; do
	case $opt in
	b) build=$OPTARG ;;
	d) dur=$OPTARG ;;
	c) conns=$OPTARG ;;
	n) rounds=$OPTARG ;;
	p) pause=$OPTARG ;;
	o) out=$OPTARG ;;
	P) do_perf=1 ;;
	C) only=$OPTARG ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2 ;;
	esac
done
for v in "$dur" "$conns"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -d and -c take positive integers" >&2; exit 2; }
done
if ! [[ $rounds =~ ^[0-9]+$ ]] || { [ "$rounds" = 0 ] && [ "$do_perf" = 0 ]; }; then
	echo "run.sh: -n takes a positive integer (0 only with -P: profile only)" >&2
	exit 2
fi
[[ $pause =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "run.sh: -p takes seconds" >&2; exit 2; }

for t in wrk haproxy nginx curl python3; do
	command -v "$t" >/dev/null || { echo "run.sh: $t is missing (scripts/setup.sh --deps)" >&2; exit 1; }
done
if [ "$do_perf" = 1 ] && ! command -v perf >/dev/null; then
	echo "run.sh: -P needs perf (Debian linux-perf)" >&2
	exit 1
fi
lb=$build/bin/berth-lb
if [ ! -x "$lb" ]; then
	echo "building berth-lb in $build" >&2
	cmake --build "$build" --target berth-lb -j2 >&2
fi

work=$(mktemp -d /tmp/berth-bench-lb.XXXXXX)
chmod 755 "$work" # the backend's worker may run as nobody
if [ -z "$out" ]; then
	out=$work/out
fi
mkdir -p "$out"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] && nofile=65536
maxconn=$(((nofile - 200) / 2)) # HAProxy wants 2 fds per connection and some

# ------------------------------------------------------------ ports, files
read -r p_be p_lb p_lbtcp p_hap p_haptcp p_ngx < <(python3 - <<'PY'
import socket
ss = []
for _ in range(6):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))
PY
)
mkdir -p "$work/www" "$work/tmp"
printf 'berth-lb bench: a small body..\n' >"$work/www/small" # 32 bytes
python3 -c 'import sys; sys.stdout.write(("0123456789abcdef" * 1024)[:16383] + "\n")' >"$work/www/16k"
[ "$(stat -c %s "$work/www/small")" = 32 ] && [ "$(stat -c %s "$work/www/16k")" = 16384 ]
chmod -R a+rX "$work/www"

ngx_common() { # $1: name
	cat <<EOF
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $work/$1.pid;
error_log $work/$1.err warn;
events { worker_connections 8192; multi_accept on; }
http {
	access_log off;
	client_body_temp_path $work/tmp/$1-body;
	proxy_temp_path $work/tmp/$1-proxy;
	fastcgi_temp_path $work/tmp/$1-fcgi;
	uwsgi_temp_path $work/tmp/$1-uwsgi;
	scgi_temp_path $work/tmp/$1-scgi;
	keepalive_requests 100000000;
	keepalive_timeout 120s;
	tcp_nodelay on;
	server_tokens off;
EOF
}
{
	ngx_common backend
	cat <<EOF
	default_type application/octet-stream;
	sendfile on;
	open_file_cache max=16 inactive=600s;
	etag off;
	server {
		listen 127.0.0.1:$p_be backlog=4096;
		root $work/www;
		location / { }
		location = /bench-status { stub_status; }
	}
}
EOF
} >"$work/backend.conf"
{
	ngx_common proxy
	cat <<EOF
	upstream be {
		server 127.0.0.1:$p_be;
		keepalive 256;
		keepalive_requests 100000000;
		keepalive_timeout 120s;
	}
	server {
		listen 127.0.0.1:$p_ngx backlog=4096;
		location / {
			proxy_pass http://be;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto \$scheme;
			proxy_set_header X-Forwarded-Port \$server_port;
		}
	}
}
EOF
} >"$work/nginx-proxy.conf"
cat >"$work/haproxy.cfg" <<EOF
global
	nbthread 1
	maxconn $maxconn
defaults
	timeout connect 5s
	timeout client 120s
	timeout server 120s
	timeout http-keep-alive 120s
frontend fe_http
	mode http
	bind 127.0.0.1:$p_hap backlog 4096
	option forwardfor
	http-request set-header X-Forwarded-Proto http
	http-request set-header X-Forwarded-Port %[dst_port]
	default_backend be_http
backend be_http
	mode http
	http-reuse always
	server s1 127.0.0.1:$p_be
listen tcp
	mode tcp
	bind 127.0.0.1:$p_haptcp backlog 4096
	server s1 127.0.0.1:$p_be
EOF
cat >"$work/berth-lb.json" <<EOF
{ "TargetGroups": [ { "Name": "be", "Targets": ["127.0.0.1:$p_be"], "HealthCheckEnabled": false } ],
  "Listeners": [
    { "Port": $p_lb, "Address": "127.0.0.1", "Protocol": "HTTP", "TargetGroup": "be" },
    { "Port": $p_lbtcp, "Address": "127.0.0.1", "Protocol": "TCP", "TargetGroup": "be" } ] }
EOF
cp "$work"/*.conf "$work"/*.cfg "$work"/*.json "$out"/ 2>/dev/null || true

# ------------------------------------------------------------ processes
declare -A pid
start() { # name cmd...: start in the background, remember the pid
	local name=$1
	shift
	"$@" >"$out/$name.log" 2>&1 &
	pids+=($!)
	pid[$name]=$!
}
wait_port() { # name port
	local i
	for i in $(seq 1 100); do
		if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$2/small"; then return 0; fi
		sleep 0.1
	done
	echo "run.sh: $1 does not answer on port $2; its log:" >&2
	cat "$out/$1.log" >&2
	exit 1
}
worker_of() { # master pid -> its only child (nginx's worker)
	local i c
	for i in $(seq 1 50); do
		c=$(cat /proc/"$1"/task/"$1"/children 2>/dev/null || true)
		c=${c%% *}
		if [ -n "$c" ]; then echo "$c"; return 0; fi
		sleep 0.1
	done
	echo "run.sh: no worker under nginx pid $1" >&2
	exit 1
}
start backend nginx -p "$work" -e "$work/backend.err" -c "$work/backend.conf" -g 'daemon off;'
start nginx nginx -p "$work" -e "$work/proxy.err" -c "$work/nginx-proxy.conf" -g 'daemon off;'
start haproxy haproxy -db -f "$work/haproxy.cfg"
lb_args=()
if "$lb" --help 2>&1 | grep -q -- --workers; then
	lb_args=(--workers 1) # one worker, as the peers (its default is one per CPU)
fi
start berthlb "$lb" --config "$work/berth-lb.json" "${lb_args[@]}"
wait_port backend "$p_be"
wait_port nginx "$p_ngx"
wait_port haproxy "$p_hap"
wait_port berthlb "$p_lb"
cpu_backend=$(worker_of "${pid[backend]}")
cpu_nginx=$(worker_of "${pid[nginx]}")

proxies=(berth-lb haproxy-http nginx berth-lb-tcp haproxy-tcp direct)
declare -A port cpupid
port[berth-lb]=$p_lb; cpupid[berth-lb]=${pid[berthlb]}
port[berth-lb-tcp]=$p_lbtcp; cpupid[berth-lb-tcp]=${pid[berthlb]}
port[haproxy-http]=$p_hap; cpupid[haproxy-http]=${pid[haproxy]}
port[haproxy-tcp]=$p_haptcp; cpupid[haproxy-tcp]=${pid[haproxy]}
port[nginx]=$p_ngx; cpupid[nginx]=$cpu_nginx
port[direct]=$p_be; cpupid[direct]=$cpu_backend

# every proxy returns both bodies intact, with keep-alive and with close
for p in "${proxies[@]}"; do
	for f in small 16k; do
		for hdr in "Connection: keep-alive" "Connection: close"; do
			if ! curl -sf --max-time 5 -H "$hdr" -o "$work/check" "http://127.0.0.1:${port[$p]}/$f" ||
				! cmp -s "$work/check" "$work/www/$f"; then
				echo "run.sh: $p did not return /$f intact ($hdr)" >&2
				exit 1
			fi
		done
	done
done

ticks() { # pid -> utime + stime in clock ticks
	local line rest
	read -r line <"/proc/$1/stat"
	rest=${line##*) }
	# shellcheck disable=SC2086
	set -- $rest
	echo $((${12} + ${13}))
}

csw() { # pid -> context switches of all its threads (voluntary + not)
	cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'
}

accepts() { # connections the backend accepted so far (nginx stub_status)
	curl -s --max-time 5 "http://127.0.0.1:$p_be/bench-status" | awk 'NR == 3 {print $1}'
}

cases=(ka-small ka-16k close-small close-16k)
if [ -n "$only" ]; then
	IFS=, read -r -a cases <<<"$only"
	for c in "${cases[@]}"; do
		case $c in ka-small | ka-16k | close-small | close-16k) ;;
		*) echo "run.sh: -C: no case '$c' (ka-small, ka-16k, close-small, close-16k)" >&2; exit 2 ;;
		esac
	done
fi
segs() { # TCP segments this network namespace has sent so far (/proc/net/snmp OutSegs)
	awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "OutSegs") c = i; h = 1 } else print $c }' /proc/net/snmp
}
busy() { # CPU ticks spent by anything on the machine so far (all CPUs)
	local u n sy irq sirq st
	read -r _ u n sy _ _ irq sirq st _ </proc/stat
	echo $((u + n + sy + irq + sirq + st))
}
run_one() { # round case proxy [seconds]
	local r=$1 c=$2 p=$3 d=${4:-$dur} path hdr=() t0 t1 s0 s1 b0 b1 a0 a1 m0 m1 g0 g1 f TIMEFORMAT='%3U %3S'
	case $c in
	*-small) path=small ;;
	*) path=16k ;;
	esac
	case $c in close-*) hdr=(-H "Connection: close") ;; esac
	f=$out/wrk-$r-$c-$p.txt
	a0=$(accepts)
	t0=$(ticks "${cpupid[$p]}")
	s0=$(csw "${cpupid[$p]}")
	b0=$(ticks "$cpu_backend")
	m0=$(busy)
	g0=$(segs)
	{ time wrk -t1 -c"$conns" -d"${d}s" --timeout 10s --latency "${hdr[@]}" \
		"http://127.0.0.1:${port[$p]}/$path" >"$f" 2>&1; } 2>"$f.cpu" || true
	g1=$(segs)
	m1=$(busy)
	t1=$(ticks "${cpupid[$p]}")
	s1=$(csw "${cpupid[$p]}")
	b1=$(ticks "$cpu_backend")
	a1=$(accepts)
	# the second status request's own connection is counted in a1
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$c" "$p" $((t1 - t0)) $((b1 - b0)) \
		$((a1 - a0 - 1)) $((m1 - m0)) "$(tr ' ' + <"$f.cpu")" "$d" "$f" $((s1 - s0)) $((g1 - g0)) >>"$out/runs.tsv"
}

commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$src" status --porcelain -- lb 2>/dev/null)" ]; then
	commit="$commit (lb/ modified)"
fi
commit="$commit (the tree of run.sh), $lb sha256 $(sha256sum "$lb" | cut -c1-12)"
{
	echo "== tests/bench/lb: $(date -u +%Y-%m-%d), berth $commit, $(haproxy -v | head -1 | awk '{print "HAProxy " $3}'), $(nginx -v 2>&1 | sed 's|.*/| nginx |;s|^ ||'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}'), kernel $(uname -r), $(nproc) cpu (load $(cut -d' ' -f1-3 /proc/loadavg))"
} >"$out/header.txt"
cat "$out/header.txt"
echo "wrk -t1 -c$conns -d${dur}s, $rounds rounds, cases: ${cases[*]}; proxies: ${proxies[*]}" >&2

: >"$out/runs.tsv"
# warm-up (not counted): each proxy, 1 s keep-alive and 1 s close
for p in "${proxies[@]}"; do
	run_one 0 ka-small "$p" 1
	run_one 0 close-small "$p" 1
done
: >"$out/runs.tsv"

n=${#proxies[@]}
[ "$rounds" -gt 0 ] || { echo "(-n 0: no rounds, profiles only)"; } # -P
for r in $(seq 1 "$rounds"); do
	for c in "${cases[@]}"; do
		for i in $(seq 0 $((n - 1))); do
			p=${proxies[$(((i + r - 1) % n))]}
			sleep "$pause"
			run_one "$r" "$c" "$p"
			echo "  round $r $c $p: $(awk '/^Requests\/sec/ {print $2}' "$out/wrk-$r-$c-$p.txt") req/s" >&2
		done
	done
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/header.txt"

[ "$rounds" -gt 0 ] && python3 - "$out/runs.tsv" "$(getconf CLK_TCK)" "$out/header.txt" <<'PY' | tee "$out/report.txt"
import re, statistics, sys

tsv, hz, header = sys.argv[1], int(sys.argv[2]), sys.argv[3]
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}

def wrk(path):
    t = open(path).read()
    m = re.search(r"^Requests/sec:\s+([\d.]+)", t, re.M)
    n = re.search(r"^\s*(\d+) requests in", t, re.M)
    p = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\b", t, re.M)
    if not (m and n and p):
        return None
    err = 0
    s = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    if s:
        err += sum(int(x) for x in s.groups())
    x = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    if x:
        err += int(x.group(1))
    return float(m.group(1)), int(n.group(1)), float(p.group(1)) * UNIT[p.group(2)], err

runs = {}  # (case, proxy) -> {round: (rps, p99, us, be_us, err)}
bad = []
for line in open(tsv):
    r, case, proxy, ticks, bticks, bconns, mticks, wcpu, secs, path, cs, segs = line.rstrip("\n").split("\t")
    w = wrk(path)
    if w is None or w[1] == 0:
        bad.append(f"{case} {proxy} round {r}: no result ({path})")
        continue
    rps, nreq, p99, err = w
    us = int(ticks) * 1e6 / hz / nreq
    be = int(bticks) * 1e6 / hz / nreq
    wrk_ticks = sum(float(x) for x in wcpu.split("+")) * hz if wcpu else 0.0
    mine = int(bticks) + wrk_ticks + (0 if proxy == "direct" else int(ticks))
    others = max(0.0, (int(mticks) - mine) / hz / float(secs) * 100)
    # the machine's whole CPU time per request, and the proxy's context switches per request
    mach = int(mticks) * 1e6 / hz / nreq
    runs.setdefault((case, proxy), {})[int(r)] = (rps, p99, us, be, err, int(bconns) / nreq, others,
                                                 mach, int(cs) / nreq, int(segs) / nreq)

cases = [c for c in ["ka-small", "ka-16k", "close-small", "close-16k"]
         if any(k[0] == c for k in runs)]
desc = {"ka-small": "keep-alive, 32 B", "ka-16k": "keep-alive, 16 KiB",
        "close-small": "Connection: close, 32 B", "close-16k": "Connection: close, 16 KiB"}
proxies = ["berth-lb", "haproxy-http", "nginx", "berth-lb-tcp", "haproxy-tcp", "direct"]

def med(xs):
    return statistics.median(xs) if xs else float("nan")

def fig(case, proxy, i):
    return med([v[i] for v in runs.get((case, proxy), {}).values()])

print("medians over rounds: req/s, p99 latency (ms), proxy CPU us/req (utime+stime of its worker"
      " / requests), backend nginx CPU us/req, connections the backend accepted per request,"
      " wrk errors (socket errors + non-2xx, all rounds), and other work on the machine during"
      " the run (CPU time not spent by wrk, the proxy or the backend, % of one CPU); then the"
      " CPU time of the whole machine per request (us), the proxy's context switches per"
      " request and the TCP segments sent per request (wrk, proxy and backend together: every"
      " segment is work for both ends)")
for case in cases:
    print(f"{case} ({desc[case]})")
    print(f"  {'':14s}{'req/s':>10s}{'p99 ms':>9s}{'us/req':>9s}{'be us/req':>11s}"
          f"{'be conn/req':>13s}{'errors':>8s}{'others%':>9s}{'all us/req':>11s}{'cs/req':>8s}"
          f"{'segs/req':>10s}")
    for p in proxies:
        d = runs.get((case, p), {})
        if not d:
            print(f"  {p:14s}  (no result)")
            continue
        errs = sum(v[4] for v in d.values())
        us = "-" if p == "direct" else f"{fig(case, p, 2):.2f}"
        print(f"  {p:14s}{fig(case, p, 0):10.0f}{fig(case, p, 1):9.2f}{us:>9s}"
              f"{fig(case, p, 3):11.2f}{fig(case, p, 5):13.3f}{errs:8d}{fig(case, p, 6):9.0f}"
              f"{fig(case, p, 7):11.2f}{fig(case, p, 8):8.3f}{fig(case, p, 9):10.2f}")

def ratios(case, a, peers):
    """median over rounds of a / best(peers) per figure: req/s (higher is
    better: a / max), p99 and us/req (lower is better: a / min)"""
    out = []
    for i, hi in ((0, True), (1, False), (2, False)):
        rs = []
        for r, v in runs.get((case, a), {}).items():
            pv = [runs[(case, p)][r][i] for p in peers if r in runs.get((case, p), {})]
            if not pv:
                continue
            best = max(pv) if hi else min(pv)
            if best > 0:
                rs.append(v[i] / best)
        out.append(med(rs))
    return out

print()
print("L7: berth-lb / best(haproxy-http, nginx), per figure the better peer of the same round,"
      " median over rounds")
print(f"  {'':14s}{'req/s':>8s}{'p99':>8s}{'us/req':>8s}   (goal: req/s >= 1, p99 <= 1, us/req <= 1)")
l7_ok = True
for case in cases:
    rr = ratios(case, "berth-lb", ["haproxy-http", "nginx"])
    ok = rr[0] >= 1.0 and rr[1] <= 1.0 and rr[2] <= 1.0
    l7_ok = l7_ok and ok
    print(f"  {case:14s}{rr[0]:8.2f}{rr[1]:8.2f}{rr[2]:8.2f}   {'met' if ok else 'NOT met'}")
print()
print("L4: berth-lb-tcp / haproxy-tcp, median over rounds")
print(f"  {'':14s}{'req/s':>8s}{'p99':>8s}{'us/req':>8s}   (goal: req/s >= 1)")
l4_ok = True
for case in cases:
    rr = ratios(case, "berth-lb-tcp", ["haproxy-tcp"])
    ok = rr[0] >= 1.0
    l4_ok = l4_ok and ok
    print(f"  {case:14s}{rr[0]:8.2f}{rr[1]:8.2f}{rr[2]:8.2f}   {'met' if ok else 'NOT met'}")
print()
every = "in every case" if len(cases) == 4 else "in the cases run (" + ", ".join(cases) + ")"
print(f"goal L7 berth-lb >= 1.0x best(HAProxy http, nginx) in req/s, with p99 and us/req <= it,"
      f" {every}: {'met' if l7_ok else 'NOT met'}")
print(f"goal L4 berth-lb tcp >= 1.0x HAProxy tcp in req/s, {every}: {'met' if l4_ok else 'NOT met'}")
errs = {k: sum(v[4] for v in d.values()) for k, d in runs.items()}
if any(errs.values()):
    print("wrk errors: " + ", ".join(f"{c} {p} {n}" for (c, p), n in sorted(errs.items()) if n))
for b in bad:
    print("missing: " + b)
oth = sorted(v[6] for d in runs.values() for v in d.values())
if oth:
    print(f"other work during the runs: median {med(oth):.0f}%, max {oth[-1]:.0f}% of one CPU"
          " (more than a few % makes the figures unreliable)")
print(open(header).read().strip().splitlines()[-1])
PY

[ "$do_perf" = 1 ] || exit 0

# ------------------------------------------------------------ -P: where the time goes
forget() { # drop a finished helper's pid from the cleanup list
	local i
	for i in "${!pids[@]}"; do [ "${pids[$i]}" = "$1" ] && unset 'pids[i]'; done
	return 0
}
wrk_requests() { awk '/ requests in / {print $1}' "$1"; }
for c in ka-small close-small; do
	echo "perf: berth-lb, $c, ${dur}s" >&2
	perf record -q -g -o "$out/perf-$c.data" -p "${pid[berthlb]}" -- sleep "$dur" >/dev/null 2>&1 &
	perf_pid=$!
	pids+=("$perf_pid")
	sleep 0.3
	run_one perf "$c" berth-lb "$dur"
	wait "$perf_pid" || true
	forget "$perf_pid"
	perf report -i "$out/perf-$c.data" --no-children --sort symbol -g none --percent-limit 0.5 \
		--stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | sed 's/ *- *- *$//' | head -45 \
		>"$out/perf-$c-flat.txt" || true
	perf report -i "$out/perf-$c.data" --no-children --sort dso -g none --stdio 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -10 >"$out/perf-$c-dso.txt" || true
	perf report -i "$out/perf-$c.data" --children --sort symbol -g none --percent-limit 1 \
		--stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | sed 's/ *- *- *$//' \
		>"$out/perf-$c-children.txt" || true
	echo "== perf, berth-lb, $c ($(wrk_requests "$out/wrk-perf-$c-berth-lb.txt") requests): by object"
	cat "$out/perf-$c-dso.txt"
	echo "== perf, berth-lb, $c: hottest symbols (self)"
	head -25 "$out/perf-$c-flat.txt"
	echo "== perf, berth-lb, $c: user-space functions with what they call (children; libc"
	echo "   wrappers = the syscalls' whole cost, kernel included)"
	grep '\[\.\]' "$out/perf-$c-children.txt" | grep -v ' 0000000000000000' | head -16
done

if command -v strace >/dev/null; then
	sd=3
	for p in berth-lb haproxy-http nginx berth-lb-tcp haproxy-tcp; do
		for c in ka-small close-small; do
			strace -q -c -f -p "${cpupid[$p]}" -o "$out/strace-$c-$p.txt" &
			st_pid=$!
			pids+=("$st_pid")
			sleep 0.5
			run_one strace "$c" "$p" "$sd"
			kill -INT "$st_pid" 2>/dev/null || true
			wait "$st_pid" 2>/dev/null || true
			forget "$st_pid"
		done
	done
	python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
print("== syscalls per request under strace -c (slowed down: counts, not times)")
P = ("berth-lb", "haproxy-http", "nginx", "berth-lb-tcp", "haproxy-tcp")
for c in ("ka-small", "close-small"):
    rows, tot = {}, {}
    for p in P:
        n = re.search(r"(\d+) requests in", open(f"{out}/wrk-strace-{c}-{p}.txt").read())
        n = int(n.group(1)) if n else 0
        for line in open(f"{out}/strace-{c}-{p}.txt"):
            f = line.split()
            if len(f) >= 5 and re.match(r"^[\d.]+$", f[0]) and f[-1] != "total":
                calls = int(f[3])
                rows.setdefault(f[-1], {})[p] = calls / n if n else float("nan")
        tot[p] = sum(v.get(p, 0) for v in rows.values())
    print(f"{c + ':':18s}" + "".join(f"{x:>10s}" for x in ("berth-lb", "haproxy", "nginx", "lb-tcp", "hap-tcp")))
    for name in sorted(rows, key=lambda k: -max(rows[k].values())):
        if max(rows[name].values()) < 0.05:
            continue
        print(f"  {name:16s}" + "".join(f"{rows[name].get(p, 0):10.2f}" for p in P))
    print(f"  {'total':16s}" + "".join(f"{tot[p]:10.2f}" for p in P))
PY
fi
echo "profiles in $out (perf-*.data, perf-*-flat.txt, strace-*.txt)" >&2
