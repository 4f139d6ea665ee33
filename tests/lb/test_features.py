#!/usr/bin/env python3
"""berth-lb: WebSocket tunnels, UDP listeners, the control API, metrics,
draining, health-check eviction and return, a target killed under load and
5,000 concurrent connections (loopback only, no privilege).

    test_features.py /path/to/berth-lb [WORKERS]

berth-lb runs with --config, --control, --metrics and --workers WORKERS
(default 2: every check holds with several workers, which share the
configuration, control changes and health states); targets are Python
servers in this process, and one (the target killed under load) is a child
process of its own (this file run with --serve PORT NAME)."""
import asyncio
import http.client
import json
import os
import resource
import selectors
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lbtest import free_port, read_to_eof

LB = None
PROC = None
WORKERS = 2
PORTS = {}
CTL = None
T0 = 0.0
SERVERS = {}




def make_handler(name):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            if name == "hc-sick" and self.path == "/":  # fails its health checks only
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if "slow" in self.path:
                time.sleep(float(self.path.rsplit("=", 1)[1]))
            payload = json.dumps({"backend": name, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
    return H


class Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


def http_backend(name, port=None):
    port = port or free_port()
    srv = Quiet(("127.0.0.1", port), make_handler(name))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    PORTS[name] = port
    SERVERS[name] = srv
    return srv


def ws_backend():
    """101 for 'Upgrade: websocket' then echo bytes; /no: 426 and stay HTTP."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    PORTS["ws"] = ls.getsockname()[1]

    def serve(c):
        f = c.makefile("rb")
        while True:
            line = f.readline()
            if not line:
                return
            path = line.split()[1]
            hdrs = {}
            while True:
                h = f.readline()
                if h in (b"\r\n", b""):
                    break
                k, v = h.decode().split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
            up = hdrs.get("upgrade") == "websocket" and "upgrade" in hdrs.get("connection", "").lower()
            if path == b"/no" or not up:
                body = b"no upgrade here"
                c.sendall(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                continue
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"X-Seen-Xff: " + hdrs.get("x-forwarded-for", "").encode() + b"\r\n\r\nhello")
            # the tunnel: echo what f buffered and what follows
            while True:
                d = f.read1(65536)
                if not d:
                    break
                c.sendall(d)
            c.shutdown(socket.SHUT_WR)
            return

    def loop():
        while True:
            c, _ = ls.accept()
            threading.Thread(target=lambda: (serve(c), c.close()), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def once_backend():
    """Answers the first request of each connection (keep-alive) and closes
    the connection when the next request arrives, unanswered: a target that
    timed out an idle connection just as berth-lb reused it."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    PORTS["once"] = ls.getsockname()[1]

    def serve(c):
        f = c.makefile("rb")
        for n in range(2):
            line = f.readline()
            if not line:
                return
            hdrs = {}
            while True:
                h = f.readline()
                if h in (b"\r\n", b""):
                    break
                k, v = h.decode().split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
            if n == 1:
                return  # close without an answer
            f.read(int(hdrs.get("content-length", "0")))
            body = line.split()[1]
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def loop():
        while True:
            c, _ = ls.accept()
            threading.Thread(target=lambda: (serve(c), c.close()), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def udp_backend(name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    PORTS[name] = s.getsockname()[1]

    def loop():
        while True:
            d, a = s.recvfrom(65536)
            s.sendto(name.encode() + b"|" + d, a)
    threading.Thread(target=loop, daemon=True).start()


def fast_backend():
    """asyncio keep-alive server: one fixed answer per request head."""
    port = free_port()
    PORTS["fast"] = port
    ready = threading.Event()

    async def handle(r, w):
        try:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                if not head:
                    break
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast")
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        w.close()

    def run():
        loop = asyncio.new_event_loop()
        srv = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", port, backlog=4096))
        ready.set()
        loop.run_until_complete(srv.serve_forever())
    threading.Thread(target=run, daemon=True).start()
    ready.wait(5)


def child_backend(name):
    port = free_port()
    PORTS[name] = port
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", str(port), name])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("child backend did not start")


def ctl(req):
    s = socket.socket(socket.AF_UNIX)
    s.connect(CTL)
    s.sendall(json.dumps(req).encode() + b"\n")
    out = b""
    while not out.endswith(b"\n"):
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    return json.loads(out)


def health(group):
    r = ctl({"Action": "DescribeTargetHealth", "TargetGroup": group})
    assert r["Ok"], r
    return {d["Target"]["Address"]: d["TargetHealth"]["State"] for d in r["TargetHealthDescriptions"]}


def tgt(name):
    return "127.0.0.1:%d" % PORTS[name]


def get(port, path, conn=None, timeout=10):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read(), c


def config():
    def tg(name, targets, **kw):
        d = {"Name": name, "Targets": [tgt(t) for t in targets], "HealthCheckEnabled": False}
        d.update(kw)
        return d
    for k in ("ws_l", "drain_l", "kill_l", "hc_l", "many_l", "udp_l", "once_l"):
        PORTS[k] = free_port(socket.SOCK_DGRAM if k == "udp_l" else socket.SOCK_STREAM)
    hc = dict(HealthCheckEnabled=True, HealthCheckPath="/", HealthCheckIntervalSeconds=5,
              HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2, UnhealthyThresholdCount=2)
    return {
        "TargetResponseTimeoutSeconds": 10,
        "TargetGroups": [
            tg("ws", ["ws"]),
            tg("drain", ["d1", "d2"], DeregistrationDelaySeconds=30),
            tg("kill", ["k-live", "k-victim"], **hc),
            tg("hc", ["hc-live", "hc-flappy", "hc-sick"], **hc),
            tg("many", ["fast"]),
            tg("once", ["once"]),
            tg("udp", ["u1", "u2", "u3"], HealthCheckProtocol="TCP"),
        ],
        "Listeners": [
            {"Port": PORTS["ws_l"], "Address": "127.0.0.1", "Protocol": "HTTP", "TargetGroup": "ws",
             "IdleTimeoutSeconds": 1},
            {"Port": PORTS["drain_l"], "Address": "127.0.0.1", "Protocol": "HTTP", "TargetGroup": "drain"},
            {"Port": PORTS["kill_l"], "Address": "127.0.0.1", "Protocol": "HTTP", "TargetGroup": "kill"},
            {"Port": PORTS["hc_l"], "Address": "127.0.0.1", "Protocol": "HTTP", "TargetGroup": "hc"},
            {"Port": PORTS["many_l"], "Address": "127.0.0.1", "Protocol": "HTTP", "TargetGroup": "many"},
            {"Port": PORTS["once_l"], "Address": "127.0.0.1", "Protocol": "HTTP", "TargetGroup": "once"},
            {"Port": PORTS["udp_l"], "Address": "127.0.0.1", "Protocol": "UDP", "TargetGroup": "udp",
             "IdleTimeoutSeconds": 0.5},
        ],
    }


def read_head(s):
    out = b""
    while b"\r\n\r\n" not in out:
        d = s.recv(4096)
        if not d:
            break
        out += d
    return out


class Features(unittest.TestCase):
    def test_websocket_tunnel(self):
        s = socket.create_connection(("127.0.0.1", PORTS["ws_l"]), timeout=10)
        s.sendall(b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n"
                  b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n")
        out = read_head(s)
        head, rest = out.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        self.assertIn(b"\r\nUpgrade: websocket", head)
        self.assertIn(b"\r\nConnection: Upgrade", head)
        self.assertIn(b"X-Seen-Xff: 127.0.0.1", head)
        # bytes the target sent right after its head, then an echo both ways
        while len(rest) < 5:
            rest += s.recv(5 - len(rest))
        self.assertEqual(rest, b"hello")
        payload = os.urandom(300000)
        threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)),
                         daemon=True).start()
        got = read_to_eof(s)
        s.close()
        self.assertEqual(got, payload)
        st = ctl({"Action": "GetStats"})["Stats"]
        self.assertGreaterEqual(st["RequestsByCode"].get("101", 0), 1)

    def test_websocket_idle_timeout(self):
        # the listener's IdleTimeoutSeconds (1 s here) closes an idle tunnel
        # and an idle kept-alive client connection; traffic keeps them open
        s = socket.create_connection(("127.0.0.1", PORTS["ws_l"]), timeout=10)
        s.sendall(b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        out = read_head(s)
        self.assertTrue(out.startswith(b"HTTP/1.1 101 "), out)
        for i in range(4):  # 2 s of traffic, never 1 s idle
            time.sleep(0.5)
            s.sendall(b"ping%d" % i)
            got = b""
            while not got.endswith(b"ping%d" % i):
                got += s.recv(4096)
        t = time.monotonic()
        self.assertEqual(s.recv(4096), b"")  # closed by berth-lb
        self.assertLess(time.monotonic() - t, 2.5)
        self.assertGreater(time.monotonic() - t, 0.8)
        s.close()
        s = socket.create_connection(("127.0.0.1", PORTS["ws_l"]), timeout=10)
        s.sendall(b"GET /no HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(read_head(s).startswith(b"HTTP/1.1 426 "))
        t = time.monotonic()
        while s.recv(4096):
            pass
        self.assertLess(time.monotonic() - t, 2.5)
        s.close()

    def test_websocket_refused_stays_http(self):
        s = socket.create_connection(("127.0.0.1", PORTS["ws_l"]), timeout=10)
        s.sendall(b"GET /no HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                  b"GET /no HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = read_to_eof(s)
        s.close()
        self.assertEqual(out.count(b"HTTP/1.1 426 "), 2, out)

    def test_replay_on_reused_connection(self):
        # one client connection (so one worker and its pool): the second
        # request goes on the pooled connection, which the target closes
        # unanswered; a GET is sent again on a new connection, a POST is not
        c = http.client.HTTPConnection("127.0.0.1", PORTS["once_l"], timeout=10)
        for path in ("/a", "/b", "/c"):
            c.request("GET", path)
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, path.encode()))
        c.request("POST", "/d", body=b"data")
        r = c.getresponse()
        self.assertEqual(r.status, 502)
        r.read()
        c.close()

    def test_udp_flow_affinity(self):
        socks = []
        first = {}
        for i in range(48):
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.settimeout(5)
            c.bind(("127.0.0.1", 0))
            socks.append(c)
        for rnd in range(4):
            for i, c in enumerate(socks):
                c.sendto(b"msg %d %d" % (i, rnd), ("127.0.0.1", PORTS["udp_l"]))
            for i, c in enumerate(socks):
                d, a = c.recvfrom(65536)
                self.assertEqual(a, ("127.0.0.1", PORTS["udp_l"]), "reply not from the listener")
                name, body = d.split(b"|", 1)
                self.assertEqual(body, b"msg %d %d" % (i, rnd))
                # the same flow stays on the same target
                self.assertEqual(first.setdefault(i, name), name, "flow %d moved" % i)
        self.assertGreaterEqual(len(set(first.values())), 2, first)
        self.assertEqual(ctl({"Action": "GetStats"})["Stats"]["ActiveUdpFlows"], 48)
        # a fourth target: the open flows stay where they are (the flow
        # table, not only the hash) ...
        r = ctl({"Action": "RegisterTargets", "TargetGroup": "udp", "Targets": [tgt("u4")]})
        self.assertTrue(r["Ok"], r)
        for i, c in enumerate(socks):
            c.sendto(b"still", ("127.0.0.1", PORTS["udp_l"]))
            d, a = c.recvfrom(65536)
            self.assertEqual(d.split(b"|", 1)[0], first[i], "open flow %d moved" % i)
        # ... until they expire (IdleTimeoutSeconds 0.5) and are hashed
        # again: each goes to its old target or to the new one, and some
        # (1/4 expected; none: p = 0.75^48 ~ 1e-6) to the new one
        time.sleep(1.2)
        self.assertEqual(ctl({"Action": "GetStats"})["Stats"]["ActiveUdpFlows"], 0)
        moved = 0
        for i, c in enumerate(socks):
            c.sendto(b"again", ("127.0.0.1", PORTS["udp_l"]))
            d, a = c.recvfrom(65536)
            name = d.split(b"|", 1)[0]
            self.assertIn(name, (first[i], b"u4"), "flow %d moved to an old target" % i)
            moved += name == b"u4"
            c.close()
        self.assertGreater(moved, 0)
        self.assertLess(moved, 48)

    def test_control_api(self):
        self.assertEqual(stat.S_IMODE(os.stat(CTL).st_mode), 0o600)
        port = free_port()
        r = ctl({"Action": "CreateTargetGroup", "TargetGroup": {
            "Name": "live", "Targets": [tgt("c1")], "HealthCheckEnabled": False}})
        self.assertTrue(r["Ok"], r)
        r = ctl({"Action": "CreateTargetGroup", "TargetGroup": {"Name": "live", "Targets": []}})
        self.assertEqual(r["Error"]["Code"], "DuplicateName", r)
        r = ctl({"Action": "CreateListener", "Listener": {
            "Port": port, "Address": "127.0.0.1", "Protocol": "HTTP", "TargetGroup": "live"}})
        self.assertTrue(r["Ok"], r)
        st, body, keep = get(port, "/one")
        self.assertEqual((st, json.loads(body)["backend"]), (200, "c1"))
        # every worker has the new listener (the kernel spreads connections)
        before = ctl({"Action": "GetStats"})["Stats"]["ConnectionsByWorker"]
        for i in range(24):
            self.assertEqual(get(port, "/spread")[0], 200)
        after = ctl({"Action": "GetStats"})["Stats"]["ConnectionsByWorker"]
        self.assertTrue(all(a > b for a, b in zip(after, before)), (before, after))
        # targets come and go; a deregistered one takes no new requests
        self.assertTrue(ctl({"Action": "RegisterTargets", "TargetGroup": "live", "Targets": [tgt("c2")]})["Ok"])
        seen = {json.loads(get(port, "/x")[1])["backend"] for _ in range(6)}
        self.assertEqual(seen, {"c1", "c2"})
        self.assertTrue(ctl({"Action": "DeregisterTargets", "TargetGroup": "live", "Targets": [tgt("c1")]})["Ok"])
        seen = {json.loads(get(port, "/x")[1])["backend"] for _ in range(6)}
        self.assertEqual(seen, {"c2"})
        self.assertEqual(health("live"), {tgt("c2"): "initial"})
        # rules changed live
        r = ctl({"Action": "ModifyListener", "Port": port, "Rules": [
            {"Priority": 1, "Conditions": [{"Field": "path-pattern", "Values": ["/fixed"]}],
             "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {
                 "StatusCode": "200", "ContentType": "text/plain", "MessageBody": "rule"}}]}],
            "TargetGroup": "live"})
        self.assertTrue(r["Ok"], r)
        self.assertEqual(get(port, "/fixed")[:2], (200, b"rule"))
        # a group in use cannot go; errors have codes
        self.assertEqual(ctl({"Action": "DeleteTargetGroup", "Name": "live"})["Error"]["Code"], "ResourceInUse")
        self.assertEqual(ctl({"Action": "Nope"})["Error"]["Code"], "UnknownAction")
        self.assertEqual(ctl({"Action": "RegisterTargets", "TargetGroup": "live",
                              "Targets": ["nope"]})["Error"]["Code"], "ValidationError")
        # several requests on one control connection, one answer per line
        s = socket.socket(socket.AF_UNIX)
        s.connect(CTL)
        s.sendall(b'{"Action": "DescribeListeners"}\n{not json}\n{"Action": "DescribeTargetGroups"}\n')
        f = s.makefile("rb")
        lines = [json.loads(f.readline()) for _ in range(3)]
        s.close()
        self.assertTrue(lines[0]["Ok"] and lines[2]["Ok"], lines)
        self.assertIn(port, [l["Port"] for l in lines[0]["Listeners"]])
        self.assertEqual(lines[1]["Error"]["Code"], "ValidationError")
        # deleting the listener: no new connections, the open one goes on
        self.assertTrue(ctl({"Action": "DeleteListener", "Port": port})["Ok"])
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        st, body, _ = get(port, "/still", conn=keep)
        self.assertEqual((st, json.loads(body)["backend"]), (200, "c2"))
        keep.close()
        self.assertTrue(ctl({"Action": "DeleteTargetGroup", "Name": "live"})["Ok"])

    def test_control_deletes_with_live_objects(self):
        # a group with pooled target connections and a UDP listener with open
        # flows are deleted; berth-lb frees them safely (ASan builds check)
        port, uport = free_port(), free_port(socket.SOCK_DGRAM)
        self.assertTrue(ctl({"Action": "CreateTargetGroup", "TargetGroup": {
            "Name": "tmp", "Targets": [tgt("c1")], "HealthCheckEnabled": False}})["Ok"])
        self.assertTrue(ctl({"Action": "CreateTargetGroup", "TargetGroup": {
            "Name": "tmpu", "Targets": [tgt("u1")], "HealthCheckEnabled": False}})["Ok"])
        self.assertTrue(ctl({"Action": "CreateListener", "Listener": {
            "Port": port, "Address": "127.0.0.1", "Protocol": "HTTP", "TargetGroup": "tmp"}})["Ok"])
        self.assertTrue(ctl({"Action": "CreateListener", "Listener": {
            "Port": uport, "Address": "127.0.0.1", "Protocol": "UDP", "TargetGroup": "tmpu"}})["Ok"])
        r = ctl({"Action": "CreateListener", "Listener": {
            "Port": uport, "Address": "127.0.0.1", "Protocol": "UDP", "TargetGroup": "tmpu"}})
        self.assertEqual(r["Error"]["Code"], "DuplicateName", r)
        st, body, keep = get(port, "/pooled")
        self.assertEqual(st, 200)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(3)
        u.sendto(b"x", ("127.0.0.1", uport))
        self.assertEqual(u.recvfrom(100)[0], b"u1|x")
        self.assertTrue(ctl({"Action": "DeleteListener", "Port": uport, "Protocol": "UDP"})["Ok"])
        self.assertTrue(ctl({"Action": "DeleteTargetGroup", "Name": "tmpu"})["Ok"])
        # the HTTP listener moves to another group; the old one (with an idle
        # pooled connection) is deleted while a client connection is open
        self.assertTrue(ctl({"Action": "ModifyListener", "Port": port, "TargetGroup": "drain"})["Ok"])
        self.assertTrue(ctl({"Action": "DeleteTargetGroup", "Name": "tmp"})["Ok"])
        st, body, _ = get(port, "/after", conn=keep)
        self.assertEqual((st, json.loads(body)["backend"] in ("d1", "d2")), (200, True))
        keep.close()
        self.assertTrue(ctl({"Action": "DeleteListener", "Port": port})["Ok"])
        self.assertEqual(ctl({"Action": "DeleteListener", "Port": port})["Error"]["Code"],
                         "ListenerNotFound")
        u.close()

    def test_draining(self):
        # six slow requests in flight on both targets; d1 is deregistered:
        # they all finish (0 failed), new requests go to d2 only
        results = []

        def slow(i):
            st, body, c = get(PORTS["drain_l"], "/slow?s=1.5")
            results.append((st, json.loads(body)["backend"]))
            c.close()
        ts = [threading.Thread(target=slow, args=(i,)) for i in range(6)]
        for t in ts:
            t.start()
        time.sleep(0.5)
        r = ctl({"Action": "DeregisterTargets", "TargetGroup": "drain", "Targets": [tgt("d1")]})
        self.assertTrue(r["Ok"], r)
        self.assertEqual(health("drain")[tgt("d1")], "draining")
        for i in range(4):
            st, body, c = get(PORTS["drain_l"], "/new")
            c.close()
            self.assertEqual((st, json.loads(body)["backend"]), (200, "d2"))
        for t in ts:
            t.join()
        # all six succeeded; with one worker round robin puts three on each
        # target, with several each worker's first pick is d1
        self.assertEqual(len(results), 6)
        self.assertTrue(all(st == 200 for st, _ in results), results)
        self.assertGreaterEqual([b for _, b in results].count("d1"), 1 if WORKERS > 1 else 3)
        # the last in-flight request ended the drain (before the 30 s delay)
        self.assertNotIn(tgt("d1"), health("drain"))

    def test_target_killed_under_load(self):
        # wait for both targets to be healthy (probes at 0 and 5 s)
        deadline = time.monotonic() + 12
        while set(health("kill").values()) != {"healthy"}:
            self.assertLess(time.monotonic(), deadline, health("kill"))
            time.sleep(0.2)
        stop = threading.Event()
        log = []  # (time, status)

        def load():
            c = None
            while not stop.is_set():
                try:
                    st, _, c = get(PORTS["kill_l"], "/slow?s=0.05", conn=c)
                except (OSError, http.client.HTTPException):
                    st, c = 0, None
                if st != 200 and c:
                    c.close()
                    c = None
                log.append((time.monotonic(), st))
        ts = [threading.Thread(target=load) for _ in range(4)]
        for t in ts:
            t.start()
        time.sleep(0.5)
        SERVERS["k-victim"].kill()
        killed = time.monotonic()
        deadline = killed + 15
        while health("kill")[tgt("k-victim")] != "unhealthy":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        evicted = time.monotonic()
        time.sleep(1)
        stop.set()
        for t in ts:
            t.join()
        before = [x for x in log if x[0] < killed]
        failed = [x for x in log if x[1] != 200]
        self.assertTrue(before and all(x[1] == 200 for x in before))
        # only requests in flight to the victim fail: at most one per client
        self.assertLessEqual(len(failed), len(ts), failed[:8])
        self.assertFalse([x for x in failed if x[0] > evicted], "failures after eviction")
        self.assertGreater(len([x for x in log if x[0] > evicted]), 10)

    def test_many_connections(self):
        n = 5000
        sel = selectors.DefaultSelector()
        socks = []
        for i in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", PORTS["many_l"]))
            socks.append(s)
            sel.register(s, selectors.EVENT_WRITE, [b"GET /c%d HTTP/1.1\r\nHost: x\r\n\r\n" % i, b""])
        done = 0
        deadline = time.monotonic() + 40
        while done < n:
            self.assertLess(time.monotonic(), deadline, "%d of %d answered" % (done, n))
            for key, ev in sel.select(timeout=1):
                s, st = key.fileobj, key.data
                if ev & selectors.EVENT_WRITE:
                    try:
                        s.send(st[0])
                    except BlockingIOError:
                        continue
                    sel.modify(s, selectors.EVENT_READ, st)
                    continue
                d = s.recv(4096)
                self.assertTrue(d, "connection closed")
                st[1] += d
                if st[1].endswith(b"\r\n\r\nfast"):
                    self.assertTrue(st[1].startswith(b"HTTP/1.1 200 "), st[1])
                    sel.unregister(s)
                    done += 1
        # all 5,000 are open at once (kept alive), spread over the workers
        # (the kernel's SO_REUSEPORT hash: every worker gets some)
        stats = ctl({"Action": "GetStats"})["Stats"]
        self.assertGreaterEqual(stats["ActiveHttp"], n)
        self.assertEqual(len(stats["ConnectionsByWorker"]), WORKERS)
        self.assertTrue(all(c > 100 for c in stats["ConnectionsByWorker"]), stats["ConnectionsByWorker"])
        for s in socks:
            s.close()
        sel.close()

    def test_zz_health_eviction_and_return(self):
        # hc-flappy was dead at start (unhealthy after two probes, ~5 s) and
        # came up then: two good probes make it healthy again (~10 s later)
        deadline = T0 + 22
        while "started" not in FLAPPY and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(FLAPPY.get("state_before_start"), "unhealthy")
        deadline = FLAPPY["started"] + 14
        while health("hc")[tgt("hc-flappy")] != "healthy":
            self.assertLess(time.time(), deadline, health("hc"))
            time.sleep(0.2)
        # hc-sick answers requests but fails its checks: no worker sends it
        # any (the followers learn the states from the leader's probes)
        self.assertEqual(health("hc")[tgt("hc-sick")], "unhealthy")
        seen = [json.loads(get(PORTS["hc_l"], "/x")[1])["backend"] for _ in range(16)]
        self.assertEqual(set(seen), {"hc-live", "hc-flappy"})

    def test_zz_metrics(self):
        c = http.client.HTTPConnection("127.0.0.1", PORTS["metrics"], timeout=5)
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
        self.assertEqual(r.status, 200)
        m = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                m[k] = float(v)
        self.assertGreater(m['berth_lb_requests_total{code="200"}'], 5000)
        self.assertEqual(m['berth_lb_request_duration_seconds_bucket{le="+Inf"}'],
                         m["berth_lb_request_duration_seconds_count"])
        self.assertGreater(m['berth_lb_bytes_total{direction="in"}'], 300000)
        self.assertGreater(m['berth_lb_bytes_total{direction="out"}'], 300000)
        self.assertIn('berth_lb_active_connections{kind="http"}', m)
        self.assertEqual(m['berth_lb_target_health{target_group="hc",target="%s",state="healthy"}'
                           % tgt("hc-live")], 1)
        self.assertEqual(m['berth_lb_target_health{target_group="kill",target="%s",state="unhealthy"}'
                           % tgt("k-victim")], 1)


FLAPPY = {}


def flappy_timeline():
    # dead until the health checks call it unhealthy (two failed probes,
    # about 5 s after start), then up
    while time.time() < T0 + 20:
        state = health("hc").get(tgt("hc-flappy"))
        if state == "unhealthy":
            break
        time.sleep(0.1)
    FLAPPY["state_before_start"] = state
    FLAPPY["started"] = time.time()
    http_backend("hc-flappy", PORTS["hc-flappy"])


def serve_child(port, name):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    srv = Quiet(("127.0.0.1", port), make_handler(name))
    srv.serve_forever()


def main():
    global PROC, CTL, T0, WORKERS
    if sys.argv[1] == "--serve":
        serve_child(int(sys.argv[2]), sys.argv[3])
        return
    lb = sys.argv.pop(1)
    if len(sys.argv) > 1 and sys.argv[1].isdigit():
        WORKERS = int(sys.argv.pop(1))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for n in ("d1", "d2", "k-live", "hc-live", "hc-sick", "c1", "c2"):
        http_backend(n)
    SERVERS["k-victim"] = child_backend("k-victim")
    PORTS["hc-flappy"] = free_port()
    ws_backend()
    once_backend()
    fast_backend()
    for n in ("u1", "u2", "u3", "u4"):
        udp_backend(n)
    tmp = tempfile.mkdtemp()
    CTL = os.path.join(tmp, "ctl.sock")
    path = os.path.join(tmp, "lb.json")
    with open(path, "w") as f:
        json.dump(config(), f)
    PORTS["metrics"] = free_port()
    PROC = subprocess.Popen([lb, "--config", path, "--control", CTL,
                             "--metrics", "127.0.0.1:%d" % PORTS["metrics"],
                             "--workers", str(WORKERS)])
    T0 = time.time()
    ok = False
    try:
        for _ in range(100):
            if os.path.exists(CTL):
                break
            if PROC.poll() is not None:
                sys.exit("berth-lb exited with %d" % PROC.returncode)
            time.sleep(0.05)
        threading.Thread(target=flappy_timeline, daemon=True).start()
        prog = unittest.main(exit=False, verbosity=2)
        ok = prog.result.wasSuccessful()
        if PROC.poll() is not None:
            print("berth-lb died: %d" % PROC.returncode)
            ok = False
    finally:
        PROC.terminate()
        rc = PROC.wait(timeout=10)
        if SERVERS["k-victim"].poll() is None:
            SERVERS["k-victim"].kill()
        for n in ("lb.json", "ctl.sock"):
            if os.path.exists(os.path.join(tmp, n)):
                os.unlink(os.path.join(tmp, n))
        os.rmdir(tmp)
    if rc != 0:
        print("berth-lb exited with %d after SIGTERM" % rc)
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
