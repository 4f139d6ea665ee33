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
    "cpuburn", "forkbomb", "diskfill", "escape", "tcp-proxy", "dns-query", "dns-serve",
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
            # Popen returns once the exec has closed its close-on-exec
            # pipe; the kernel sets the new cmdline a little later (once
            # failed in CI with an empty cmdline): wait for it
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                with open("/proc/%d/cmdline" % p.pid, "rb") as f:
                    if f.read() == b"sleep\x0030\x00":
                        break
                time.sleep(0.01)
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


def dns_wire(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_rr(owner, rtype, ttl, rdata, rclass=1):
    """owner: wire bytes (a name or a b"\\xc0\\x0c" pointer)."""
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def dns_parse_query(q):
    qid, flags, qd, an, ns, ar = struct.unpack("!6H", q[:12])
    pos, labels = 12, []
    while q[pos]:
        labels.append(q[pos + 1:pos + 1 + q[pos]].decode())
        pos += 1 + q[pos]
    qtype, qclass = struct.unpack("!HH", q[pos + 1:pos + 5])
    return {"id": qid, "flags": flags, "counts": (qd, an, ns, ar), "name": ".".join(labels),
            "qtype": qtype, "qclass": qclass, "question": q[12:pos + 5], "len": len(q)}


def dns_reply(q, flags=0x8400, answers=(), authority=(), additional=(), qid=None, question=None):
    """A reply to query q (bytes): same ID and question unless overridden."""
    p = dns_parse_query(q)
    head = struct.pack("!6H", p["id"] if qid is None else qid, flags | (p["flags"] & 0x0100),
                       1, len(answers), len(authority), len(additional))
    return (head + (p["question"] if question is None else question)
            + b"".join(answers) + b"".join(authority) + b"".join(additional))


class FakeDns:
    """UDP and TCP on 127.0.0.1, the same port; handler(query, tcp) returns
    the reply (bytes), None for no reply, or ("raw", bytes) for TCP bytes sent
    as they are (no length prefix). Every query is kept in .queries."""

    def __init__(self, handler):
        self.handler = handler
        self.queries = []
        for _ in range(20):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket()
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        self.tcp.listen()
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            r, _, _ = select.select([self.udp, self.tcp], [], [], 0.05)
            if self.udp in r:
                q, addr = self.udp.recvfrom(65536)
                self.queries.append(("udp", q))
                rep = self.handler(q, False)
                if rep is not None:
                    self.udp.sendto(rep, addr)
            if self.tcp in r:
                c, _ = self.tcp.accept()
                c.settimeout(5)
                try:
                    n, = struct.unpack("!H", c.recv(2, socket.MSG_WAITALL))
                    q = c.recv(n, socket.MSG_WAITALL)
                    self.queries.append(("tcp", q))
                    rep = self.handler(q, True)
                    if isinstance(rep, tuple):
                        c.sendall(rep[1])
                    elif rep is not None:
                        c.sendall(struct.pack("!H", len(rep)) + rep)
                except OSError:
                    pass
                c.close()

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.udp.close()
        self.tcp.close()


def silent_udp():
    """A bound UDP socket nobody reads: queries to it time out."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


class Dns(unittest.TestCase):
    RECORDS = ("web.berth.local=10.1.0.2", "WEB.berth.local=10.1.0.3", "web.berth.local=fd00::2",
               "localweb.test=127.0.0.1")

    def setUp(self):
        self.srv = Proc("dns-serve", "--address", "127.0.0.1", "--port", "0", "--ttl", "7",
                        *[a for r in self.RECORDS for a in ("--record", r)])
        listening = self.srv.line()["listening"]
        host, port = listening.rsplit(":", 1)
        self.assertEqual(host, "127.0.0.1")
        self.port = int(port)
        self.server = f"127.0.0.1:{self.port}"
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.srv.kill()
        self.tmp.cleanup()

    def query(self, *args, env=None, timeout=20):
        r = run("dns-query", *args, env=env, timeout=timeout)
        return r.returncode, one(r.stdout)

    def resolv_conf(self, text):
        path = os.path.join(self.tmp.name, f"resolv{len(os.listdir(self.tmp.name))}.conf")
        with open(path, "w") as f:
            f.write(text)
        return dict(os.environ, BERTH_RESOLV_CONF=path)

    def soa(self, ttl=7):
        return {"name": ".", "type": "SOA", "ttl": ttl, "mname": "dns-serve.invalid",
                "rname": "hostmaster.dns-serve.invalid", "serial": 1, "refresh": 3600,
                "retry": 600, "expire": 86400, "minimum": ttl}

    def served_log(self):
        """Stop dns-serve; its {"queries":N} line and its per-query stderr lines."""
        self.assertEqual(self.srv.stop(), 0)
        last = self.srv.line()
        self.assertEqual(last["signal"], "SIGTERM")
        return last["queries"], self.srv.p.stderr.read().decode().splitlines()

    def test_a_found(self):
        rc, out = self.query("web.berth.local", "--server", self.server)
        self.assertEqual(rc, 0)
        a = [{"name": "web.berth.local", "type": "A", "ttl": 7, "data": d}
             for d in ("10.1.0.2", "10.1.0.3")]
        self.assertEqual(out, {"name": "web.berth.local", "type": "A", "server": self.server,
                               "tcp": False, "rcode": "NOERROR", "aa": True, "tc": False,
                               "ra": False, "answers": a, "authority": [], "additional": []})
        # names are case-insensitive; the answer keeps the case of the question
        rc, out = self.query("Web.BERTH.local.", "--server", self.server, "--type", "a")
        self.assertEqual(rc, 0)
        self.assertEqual([(x["name"], x["data"]) for x in out["answers"]],
                         [("Web.BERTH.local", "10.1.0.2"), ("Web.BERTH.local", "10.1.0.3")])
        rc, out = self.query("web.berth.local", "--server", self.server, "--type", "AAAA")
        self.assertEqual((rc, out["answers"]), (0, [{"name": "web.berth.local", "type": "AAAA",
                                                     "ttl": 7, "data": "fd00::2"}]))
        self.assertEqual(self.served_log(), (3, ["query web.berth.local A from 127.0.0.1",
                                                 "query Web.BERTH.local A from 127.0.0.1",
                                                 "query web.berth.local AAAA from 127.0.0.1"]))

    def test_nxdomain_and_nodata(self):
        rc, out = self.query("nope.berth.local", "--server", self.server)
        self.assertEqual(rc, 6)
        self.assertEqual((out["rcode"], out["aa"], out["answers"], out["authority"]),
                         ("NXDOMAIN", True, [], [self.soa()]))
        # NODATA: the name exists, not with this type
        rc, out = self.query("localweb.test", "--server", self.server, "--type", "AAAA")
        self.assertEqual(rc, 0)
        self.assertEqual((out["rcode"], out["answers"], out["authority"]),
                         ("NOERROR", [], [self.soa()]))
        rc, out = self.query("web.berth.local", "--server", self.server, "--type", "SRV")
        self.assertEqual((rc, out["type"], out["rcode"], out["answers"]), (0, "SRV", "NOERROR", []))

    def test_tcp(self):
        rc, out = self.query("localweb.test", "--server", self.server, "--tcp")
        self.assertEqual(rc, 0)
        self.assertEqual((out["tcp"], out["tc"], out["answers"]),
                         (True, False, [{"name": "localweb.test", "type": "A", "ttl": 7,
                                         "data": "127.0.0.1"}]))
        rc, out = self.query("nope.test", "--server", self.server, "--tcp")
        self.assertEqual((rc, out["tcp"], out["rcode"]), (6, True, "NXDOMAIN"))
        # several queries on one connection, as RFC 7766 allows
        c = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        for qid in (1, 2):
            q = struct.pack("!6H", qid, 0x0100, 1, 0, 0, 0) + dns_wire("localweb.test") + b"\0\1\0\1"
            c.sendall(struct.pack("!H", len(q)) + q)
            n, = struct.unpack("!H", c.recv(2, socket.MSG_WAITALL))
            rep = c.recv(n, socket.MSG_WAITALL)
            self.assertEqual(struct.unpack("!6H", rep[:12]), (qid, 0x8500, 1, 1, 0, 0))
            self.assertEqual(rep[-4:], socket.inet_aton("127.0.0.1"))
        c.close()

    def test_truncated_udp_retried_over_tcp(self):
        big = Proc("dns-serve", "--address", "127.0.0.1", "--port", "0",
                   *[a for i in range(40) for a in ("--record", f"big.test=10.2.0.{i}")])
        try:
            port = int(big.line()["listening"].rsplit(":", 1)[1])
            # the server's side: over UDP only TC and the question
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.settimeout(5)
            u.sendto(struct.pack("!6H", 77, 0x0100, 1, 0, 0, 0) + dns_wire("big.test") + b"\0\1\0\1",
                     ("127.0.0.1", port))
            rep = u.recv(65536)
            u.close()
            self.assertEqual(struct.unpack("!6H", rep[:12]), (77, 0x8700, 1, 0, 0, 0))
            self.assertLessEqual(len(rep), 512)
            rc, out = self.query("big.test", "--server", f"127.0.0.1:{port}")
            self.assertEqual(rc, 0)
            self.assertEqual((out["tcp"], out["tc"]), (True, False))
            self.assertEqual([x["data"] for x in out["answers"]], [f"10.2.0.{i}" for i in range(40)])
            self.assertEqual(big.stop(), 0)
            self.assertEqual(big.line()["queries"], 3)      # raw UDP, UDP, TCP
        finally:
            big.kill()

    def test_timeout_and_unreachable(self):
        s = silent_udp()
        try:
            t = time.monotonic()
            rc, out = self.query("x.test", "--server", f"127.0.0.1:{s.getsockname()[1]}",
                                 "--timeout", "0.5")
            el = time.monotonic() - t
            self.assertEqual((rc, out["error"], out["tcp"]), (7, "ETIMEDOUT", False))
            self.assertGreaterEqual(el, 0.5)
            self.assertLess(el, 5)
        finally:
            s.close()
        # TCP: accepted, never answered
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen()
        try:
            rc, out = self.query("x.test", "--server", f"127.0.0.1:{lst.getsockname()[1]}", "--tcp",
                                 "--timeout", "0.5")
            self.assertEqual((rc, out["error"], out["tcp"]), (7, "ETIMEDOUT", True))
        finally:
            lst.close()
        port = closed_port()
        rc, out = self.query("x.test", "--server", f"127.0.0.1:{port}", "--timeout", "2")
        self.assertEqual((rc, out["error"]), (7, "ECONNREFUSED"))
        rc, out = self.query("x.test", "--server", f"127.0.0.1:{port}", "--tcp")
        self.assertEqual((rc, out["error"]), (7, "ECONNREFUSED"))

    def test_default_server_from_resolv_conf(self):
        env = self.resolv_conf(f"# test\nsearch berth.local\nnameserver 127.0.0.1:{self.port}\n"
                               "nameserver 127.0.0.1:1\n")
        rc, out = self.query("web.berth.local", env=env)
        self.assertEqual((rc, out["server"], len(out["answers"])), (0, self.server, 2))
        rc, out = self.query("x.test", env=self.resolv_conf("search x\n"))
        self.assertEqual((rc, out["error"]), (7, "no nameserver"))
        rc, out = self.query("x.test", env=dict(os.environ, BERTH_RESOLV_CONF="/nonexistent/rc"))
        self.assertEqual((rc, out["error"]), (7, "no nameserver"))

    def test_resolve_through_resolv_conf(self):
        env = self.resolv_conf(f"search other.test berth.local\nnameserver 127.0.0.1:{self.port}\n")
        r = run("resolve", "web", env=env)
        self.assertEqual((r.returncode, one(r.stdout)),
                         (0, {"name": "web", "addresses": ["10.1.0.2", "10.1.0.3"]}))
        r = run("resolve", "WEB.berth.local", env=env)
        self.assertEqual(one(r.stdout)["addresses"], ["10.1.0.2", "10.1.0.3"])
        self.assertEqual(run("resolve", "nope", env=env).returncode, 6)
        self.assertEqual(run("resolve", "nope.berth.local", env=env).returncode, 6)
        # no A records (only AAAA would be there): unknown for an IPv4-only resolver
        self.assertEqual(run("resolve", "berth.local", env=env).returncode, 6)
        # /etc/hosts comes first
        with tempfile.NamedTemporaryFile("w") as hosts:
            hosts.write("10.9.9.9 web.berth.local\n")
            hosts.flush()
            r = run("resolve", "web.berth.local", env=dict(env, BERTH_HOSTS_FILE=hosts.name))
            self.assertEqual(one(r.stdout)["addresses"], ["10.9.9.9"])
        # the clients use it: http-get to a DNS name
        h = Server("http-server", "--body", "via dns")
        try:
            r = run("http-get", f"http://localweb.test:{h.port}/", env=env)
            self.assertEqual((r.returncode, r.stdout), (0, b"via dns"), r.stderr)
            r = run("http-get", f"http://localweb:{h.port}/",
                    env=self.resolv_conf(f"domain test.\nnameserver 127.0.0.1:{self.port}\n"))
            self.assertEqual((r.returncode, r.stdout), (0, b"via dns"), r.stderr)
        finally:
            h.kill()
        n, log = self.served_log()
        self.assertEqual(log[:2], ["query web.other.test A from 127.0.0.1",
                                   "query web.berth.local A from 127.0.0.1"])
        self.assertIn("query nope.other.test A from 127.0.0.1", log)
        self.assertIn("query nope.berth.local A from 127.0.0.1", log)
        self.assertIn("query nope A from 127.0.0.1", log)
        self.assertIn("query localweb.test A from 127.0.0.1", log)
        self.assertEqual(n, len(log))

    def test_resolve_server_order(self):
        s = silent_udp()
        fails = FakeDns(lambda q, tcp: dns_reply(q, flags=0x8002))      # SERVFAIL
        try:
            # a silent first server costs its 2 s, SERVFAIL moves on at once
            env = self.resolv_conf(f"nameserver 127.0.0.1:{s.getsockname()[1]}\n"
                                   f"nameserver 127.0.0.1:{fails.port}\n"
                                   f"nameserver 127.0.0.1:{self.port}\n")
            t = time.monotonic()
            r = run("resolve", "localweb.test", env=env)
            el = time.monotonic() - t
            self.assertEqual((r.returncode, one(r.stdout)["addresses"]), (0, ["127.0.0.1"]))
            self.assertGreaterEqual(el, 2)
            self.assertLess(el, 10)
            self.assertEqual(len(fails.queries), 1)
            # NXDOMAIN is final: the second server (which knows it) is not asked
            nx = FakeDns(lambda q, tcp: dns_reply(q, flags=0x8403))
            try:
                env = self.resolv_conf(f"nameserver 127.0.0.1:{nx.port}\n"
                                       f"nameserver 127.0.0.1:{self.port}\n")
                self.assertEqual(run("resolve", "localweb.test", env=env).returncode, 6)
                self.assertEqual(len(nx.queries), 1)
            finally:
                nx.close()
            n, log = self.served_log()
            self.assertEqual(log, ["query localweb.test A from 127.0.0.1"])
        finally:
            s.close()
            fails.close()

    def test_query_message(self):
        """What goes out: RD, one question, class IN, random IDs."""
        fake = FakeDns(lambda q, tcp: dns_reply(q))
        try:
            for _ in range(4):
                self.assertEqual(self.query("Some.Name", "--server", f"127.0.0.1:{fake.port}",
                                            "--type", "SRV")[0], 0)
            self.assertEqual(self.query("x.y", "--server", f"127.0.0.1:{fake.port}", "--tcp",
                                        "--type", "TYPE99")[0], 0)
        finally:
            fake.close()
        ps = [dns_parse_query(q) for _, q in fake.queries]
        self.assertEqual([t for t, _ in fake.queries], ["udp"] * 4 + ["tcp"])
        for p in ps:
            self.assertEqual((p["flags"], p["counts"], p["qclass"]), (0x0100, (1, 0, 0, 0), 1))
        self.assertEqual([(p["name"], p["qtype"]) for p in ps], [("Some.Name", 33)] * 4 + [("x.y", 99)])
        self.assertGreater(len({p["id"] for p in ps}), 1, "query IDs are not random")

    def test_decoder(self):
        """Replies built here: compression, every printed type, sections in order."""
        def handler(q, tcp):
            ptr = b"\xc0\x0c"
            target = dns_wire("x.web.berth.local")
            name_off = 12 + len(dns_parse_query(q)["question"]) + 12   # first answer's RDATA
            srv = dns_rr(ptr, 33, 10, struct.pack("!HHH", 1, 5, 8080) + target)
            srv2 = dns_rr(ptr, 33, 10, struct.pack("!HHH", 2, 0, 80)
                          + b"\x01y" + struct.pack("!H", 0xc000 | (name_off + 6 + 2)))
            soa = dns_rr(b"\0", 6, 60, dns_wire("ns.test") + b"\xc0\x0c" + struct.pack("!5I", 9, 1, 2, 3, 4))
            glue = dns_rr(struct.pack("!H", 0xc000 | (name_off + 6)), 1, 10, socket.inet_aton("10.1.0.9"))
            other = [dns_rr(ptr, 5, 3, b"\x05alias\xc0\x0c"), dns_rr(ptr, 16, 3, b"\x02ab\x00\x03c\"d"),
                     dns_rr(ptr, 15, 3, b"\x00\x0a\xc0\x0c"), dns_rr(ptr, 99, 3, b"xyz"),
                     dns_rr(ptr, 1, 3, b"\x7f\0\0\1", rclass=3), dns_rr(b"\0", 41, 0, b"", rclass=1232)]
            return dns_reply(q, flags=0x8180, answers=[srv, srv2], authority=[soa],
                             additional=[glue] + other)
        fake = FakeDns(handler)
        try:
            rc, out = self.query("_http._tcp.web.berth.local", "--server", f"127.0.0.1:{fake.port}",
                                 "--type", "SRV")
        finally:
            fake.close()
        self.assertEqual(rc, 0)
        n = "_http._tcp.web.berth.local"
        self.assertEqual(out, {
            "name": n, "type": "SRV", "server": f"127.0.0.1:{fake.port}", "tcp": False,
            "rcode": "NOERROR", "aa": False, "tc": False, "ra": True,
            "answers": [
                {"name": n, "type": "SRV", "ttl": 10, "priority": 1, "weight": 5, "port": 8080,
                 "target": "x.web.berth.local"},
                {"name": n, "type": "SRV", "ttl": 10, "priority": 2, "weight": 0, "port": 80,
                 "target": "y.web.berth.local"}],
            "authority": [{"name": ".", "type": "SOA", "ttl": 60, "mname": "ns.test", "rname": n,
                           "serial": 9, "refresh": 1, "retry": 2, "expire": 3, "minimum": 4}],
            "additional": [
                {"name": "x.web.berth.local", "type": "A", "ttl": 10, "data": "10.1.0.9"},
                {"name": n, "type": "CNAME", "ttl": 3, "data": "alias." + n},
                {"name": n, "type": "TXT", "ttl": 3, "data": ["ab", "", 'c"d']},
                {"name": n, "type": "MX", "ttl": 3, "preference": 10, "exchange": n},
                {"name": n, "type": "TYPE99", "ttl": 3, "rdlength": 3},
                {"name": n, "type": "A", "class": 3, "ttl": 3, "data": "127.0.0.1"},
                {"name": ".", "type": "OPT", "udp_size": 1232}]})

    def test_rcodes(self):
        for rcode, name in ((2, "SERVFAIL"), (5, "REFUSED"), (1, "FORMERR"), (4, "NOTIMP"), (12, "RCODE12")):
            fake = FakeDns(lambda q, tcp, rcode=rcode: dns_reply(q, flags=0x8000 | rcode))
            try:
                rc, out = self.query("a.test", "--server", f"127.0.0.1:{fake.port}")
            finally:
                fake.close()
            self.assertEqual((rc, out["rcode"], out["answers"]), (9, name, []), name)
        # an error reply without the question is still a reply
        fake = FakeDns(lambda q, tcp: struct.pack("!6H", dns_parse_query(q)["id"], 0x8001, 0, 0, 0, 0))
        try:
            rc, out = self.query("a.test", "--server", f"127.0.0.1:{fake.port}")
        finally:
            fake.close()
        self.assertEqual((rc, out["rcode"]), (9, "FORMERR"))

    def test_tc_retry_with_fake(self):
        def handler(q, tcp):
            if not tcp:
                return dns_reply(q, flags=0x8600)       # AA TC, nothing else
            return dns_reply(q, answers=[dns_rr(b"\xc0\x0c", 1, 5, socket.inet_aton("10.0.0.5"))])
        fake = FakeDns(handler)
        try:
            rc, out = self.query("t.test", "--server", f"127.0.0.1:{fake.port}")
        finally:
            fake.close()
        self.assertEqual((rc, out["tcp"], out["tc"], [a["data"] for a in out["answers"]]),
                         (0, True, False, ["10.0.0.5"]))
        self.assertEqual([t for t, _ in fake.queries], ["udp", "tcp"])

    def test_malformed_replies(self):
        a = dns_rr(b"\xc0\x0c", 1, 5, socket.inet_aton("10.0.0.5"))
        cases = {
            "wrong id": lambda q: dns_reply(q, answers=[a], qid=dns_parse_query(q)["id"] ^ 1),
            "other name": lambda q: dns_reply(q, answers=[a], question=dns_wire("other.test") + b"\0\1\0\1"),
            "other type": lambda q: dns_reply(q, answers=[a], question=dns_wire("m.test") + b"\0\x1c\0\1"),
            "not a reply": lambda q: dns_reply(q, flags=0x0400, answers=[a]),
            "short header": lambda q: q[:2] + b"\x84",
            "cut answer": lambda q: dns_reply(q, answers=[a])[:-2],
            "trailing bytes": lambda q: dns_reply(q, answers=[a]) + b"\0",
            "count too big": lambda q: dns_reply(q, answers=[a])[:7] + b"\x02" + dns_reply(q, answers=[a])[8:],
            "pointer loop": lambda q: dns_reply(q, answers=[dns_rr(b"\x01a\xc0" + bytes([12 + len(dns_parse_query(q)["question"])]), 1, 5, b"\1\2\3\4")]),
            "forward pointer": lambda q: dns_reply(q, answers=[dns_rr(b"\xc0\xff", 1, 5, b"\1\2\3\4")]),
            "A of 5 bytes": lambda q: dns_reply(q, answers=[dns_rr(b"\xc0\x0c", 1, 5, b"\1\2\3\4\5")]),
            "SRV target past rdata": lambda q: dns_reply(q, answers=[dns_rr(b"\xc0\x0c", 33, 5, b"\0\1\0\1\0\x50\x03abc")]),
            "bad label type": lambda q: dns_reply(q, answers=[dns_rr(b"\x41a\0", 1, 5, b"\1\2\3\4")]),
        }
        for what, make in cases.items():
            fake = FakeDns(lambda q, tcp, make=make: make(q))
            try:
                rc, out = self.query("m.test", "--server", f"127.0.0.1:{fake.port}", "--timeout", "2")
            finally:
                fake.close()
            self.assertEqual((rc, out.get("error")), (8, "malformed reply"), what)
            self.assertTrue(out["detail"], what)
        # TCP: the length promises more than comes before the close
        fake = FakeDns(lambda q, tcp: ("raw", b"\0\x40" + dns_reply(q)[:10]))
        try:
            rc, out = self.query("m.test", "--server", f"127.0.0.1:{fake.port}", "--tcp")
        finally:
            fake.close()
        self.assertEqual((rc, out["error"], out["tcp"]), (8, "malformed reply", True))

    def test_serve_edge_cases(self):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(3)
        try:
            def ask(data):
                u.sendto(data, ("127.0.0.1", self.port))
                return u.recv(65536)
            q = dns_wire("localweb.test") + b"\0\1\0\1"
            # no question: FORMERR; opcode STATUS: NOTIMP; class CH: REFUSED
            self.assertEqual(ask(struct.pack("!6H", 5, 0x0100, 0, 0, 0, 0)),
                             struct.pack("!6H", 5, 0x8501, 0, 0, 0, 0))
            self.assertEqual(ask(struct.pack("!6H", 6, 0x1000, 1, 0, 0, 0) + q)[:4],
                             struct.pack("!HH", 6, 0x9404))
            rep = ask(struct.pack("!6H", 7, 0, 1, 0, 0, 0) + dns_wire("localweb.test") + b"\0\1\0\3")
            self.assertEqual(rep[:12], struct.pack("!6H", 7, 0x8405, 1, 0, 0, 0))
            # ANY: every record of the name
            rep = ask(struct.pack("!6H", 8, 0, 1, 0, 0, 0) + dns_wire("web.berth.local") + b"\0\xff\0\1")
            self.assertEqual(rep[:12], struct.pack("!6H", 8, 0x8400, 1, 3, 0, 0))
            # replies are never answered; garbage neither
            u.sendto(struct.pack("!6H", 9, 0x8000, 1, 0, 0, 0) + q, ("127.0.0.1", self.port))
            u.sendto(b"\1\2\3", ("127.0.0.1", self.port))
            self.assertEqual(ask(struct.pack("!6H", 10, 0, 1, 0, 0, 0) + q)[:2], b"\0\x0a")
        finally:
            u.close()
        # only messages with a question count (and are logged)
        self.assertEqual(self.served_log(), (3, ["query localweb.test A from 127.0.0.1",
                                                 "query web.berth.local ANY from 127.0.0.1",
                                                 "query localweb.test A from 127.0.0.1"]))

    def test_usage_errors(self):
        for args in (["dns-query"], ["dns-query", "a", "b"], ["dns-query", "a..b"],
                     ["dns-query", "x" * 64 + ".test"], ["dns-query", "a", "--type", "BOGUS"],
                     ["dns-query", "a", "--server", "1.2.3.4:0"], ["dns-query", "a", "--server", "name"],
                     ["dns-query", "a", "--timeout", "0"], ["dns-serve"], ["dns-serve", "--port", "x"],
                     ["dns-serve", "--port", "0", "--record", "x"],
                     ["dns-serve", "--port", "0", "--record", "x=1.2.3"],
                     ["dns-serve", "--port", "0", "--record", "a..b=1.2.3.4"],
                     ["dns-serve", "--port", "0", "--address", "1.2.3.4:5"],
                     ["dns-serve", "--port", "0", "--ttl", "-1"]):
            self.assertEqual(run(*args).returncode, 2, args)

    @unittest.skipUnless(have_ipv6(), "no IPv6")
    def test_ipv6(self):
        s = Proc("dns-serve", "--address", "::1", "--port", "0", "--record", "six.test=::1")
        try:
            listening = s.line()["listening"]
            self.assertTrue(listening.startswith("[::1]:"), listening)
            rc, out = self.query("six.test", "--server", listening, "--type", "AAAA")
            self.assertEqual((rc, out["server"], [a["data"] for a in out["answers"]]),
                             (0, listening, ["::1"]))
            self.assertEqual(s.stop(), 0)
            self.assertEqual(s.p.stderr.read().decode(), "query six.test AAAA from ::1\n")
        finally:
            s.kill()


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
    # Name lookups fall back to DNS through resolv.conf: never the host's
    # (no traffic leaves 127.0.0.1); tests that want DNS name their own file.
    with tempfile.NamedTemporaryFile("w", prefix="berth-resolv-") as empty:
        os.environ["BERTH_RESOLV_CONF"] = empty.name
        prog = unittest.main(argv=[sys.argv[0], "-v", *rest], exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
