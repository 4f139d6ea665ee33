#!/usr/bin/env python3
"""tests/images/helper/test_helper.py - host-side checks of berth-testhelper.

    test_helper.py --binary PATH [--source-dir DIR --binary-dir DIR]
    test_helper.py --binary PATH --reproducible --helper-source DIR \
                   --cmake CMAKE --c-compiler CC [--generator G]

Only the harmless commands run here. The escape attempts are never run on the
host (as root they would really mount, unshare, write /proc/sys...): only
`escape --list` and argument errors, which run no attempt.

The second form builds the helper again from a copy of its sources in another
directory, with a different build type and hostile CFLAGS/LDFLAGS, and
compares the bytes with the first build.
"""
import argparse
import errno
import http.client
import json
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ARGS = None

ESCAPES = [
    "mount", "umount", "pivot_root", "unshare-mnt", "unshare-pid", "unshare-net",
    "unshare-uts", "unshare-ipc", "unshare-user", "unshare-cgroup", "setns-host",
    "keyctl", "add_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
    "kexec_load", "init_module", "open_by_handle_at", "proc-sys-write",
    "sysrq-trigger", "kcore-read", "host-dev-chmod", "mknod-block", "host-procs-visible",
    "host-mounts-visible", "setuid-gain", "cap-sys-admin", "fds-above-2",
    "cwd-outside-root", "proc-self-exe-write", "sethostname", "ptrace-pid1",
]

COMMANDS = [
    "info", "ids", "sleep", "exit", "echo", "cat", "write", "signals", "ps", "kill", "http-server",
    "tcp-echo", "udp-echo", "tcp-send", "udp-send", "http-get", "resolve", "memhog",
    "cpuburn", "forkbomb", "diskfill", "escape", "tcp-proxy",
]

CAP_NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]


def run(*args, timeout=20, **kw):
    return subprocess.run([ARGS.binary, *args], capture_output=True, timeout=timeout, **kw)


def lines(out):
    return [json.loads(l) for l in out.decode().splitlines() if l.strip()]


def one(out):
    ls = lines(out)
    assert len(ls) == 1, out
    return ls[0]


def status_field(name, pid="self"):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith(name + ":"):
                return l.split(":", 1)[1].strip()
    return None


class Proc:
    """A long-running helper whose JSON lines are read with a deadline."""

    def __init__(self, *args, **kw):
        self.p = subprocess.Popen([ARGS.binary, *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, **kw)
        self.buf = b""

    def line(self, timeout=10):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no output line within {timeout}s (have {self.buf!r})")
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"EOF, exit {self.p.wait()}: "
                                         f"{self.p.stderr.read().decode()}")
                self.buf += chunk
        l, self.buf = self.buf.split(b"\n", 1)
        return json.loads(l)

    def no_line(self, wait):
        r, _, _ = select.select([self.p.stdout], [], [], wait)
        return not r and b"\n" not in self.buf

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.p.wait(timeout)

    def kill(self):
        """Always called (finally:): reap and close the pipes."""
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()


class Server(Proc):
    def __init__(self, *args):
        super().__init__(*args, "--port", "0")
        self.port = self.line()["listening"]
        assert 0 < self.port < 65536


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def http_raw(port, data, read_until_close=True, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    if read_until_close:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    s.close()
    return out


def parse_responses(data):
    """Split a byte stream into (status, headers, body) by Content-Length."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        hl = head.decode().split("\r\n")
        status = int(hl[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in hl[1:])}
        n = int(headers.get("content-length", 0))
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


class Binary(unittest.TestCase):
    def test_static_elf(self):
        with open(ARGS.binary, "rb") as f:
            elf = f.read()
        self.assertEqual(elf[:4], b"\x7fELF")
        self.assertEqual(elf[4], 2, "64-bit")
        e_type, = struct.unpack_from("<H", elf, 16)
        self.assertEqual(e_type, 2, "ET_EXEC: static, not a PIE")
        phoff, = struct.unpack_from("<Q", elf, 32)
        phentsize, phnum = struct.unpack_from("<HH", elf, 54)
        types = [struct.unpack_from("<I", elf, phoff + i * phentsize)[0] for i in range(phnum)]
        self.assertNotIn(3, types, "PT_INTERP: needs a dynamic loader")
        self.assertNotIn(2, types, "PT_DYNAMIC: dynamically linked")
        if shutil.which("file"):
            out = subprocess.run(["file", "-L", ARGS.binary], capture_output=True).stdout.decode()
            self.assertIn("statically linked", out)
        if shutil.which("ldd"):
            r = subprocess.run(["ldd", ARGS.binary], capture_output=True)
            self.assertIn(b"not a dynamic executable", r.stdout + r.stderr)
        print(f"\nberth-testhelper: {len(elf)} bytes ({len(elf) / 1024:.0f} KiB), static",
              file=sys.stderr)

    def test_no_build_paths(self):
        with open(ARGS.binary, "rb") as f:
            elf = f.read()
        for d in (ARGS.source_dir, ARGS.binary_dir):
            if d:
                self.assertNotIn(os.path.realpath(d).encode(), elf)
                self.assertNotIn(os.path.abspath(d).encode(), elf)


class Cli(unittest.TestCase):
    def test_help(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        text = r.stdout.decode()
        for c in COMMANDS:
            self.assertIn(f"\n  {c}", text)
        r = run("memhog", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("memhog MIB", r.stdout.decode())

    def test_usage_errors(self):
        self.assertEqual(run().returncode, 2)
        r = run("no-such-command")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"unknown command", r.stderr)
        for args in (["exit", "256"], ["exit", "x"], ["sleep", "-1"], ["sleep", "abc"],
                     ["memhog"], ["http-server"], ["tcp-send", "127.0.0.1", "1"],
                     ["signals", "--exit-on", "NOPE"], ["signals", "--ignore", "KILL"],
                     ["http-get", "ftp://x/"], ["escape"], ["escape", "no-such-escape"],
                     ["tcp-proxy", "1"], ["tcp-proxy", "1", "/proc/self/ns/net", "not-an-ip", "2"]):
            self.assertEqual(run(*args).returncode, 2, args)

    def test_multicall_symlinks(self):
        with tempfile.TemporaryDirectory() as d:
            for name in ("echo", "exit"):
                os.symlink(os.path.abspath(ARGS.binary), os.path.join(d, name))
            r = subprocess.run([os.path.join(d, "echo"), "x", "y z"], capture_output=True, timeout=20)
            self.assertEqual(one(r.stdout), {"argv": ["x", "y z"]})
            r = subprocess.run([os.path.join(d, "exit"), "3"], capture_output=True, timeout=20)
            self.assertEqual(r.returncode, 3)

    def test_exit(self):
        for n in (0, 3, 255):
            self.assertEqual(run("exit", str(n)).returncode, n)

    def test_echo_escaping(self):
        args = ['plain', 'q"uote', 'back\\slash', 'nl\nnl', 'tab\t', '\x01\x1f\x7f', 'é€😀', '']
        r = run("echo", *args)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout.count(b"\n"), 1)
        self.assertEqual(one(r.stdout), {"argv": args})
        # invalid UTF-8 becomes the Latin-1 reading of each bad byte
        r = subprocess.run([ARGS.binary, "echo", b"a\xffb\xc3", b"\xe2\x82"], capture_output=True,
                           timeout=20)
        self.assertEqual(one(r.stdout), {"argv": ["a\u00ffb\u00c3", "\u00e2\u0082"]})

    def test_spew(self):
        r = run("spew", "25000", "--bytes", "300")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.split(b"\n")
        self.assertEqual(out[-1], b"")
        self.assertEqual(len(out) - 1, 25000)
        for i, l in enumerate(out[:-1], 1):
            self.assertEqual(l, b"%010d " % i + b"x" * 289)
        self.assertEqual(one(r.stderr), {"spewed": 25000, "bytes": 300})
        self.assertEqual(run("spew", "2").stdout, b"0000000001 " + b"x" * 89 + b"\n0000000002 " + b"x" * 89 + b"\n")
        for bad in (["spew"], ["spew", "1", "--bytes", "10"], ["spew", "x"]):
            self.assertEqual(run(*bad).returncode, 2)

    def test_sleep(self):
        t = time.monotonic()
        r = run("sleep", "0.3")
        el = time.monotonic() - t
        self.assertEqual(r.returncode, 0)
        self.assertGreaterEqual(el, 0.3)
        self.assertLess(el, 5)
        self.assertGreaterEqual(one(r.stdout)["slept_ms"], 300)

    def test_cat_and_write(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f")
            data = bytes(range(256)) * 3
            with open(path, "wb") as f:
                f.write(data)
            r = run("cat", path)
            self.assertEqual((r.returncode, r.stdout), (0, data))
            with open(path, "wb") as f:
                f.write("line\n\"x\"\n".encode())
            self.assertEqual(one(run("cat", "--json", path).stdout),
                             {"path": path, "content": "line\n\"x\"\n"})
            r = run("cat", os.path.join(d, "missing"))
            self.assertEqual((r.returncode, r.stdout), (1, b""))
            r = run("cat", "--json", os.path.join(d, "missing"))
            self.assertEqual(r.returncode, 1)
            self.assertEqual(one(r.stdout)["errno"], "ENOENT")

            w = os.path.join(d, "w")
            self.assertEqual(one(run("write", w, "abc").stdout),
                             {"path": w, "written": 3, "errno": None})
            run("write", "--append", w, "def")
            with open(w) as f:
                self.assertEqual(f.read(), "abcdef")
            r = run("write", os.path.join(d, "no", "dir"), "x")
            self.assertEqual(r.returncode, 1)
            self.assertEqual(one(r.stdout)["errno"], "ENOENT")

    def test_ps_and_kill(self):
        p = subprocess.Popen(["sleep", "30"])
        try:
            r = run("ps")
            self.assertEqual(r.returncode, 0)
            procs = {x["pid"]: x for x in lines(r.stdout)}
            self.assertIn(p.pid, procs)
            self.assertEqual(procs[p.pid]["cmdline"], ["sleep", "30"])
            self.assertEqual(procs[p.pid]["ppid"], os.getpid())
            self.assertEqual(procs[p.pid]["uid"], os.getuid())
            self.assertEqual(procs[p.pid]["comm"], "sleep")
            self.assertIn(procs[p.pid]["state"], ("S", "R"))
            self.assertEqual(procs[os.getpid()]["ppid"], os.getppid())
            r = run("kill", "TERM", str(p.pid))
            self.assertEqual(r.returncode, 0)
            self.assertEqual(one(r.stdout), {"pid": p.pid, "signal": "SIGTERM", "errno": None})
            self.assertEqual(p.wait(timeout=10), -signal.SIGTERM)
            r = run("kill", "USR1", str(p.pid))     # reaped: gone
            self.assertEqual(r.returncode, 1)
            self.assertEqual(one(r.stdout)["errno"], "ESRCH")
            for args in (["kill", "NOPE", "1"], ["kill", "TERM"], ["kill", "TERM", "x"], ["ps", "x"]):
                self.assertEqual(run(*args).returncode, 2, args)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

    def test_info(self):
        with tempfile.TemporaryDirectory() as d:
            rd, wr = os.pipe()

            def pre():
                os.umask(0o027)
                resource.setrlimit(resource.RLIMIT_NOFILE,
                                   (777, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
            env = dict(os.environ, BERTH_T='v "w"\n')
            r = subprocess.run([ARGS.binary, "info"], capture_output=True, cwd=d, env=env,
                               stdin=subprocess.DEVNULL, pass_fds=(wr,), preexec_fn=pre,
                               timeout=20)
            os.close(rd)
            os.close(wr)
        self.assertEqual(r.returncode, 0, r.stderr)
        info = one(r.stdout)
        for k in ("pid", "ppid", "uid", "gid", "euid", "egid", "groups", "argv", "env", "cwd",
                  "hostname", "caps", "effective_names", "no_new_privs", "seccomp", "cgroup",
                  "mounts", "rlimits", "fds", "umask"):
            self.assertIn(k, info)
        self.assertEqual(info["uid"], os.getuid())
        self.assertEqual(info["uid"], int(subprocess.run(["id", "-u"], capture_output=True).stdout))
        self.assertEqual((info["gid"], info["euid"], info["egid"]),
                         (os.getgid(), os.geteuid(), os.getegid()))
        self.assertEqual(sorted(info["groups"]), sorted(os.getgroups()))
        self.assertEqual(info["ppid"], os.getpid())
        self.assertGreater(info["pid"], 1)
        self.assertEqual(info["argv"], [ARGS.binary, "info"])
        self.assertEqual(info["env"]["BERTH_T"], 'v "w"\n')
        self.assertEqual(info["cwd"], os.path.realpath(d))
        self.assertEqual(info["hostname"], socket.gethostname())
        self.assertEqual(info["umask"], "0027")
        self.assertEqual(info["fds"], sorted([0, 1, 2, wr]))
        self.assertEqual(info["rlimits"]["nofile"][0], 777)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self.assertEqual(info["rlimits"]["nofile"][1], -1 if hard == resource.RLIM_INFINITY else hard)
        self.assertEqual(len(info["rlimits"]), 16)
        # inherited from us: same capability sets, seccomp mode, nnp, cgroup
        for key, field in (("inheritable", "CapInh"), ("permitted", "CapPrm"),
                           ("effective", "CapEff"), ("bounding", "CapBnd"), ("ambient", "CapAmb")):
            self.assertEqual(info["caps"][key], status_field(field))
        eff = int(info["caps"]["effective"], 16)
        self.assertEqual(info["effective_names"],
                         [CAP_NAMES[b] if b < len(CAP_NAMES) else f"CAP_{b}"
                          for b in range(64) if eff >> b & 1])
        self.assertEqual(info["seccomp"], int(status_field("Seccomp")))
        self.assertEqual(info["no_new_privs"], status_field("NoNewPrivs") == "1")
        with open("/proc/self/cgroup") as f:
            self.assertEqual(info["cgroup"], f.read())
        with open("/proc/self/mountinfo") as f:
            mi = [l.split() for l in f]
        self.assertEqual([m["target"] for m in info["mounts"]],
                         [l[4].replace("\\040", " ") for l in mi])
        root = [m for m in info["mounts"] if m["target"] == "/"]
        self.assertTrue(root)
        self.assertEqual(set(root[0]), {"target", "fstype", "source", "options",
                                        "super_options", "root", "device"})

    def test_ids(self):
        ids = one(run("ids").stdout)
        self.assertEqual((ids["uid"], ids["euid"], ids["gid"], ids["egid"]),
                         (os.getuid(), os.geteuid(), os.getgid(), os.getegid()))

    def test_escape_list_only(self):
        r = run("escape", "--list")
        self.assertEqual(r.returncode, 0)
        listed = lines(r.stdout)
        self.assertEqual([e["escape"] for e in listed], ESCAPES)
        for e in listed:
            self.assertTrue(e["method"])


class Signals(unittest.TestCase):
    def test_default_exit_on_term(self):
        p = Proc("signals")
        try:
            ready = p.line()
            self.assertEqual(ready, {"ready": True, "pid": p.p.pid})
            p.p.send_signal(signal.SIGUSR1)
            self.assertEqual(p.line(), {"signal": "SIGUSR1", "sender_pid": os.getpid()})
            p.p.send_signal(signal.SIGTERM)
            self.assertEqual(p.line()["signal"], "SIGTERM")
            self.assertEqual(p.p.wait(10), 0)
        finally:
            p.kill()

    def test_exit_on_ignore_exit_code(self):
        p = Proc("signals", "--exit-on", "USR2", "--ignore", "SIGHUP", "--exit-code", "5")
        try:
            p.line()
            p.p.send_signal(signal.SIGHUP)      # ignored: nothing printed
            p.p.send_signal(signal.SIGTERM)     # no longer exit-on: printed only
            self.assertEqual(p.line()["signal"], "SIGTERM")
            self.assertIsNone(p.p.poll())
            p.p.send_signal(signal.SIGUSR2)
            self.assertEqual(p.line()["signal"], "SIGUSR2")
            self.assertEqual(p.p.wait(10), 5)
        finally:
            p.kill()


class Tcp(unittest.TestCase):
    @unittest.skipUnless(os.geteuid() == 0, "setns needs CAP_SYS_ADMIN")
    def test_proxy(self):
        # into this very namespace (setns to one's own is allowed): the relay
        # both ways and the half-close are what is checked
        s = Server("tcp-echo")
        port = closed_port()
        p = Proc("tcp-proxy", str(port), f"/proc/{os.getpid()}/ns/net", "127.0.0.1", str(s.port))
        try:
            self.assertEqual(p.line(), {"listening": port})
            r = run("tcp-send", "127.0.0.1", str(port), "through the proxy")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(one(r.stdout), {"reply": "through the proxy"})
        finally:
            p.kill()
            s.stop()
            s.kill()

    def test_echo_send(self):
        s = Server("tcp-echo")
        try:
            r = run("tcp-send", "127.0.0.1", str(s.port), 'hello "tcp"\n')
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(one(r.stdout), {"reply": 'hello "tcp"\n'})
            if have_ipv6():
                r = run("tcp-send", "::1", str(s.port), "six")
                self.assertEqual(one(r.stdout), {"reply": "six"})

            # concurrent connections, and one big enough to need back-pressure
            socks = [socket.create_connection(("127.0.0.1", s.port), timeout=10) for _ in range(50)]
            for i, c in enumerate(socks):
                c.sendall(f"conn {i}".encode())
                c.shutdown(socket.SHUT_WR)
            for i, c in enumerate(socks):
                got = b""
                while chunk := c.recv(4096):
                    got += chunk
                self.assertEqual(got, f"conn {i}".encode())
                c.close()
            big = os.urandom(4 << 20)
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            got = []
            reader = threading.Thread(target=lambda: got.extend(iter(lambda: c.recv(65536), b"")))
            reader.start()
            c.sendall(big)
            c.shutdown(socket.SHUT_WR)
            reader.join(20)
            self.assertEqual(b"".join(got), big)
            c.close()
            self.assertEqual(s.stop(), 0)
            self.assertEqual(s.line(), {"signal": "SIGTERM", "connections": 52 + have_ipv6()})
        finally:
            s.kill()

    def test_send_failures(self):
        r = run("tcp-send", "127.0.0.1", str(closed_port()), "x")
        self.assertEqual(r.returncode, 7)
        self.assertEqual(one(r.stdout)["error"], "ECONNREFUSED")
        # a peer that accepts and never answers: the timeout ends it
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen()
        t = time.monotonic()
        r = run("tcp-send", "127.0.0.1", str(lst.getsockname()[1]), "x", "--timeout", "0.5")
        el = time.monotonic() - t
        lst.close()
        self.assertEqual(r.returncode, 7)
        self.assertEqual(one(r.stdout)["error"], "ETIMEDOUT")
        self.assertGreaterEqual(el, 0.5)
        self.assertLess(el, 5)
        self.assertEqual(run("tcp-send", "no-such-host.invalid", "80", "x").returncode, 6)


class Udp(unittest.TestCase):
    def test_echo_send(self):
        s = Server("udp-echo")
        try:
            r = run("udp-send", "127.0.0.1", str(s.port), "hello udp")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(one(r.stdout), {"reply": "hello udp"})
            n = 1
            if have_ipv6():
                self.assertEqual(one(run("udp-send", "::1", str(s.port), "u6").stdout), {"reply": "u6"})
                n += 1
            self.assertEqual(s.stop(), 0)
            self.assertEqual(s.line(), {"signal": "SIGTERM", "datagrams": n})
        finally:
            s.kill()

    def test_refused(self):
        r = run("udp-send", "127.0.0.1", str(closed_port()), "x", "--timeout", "2")
        self.assertEqual(r.returncode, 7)
        self.assertEqual(one(r.stdout)["error"], "ECONNREFUSED")


class Http(unittest.TestCase):
    def get(self, url, *extra, env=None):
        r = run("http-get", url, *extra, env=env)
        err = [json.loads(l) for l in r.stderr.decode().splitlines() if l.startswith("{")]
        return r.returncode, r.stdout, err[-1] if err else None

    def test_bodies_statuses_and_errors(self):
        with tempfile.NamedTemporaryFile("wb") as f:
            f.write(b"from a file\n")
            f.flush()
            a = Server("http-server")
            b = Server("http-server", "--body", "custom", "--status", "503",
                       "--health-status", "500")
            c = Server("http-server", "--body", "@" + f.name)
            try:
                self.assertEqual(self.get(f"http://127.0.0.1:{a.port}/"),
                                 (0, f"hello from {socket.gethostname()}\n".encode(),
                                  {"status": 200, "bytes": len(socket.gethostname()) + 12}))
                self.assertEqual(self.get(f"http://127.0.0.1:{a.port}/health?x=1"),
                                 (0, b"ok\n", {"status": 200, "bytes": 3}))
                self.assertEqual(self.get(f"http://127.0.0.1:{b.port}/any/path"),
                                 (22, b"custom", {"status": 503, "bytes": 6}))
                self.assertEqual(self.get(f"http://127.0.0.1:{b.port}/health"),
                                 (22, b"unhealthy\n", {"status": 500, "bytes": 10}))
                self.assertEqual(self.get(f"http://127.0.0.1:{c.port}/")[1], b"from a file\n")
                if have_ipv6():
                    self.assertEqual(self.get(f"http://[::1]:{a.port}/health")[0], 0)
                # names come from /etc/hosts (here a test copy)
                with tempfile.NamedTemporaryFile("w") as hosts:
                    hosts.write("# comment\n10.9.9.9 other\n127.0.0.1   web.test  alias # x\n")
                    hosts.flush()
                    env = dict(os.environ, BERTH_HOSTS_FILE=hosts.name)
                    self.assertEqual(self.get(f"http://alias:{c.port}/x", env=env)[0], 0)
                    r = run("resolve", "WEB.test", env=env)
                    self.assertEqual(one(r.stdout), {"name": "WEB.test", "addresses": ["127.0.0.1"]})
                    self.assertEqual(run("resolve", "nope.test", env=env).returncode, 6)
                    self.assertEqual(self.get(f"http://nope.test:{c.port}/", env=env)[0], 6)
                rc, out, err = self.get(f"http://127.0.0.1:{closed_port()}/")
                self.assertEqual((rc, out, err), (7, b"", {"error": "ECONNREFUSED"}))
                for s, n in ((a, 2 + have_ipv6()), (b, 2), (c, 2)):
                    self.assertEqual(s.stop(), 0)
                    self.assertEqual(s.line()["requests"], n)
            finally:
                for s in (a, b, c):
                    s.kill()

    def test_log_requests(self):
        s = Server("http-server", "--log-requests", "--status", "404")
        quiet = Server("http-server")
        try:
            self.assertEqual(self.get(f"http://127.0.0.1:{s.port}/from-host/t1?q=2")[0], 22)
            self.assertEqual(self.get(f"http://127.0.0.1:{s.port}/health")[0], 0)
            self.assertEqual(s.line(), {"request": "GET", "path": "/from-host/t1", "status": 404})
            self.assertEqual(s.line(), {"request": "GET", "path": "/health", "status": 200})
            self.assertEqual(self.get(f"http://127.0.0.1:{quiet.port}/x")[0], 0)
            self.assertEqual(quiet.stop(), 0)
            self.assertEqual(quiet.line()["requests"], 1)   # no request line came first
        finally:
            s.kill()
            quiet.kill()

    def test_protocol(self):
        s = Server("http-server", "--body", "B")
        try:
            # pipelined HTTP/1.1, then Connection: close ends it
            data = http_raw(s.port, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                                    b"HEAD /b HTTP/1.1\r\n\r\n"
                                    b"POST /c HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                                    b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
            # HEAD: Content-Length of the body that was not sent
            head_at = data.index(b"HTTP/1.1", 1)
            first = parse_responses(data[:head_at])
            self.assertEqual([(st, body) for st, _, body in first], [(200, b"B")])
            second_hdr, _, rest = data[head_at:].partition(b"\r\n\r\n")
            self.assertIn(b"Content-Length: 1", second_hdr)
            rs = parse_responses(rest)
            self.assertEqual([(st, body) for st, _, body in rs], [(200, b"B"), (200, b"ok\n")])
            self.assertEqual(rs[-1][1]["connection"], "close")
            # HTTP/1.0 closes unless asked to keep alive
            self.assertEqual(parse_responses(http_raw(s.port, b"GET / HTTP/1.0\r\n\r\n"))[0][2], b"B")
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            for _ in range(2):
                c.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                resp = c.recv(4096)
                self.assertIn(b"Connection: keep-alive", resp)
                self.assertTrue(resp.endswith(b"\r\n\r\nB"))
            c.close()
            # garbage: 400 and close
            data = http_raw(s.port, b"NONSENSE\r\n\r\n")
            self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
            # a client that goes away mid-request does not hurt
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"GET / HTT")
            c.close()
            self.assertEqual(self.get(f"http://127.0.0.1:{s.port}/")[1], b"B")
            self.assertEqual(s.stop(), 0)
            self.assertEqual(s.line()["requests"], 4 + 1 + 2 + 1)
        finally:
            s.kill()

    def test_load_100_keepalive_connections(self):
        s = Server("http-server", "--body", "load")
        errors, done = [], []
        start = threading.Barrier(100)

        def client():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=20)
                start.wait(30)
                for _ in range(20):
                    conn.request("GET", "/")
                    r = conn.getresponse()
                    if (r.status, r.read()) != (200, b"load"):
                        errors.append(r.status)
                    done.append(1)
                conn.close()
            except Exception as e:     # noqa: BLE001 - collected and asserted below
                errors.append(repr(e))
        try:
            threads = [threading.Thread(target=client) for _ in range(100)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            self.assertEqual(errors, [])
            self.assertEqual(len(done), 2000)
            self.assertEqual(self.get(f"http://127.0.0.1:{s.port}/")[0], 0)
            self.assertEqual(s.stop(), 0)
            self.assertEqual(s.line(), {"signal": "SIGTERM", "requests": 2001, "connections": 101})
        finally:
            s.kill()

    def test_delay_does_not_serialise(self):
        s = Server("http-server", "--delay-ms", "500")
        try:
            t0 = time.monotonic()
            socks = []
            for _ in range(3):
                c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
                c.sendall(b"GET / HTTP/1.1\r\n\r\n")
                socks.append(c)
            times = []
            for c in socks:
                self.assertTrue(c.recv(4096).startswith(b"HTTP/1.1 200"))
                times.append(time.monotonic() - t0)
                c.close()
            self.assertGreaterEqual(min(times), 0.5)
            self.assertLess(max(times), 0.95, "delayed responses were serialised")
        finally:
            s.kill()

    def test_get_chunked_headers_timeout(self):
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen()
        port = lst.getsockname()[1]
        seen = {}

        def serve():
            c, _ = lst.accept()
            req = b""
            while b"\r\n\r\n" not in req:
                req += c.recv(4096)
            seen["req"] = req.decode()
            c.sendall(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"6\r\nhello \r\n5;ext=1\r\nworld\r\n0\r\n\r\n")
            time.sleep(2)     # keep it open: the client must stop on the last chunk
            c.close()
        t = threading.Thread(target=serve)
        t.start()
        t0 = time.monotonic()
        rc, out, err = self.get(f"http://127.0.0.1:{port}/p?q=1", "--header", "X-Test: yes",
                                "--header", "Host:override")
        self.assertLess(time.monotonic() - t0, 1.5)
        t.join()
        self.assertEqual((rc, out, err), (0, b"hello world", {"status": 201, "bytes": 11}))
        req = seen["req"]
        self.assertTrue(req.startswith("GET /p?q=1 HTTP/1.1\r\n"))
        self.assertIn("\r\nX-Test: yes\r\n", req)
        self.assertIn("\r\nHost: override\r\n", req)
        self.assertEqual(req.count("Host:"), 1)
        # accepted, never answered
        t0 = time.monotonic()
        rc, _, err = self.get(f"http://127.0.0.1:{port}/", "--timeout", "0.5")
        self.assertEqual((rc, err), (7, {"error": "ETIMEDOUT"}))
        self.assertLess(time.monotonic() - t0, 5)
        lst.close()


class Stress(unittest.TestCase):
    def test_memhog(self):
        r = run("memhog", "8", "--step", "4", "--hold", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(lines(r.stdout), [{"allocated_mib": 4}, {"allocated_mib": 8},
                                           {"done": True, "allocated_mib": 8}])
        # holding (the default): the pages are really there. VmRSS, not
        # ru_maxrss, which carries over the forking Python's high-water mark.
        p = Proc("memhog", "8")
        try:
            while not p.line().get("done"):
                pass
            rss_kib = int(status_field("VmRSS", p.p.pid).split()[0])
            self.assertGreaterEqual(rss_kib, 8 * 1024, "pages were not touched")
            self.assertIsNone(p.p.poll(), "memhog did not hold")
        finally:
            p.kill()

    def test_cpuburn(self):
        for threads in (1, 2):
            p = subprocess.Popen([ARGS.binary, "cpuburn", "--ms", "200", "--threads", str(threads)],
                                 stdout=subprocess.PIPE)
            out = p.stdout.read()
            p.stdout.close()
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = 0
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
            r = one(out)
            self.assertEqual(r["threads"], threads)
            self.assertGreaterEqual(r["wall_ms"], 200)
            self.assertLess(r["wall_ms"], 2000)
            self.assertGreater(r["cpu_ms"], 20)
            self.assertLessEqual(r["cpu_ms"], threads * r["wall_ms"] + 20)
            self.assertAlmostEqual(r["ratio"], r["cpu_ms"] / r["wall_ms"], delta=0.02)
            # the kernel's count for the whole process agrees
            self.assertGreaterEqual((ru.ru_utime + ru.ru_stime) * 1000, r["cpu_ms"] - 20)

    def test_forkbomb_bounded(self):
        p = Proc("forkbomb", "--max", "5", "--hold-ms", "500")
        try:
            self.assertEqual(p.line(), {"forked": 5, "errno": None})
            kids = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == p.p.pid:
                            kids.append(int(pid))
                except (OSError, IndexError):
                    pass
            self.assertEqual(len(kids), 5)
            self.assertEqual(p.line(), {"reaped": 5})
            self.assertEqual(p.p.wait(10), 0)
            for k in kids:
                self.assertFalse(os.path.exists(f"/proc/{k}"), f"child {k} survived")
        finally:
            p.kill()

    def test_diskfill(self):
        with tempfile.TemporaryDirectory() as d:
            r = run("diskfill", d, "--max-mib", "2")
            self.assertEqual(r.returncode, 0, r.stderr)
            path = os.path.join(d, "diskfill.bin")
            self.assertEqual(one(r.stdout), {"written_mib": 2, "errno": None, "path": path})
            self.assertEqual(os.path.getsize(path), 2 << 20)
            # a file-size limit stands in for a full disk: EFBIG, not a kill
            f = os.path.join(d, "small")
            r = run("diskfill", f, preexec_fn=lambda: resource.setrlimit(
                resource.RLIMIT_FSIZE, (3 << 19, resource.RLIM_INFINITY)))
            self.assertEqual(r.returncode, 1)
            self.assertEqual(one(r.stdout), {"written_mib": 1, "errno": "EFBIG", "path": f})
            r = run("diskfill", os.path.join(d, "gone"), "--max-mib", "1", "--unlink")
            self.assertEqual(r.returncode, 0)
            self.assertFalse(os.path.exists(os.path.join(d, "gone")))


def reproducible():
    """Build the helper again elsewhere and compare bytes."""
    with open(ARGS.binary, "rb") as f:
        first = f.read()
    with tempfile.TemporaryDirectory(prefix="berth-repro-") as tmp:
        src = os.path.join(tmp, "a", "different", "tree", "helper")
        shutil.copytree(ARGS.helper_source, src,
                        ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.pyc"))
        build = os.path.join(tmp, "elsewhere-build")
        env = dict(os.environ, CFLAGS="-O0 -g -DNOISE=1", LDFLAGS="-Wl,--build-id=sha1")
        cfg = [ARGS.cmake, "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
               f"-DCMAKE_C_COMPILER={ARGS.c_compiler}"]
        if ARGS.generator:
            cfg += ["-G", ARGS.generator]
        for cmd in (cfg, [ARGS.cmake, "--build", build, "-j2"]):
            r = subprocess.run(cmd, capture_output=True, env=env, timeout=600)
            if r.returncode:
                print(r.stdout.decode(), r.stderr.decode())
                print(f"FAIL: {' '.join(cmd)} exited {r.returncode}")
                return 1
        with open(os.path.join(build, "bin", "berth-testhelper"), "rb") as f:
            second = f.read()
    if first != second:
        diff = next(i for i in range(min(len(first), len(second)) + 1)
                    if i == min(len(first), len(second)) or first[i] != second[i])
        print(f"FAIL: not reproducible: {len(first)} vs {len(second)} bytes, "
              f"first difference at offset {diff}")
        return 1
    print(f"ok: second build from another directory is byte-identical ({len(first)} bytes)")
    return 0


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--source-dir")
    ap.add_argument("--binary-dir")
    ap.add_argument("--reproducible", action="store_true")
    ap.add_argument("--helper-source")
    ap.add_argument("--cmake", default="cmake")
    ap.add_argument("--c-compiler", default="cc")
    ap.add_argument("--generator")
    ARGS, rest = ap.parse_known_args()
    ARGS.binary = os.path.abspath(ARGS.binary)
    if ARGS.reproducible:
        return reproducible()
    prog = unittest.main(argv=[sys.argv[0], "-v", *rest], exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
