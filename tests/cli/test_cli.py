#!/usr/bin/env python3
"""The berth CLI's berthd verbs against a private berthd on this host.

    test_cli.py verbs --berth BIN --berthd BIN
    test_cli.py tasks --berth BIN --berthd BIN

berthd runs with every path in a private temporary directory and
"shimPath": "/bin/false", so no task ever runs: RunTask records each task and
its shim fails at once, which leaves a STOPPED task (TaskFailedToStart) to
list, describe and stop. Nothing touches the host's cgroups, network or
mounts. berthd must run as root, so this test is registered only when
CMake runs as root (tests/cli/CMakeLists.txt), and fails when it is not.

  verbs   clusters, task definitions, instances, ps/describe/stop of missing
          tasks, exit codes, --json, --help, the unsupported verbs, logs (-f
          with rotation) of a task berthd does not know, berthd unreachable
  tasks   run --detach (tasks that fail to start), ps -a, describe by
          prefix/ARN, ambiguous prefixes, stop, logs of berthd's tasks
  events  events of tasks that fail to start (table, --json, -f live,
          filters, exit codes) and stats (no running task, a stopped one,
          unknown ones, streaming)
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL: " + what, flush=True)
    return cond


class Env:
    def __init__(self, berth, berthd):
        self.berth = berth
        self.berthd_bin = berthd
        # short: a unix socket path has at most 107 bytes
        self.dir = tempfile.mkdtemp(prefix="berth-cli-", dir="/tmp")
        self.sock = os.path.join(self.dir, "berthd.sock")
        self.logs = os.path.join(self.dir, "logs")
        self.proc = None
        os.makedirs(self.logs)

    def run(self, *args, rc=0, stdin=None, timeout=30, env=None):
        e = dict(os.environ, BERTH_SOCKET=self.sock, BERTH_LOG_DIR=self.logs)
        if env:
            e.update(env)
        p = subprocess.run([self.berth] + list(args), capture_output=True, text=True,
                           timeout=timeout, env=e, input=stdin)
        shown = "berth " + " ".join(args)
        if rc is not None:
            check(p.returncode == rc, "%s: exit %d, want %d\nstdout: %s\nstderr: %s"
                  % (shown, p.returncode, rc, p.stdout, p.stderr))
        return p.stdout, p.stderr

    def json(self, *args, rc=0):
        out, err = self.run("--json", *args, rc=rc)
        try:
            return json.loads(out)
        except ValueError as exc:
            check(False, "berth --json %s: not JSON (%s): %r %r" % (" ".join(args), exc, out, err))
            return {}

    def start(self):
        cfg = {
            "root": os.path.join(self.dir, "root"),
            "runDir": os.path.join(self.dir, "run"),
            "logDir": self.logs,
            "cgroupRoot": os.path.join(self.dir, "no-cgroup"),
            "socket": self.sock,
            "storage": "tmpfs",
            "shimPath": "/bin/false",
            # no task here has a network: no DNS responder on this host
            "dns": {"enabled": False},
        }
        path = os.path.join(self.dir, "berthd.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.berthd_log = open(os.path.join(self.dir, "berthd.log"), "w")
        self.proc = subprocess.Popen([self.berthd_bin, "--config", path], stdout=self.berthd_log,
                                     stderr=subprocess.STDOUT)
        for _ in range(100):
            if os.path.exists(self.sock):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        with open(os.path.join(self.dir, "berthd.log")) as f:
            sys.exit("berthd did not start:\n" + f.read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        if FAILURES and os.path.exists(os.path.join(self.dir, "berthd.log")):
            with open(os.path.join(self.dir, "berthd.log")) as f:
                print("--- berthd.log\n" + f.read())
        shutil.rmtree(self.dir, ignore_errors=True)

    def taskdef(self, name, family, containers=("app",), essential=None):
        defs = []
        for c in containers:
            d = {"name": c, "image": "berth-test/helper:latest", "command": ["sleep", "1"]}
            if essential is not None:
                d["essential"] = c in essential
            defs.append(d)
        doc = {"family": family, "requiresCompatibilities": ["EC2"], "networkMode": "none",
               "cpu": "128", "memory": "128", "containerDefinitions": defs}
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return path


def table(out):
    """Rows of a cli_table as lists of cells (3+ spaces separate cells)."""
    lines = [l for l in out.splitlines() if l.strip()]
    return [re.split(r"\s{3,}", l.strip()) for l in lines]


def log_line(t, stream, text):
    return json.dumps({"time": "2020-01-02T11:00:%02d.000000000Z" % t, "stream": stream,
                       "log": text}) + "\n"


# ------------------------------------------------------------------ verbs

def unreachable(env, when):
    for args in (("cluster", "ls"), ("ps",), ("taskdef", "ls"), ("describe", "0" * 32)):
        _, err = env.run(*args, rc=1)
        check("cannot reach berthd at %s: is it running? (systemctl start berthd)" % env.sock in err,
              "%s, %s: says where and what to do: %r" % (" ".join(args), when, err))
    # --socket wins over $BERTH_SOCKET
    _, err = env.run("--socket", "/nonexistent/b.sock", "cluster", "ls", rc=1)
    check("cannot reach berthd at /nonexistent/b.sock" in err, "--socket is used: %r" % err)


def test_clusters(env):
    rows = table(env.run("cluster", "ls")[0])
    check(rows[0] == ["NAME", "STATUS", "INSTANCES", "RUNNING", "PENDING"], "cluster ls header: %r" % rows)
    check(["default", "ACTIVE", "1", "0", "0"] in rows, "cluster ls lists default: %r" % rows)
    out, _ = env.run("cluster", "create", "web", "--tag", "team=blue")
    check(out.startswith("cluster web: arn:aws:ecs:") and out.rstrip().endswith(":cluster/web"),
          "cluster create prints the ARN: %r" % out)
    env.run("cluster", "create", "bad name!", rc=1)
    env.run("cluster", "create", rc=2)
    env.run("cluster", "create", "x", "--tag", "novalue", rc=2)
    names = [c["clusterName"] for c in env.json("cluster", "ls")["clusters"]]
    check(sorted(names) == ["default", "web"], "cluster ls --json: %r" % names)
    d = env.json("cluster", "describe", "web")
    c = d["clusters"][0]
    check(c["clusterName"] == "web" and c["status"] == "ACTIVE", "describe web: %r" % c)
    check({"key": "team", "value": "blue"} in c.get("tags", []), "describe shows the tag: %r" % c)
    out, _ = env.run("cluster", "describe")
    check("Name:                default" in out, "describe without a name is default: %r" % out)
    out, err = env.run("cluster", "describe", "web", "nope", rc=3)
    check("Name:                web" in out and "cluster nope not found" in err,
          "describe web nope: web shown, nope reported: %r %r" % (out, err))
    d = env.json("cluster", "describe", "nope", rc=3)
    check(d.get("failures", [{}])[0].get("reason") == "MISSING", "--json describe nope: %r" % d)
    _, err = env.run("cluster", "rm", "default", rc=1)
    check("ClusterContainsContainerInstancesException" in err and "registers this host" in err,
          "rm default says why: %r" % err)
    out, _ = env.run("cluster", "rm", "web")
    check(out == "removed cluster web\n", "rm web: %r" % out)
    names = [r[0] for r in table(env.run("cluster", "ls")[0])[1:]]
    check(names == ["default"], "web is gone from cluster ls: %r" % names)
    _, err = env.run("cluster", "rm", "web", rc=3)
    check("not found" in err.lower(), "rm web again: %r" % err)
    env.run("cluster", "rm", rc=2)
    env.run("cluster", "frobnicate", rc=2)


def test_taskdefs(env):
    f = env.taskdef("td.json", "cli-app", containers=("app", "side"), essential=("app",))
    out, _ = env.run("taskdef", "register", f)
    check(out == "cli-app:1\n", "register prints family:revision: %r" % out)
    out, _ = env.run("taskdef", "register", f, "--tag", "k=v")
    check(out == "cli-app:2\n", "second register: %r" % out)
    d = env.json("taskdef", "register", f)
    check(d.get("taskDefinition", {}).get("revision") == 3, "register --json: %r" % d)
    # what describe --json prints registers again (a round trip)
    dumped = os.path.join(env.dir, "dumped.json")
    with open(dumped, "w") as fh:
        fh.write(env.run("--json", "taskdef", "describe", "cli-app:2")[0])
    out, _ = env.run("taskdef", "register", dumped)
    check(out == "cli-app:4\n", "register describe's output: %r" % out)
    d = env.json("taskdef", "describe", "cli-app:4")
    check({"key": "k", "value": "v"} in d.get("tags", []), "the round trip keeps the tags: %r" % d)

    rows = table(env.run("taskdef", "ls")[0])
    check(rows == [["TASK DEFINITION"]] + [["cli-app:%d" % i] for i in range(1, 5)], "taskdef ls: %r" % rows)
    f2 = env.taskdef("td-b.json", "cli-bpp")
    env.run("taskdef", "register", f2)
    env.run("taskdef", "register", f2)
    rows = table(env.run("taskdef", "ls", "--family-prefix", "cli-b")[0])
    check(rows == [["TASK DEFINITION"], ["cli-bpp:1"], ["cli-bpp:2"]], "ls --family-prefix: %r" % rows)
    env.run("taskdef", "deregister", "cli-bpp:1", "cli-bpp:2")
    arns = env.json("taskdef", "ls", "--family-prefix", "cli-")["taskDefinitionArns"]
    check(len(arns) == 4 and all(":task-definition/cli-app:" in a for a in arns), "ls --json: %r" % arns)
    check(table(env.run("taskdef", "ls", "--family-prefix", "zzz")[0]) == [["TASK DEFINITION"]],
          "ls of an unknown prefix is empty")
    rows = table(env.run("taskdef", "ls", "--sort", "desc")[0])
    check([r[0] for r in rows[1:]] == ["cli-app:%d" % i for i in range(4, 0, -1)], "ls --sort desc: %r" % rows)

    out, _ = env.run("taskdef", "describe", "cli-app")
    check("Task definition: cli-app:4" in out, "describe FAMILY is the latest: %r" % out)
    rows = table(out.split("\n\n", 1)[1])
    check(rows[0][:3] == ["CONTAINER", "IMAGE", "ESSENTIAL"] and rows[1][:3] == ["app", "berth-test/helper:latest", "yes"]
          and rows[2][:3] == ["side", "berth-test/helper:latest", "no"], "describe's containers: %r" % rows)
    check(env.json("taskdef", "describe", "cli-app:2")["taskDefinition"]["revision"] == 2, "describe :2")
    for ref in ("nope", "cli-app:99"):
        _, err = env.run("taskdef", "describe", ref, rc=3)
        check("task definition %s not found" % ref in err, "describe %s: %r" % (ref, err))

    out, _ = env.run("taskdef", "deregister", "cli-app:1")
    check(out == "deregistered cli-app:1 (INACTIVE)\n", "deregister: %r" % out)
    check("cli-app:1" not in env.run("taskdef", "ls")[0], "deregistered revision not in ls")
    rows = table(env.run("taskdef", "ls", "--status", "inactive")[0])[1:]
    check(rows == [["cli-app:1"], ["cli-bpp:1"], ["cli-bpp:2"]], "ls --status INACTIVE: %r" % rows)
    rows = table(env.run("taskdef", "ls", "--status", "inactive", "--family-prefix", "cli-a")[0])[1:]
    check(rows == [["cli-app:1"]], "ls --status INACTIVE --family-prefix: %r" % rows)
    _, err = env.run("taskdef", "deregister", "cli-app", rc=2)
    check("FAMILY:REVISION" in err, "deregister without a revision: %r" % err)
    env.run("taskdef", "deregister", "nope:1", rc=3)
    env.run("taskdef", "deregister", rc=2)

    # files: unreadable and not JSON are usage errors; an invalid definition is berthd's refusal
    env.run("taskdef", "register", os.path.join(env.dir, "missing.json"), rc=2)
    bad = os.path.join(env.dir, "bad.json")
    with open(bad, "w") as fh:
        fh.write("{not json")
    env.run("taskdef", "register", bad, rc=2)
    with open(bad, "w") as fh:
        fh.write("[1, 2]")
    env.run("taskdef", "register", bad, rc=2)
    with open(bad, "w") as fh:
        json.dump({"family": "nocontainers"}, fh)
    _, err = env.run("taskdef", "register", bad, rc=1)
    check("containerDefinitions" in err, "berthd's reason is shown: %r" % err)


def test_instances(env):
    rows = table(env.run("instances")[0])
    check(rows[0] == ["INSTANCE", "CLUSTER", "STATUS", "CPU", "CPU FREE", "MEMORY", "MEMORY FREE", "TASKS"],
          "instances header: %r" % rows)
    check(len(rows) == 2, "one container instance: %r" % rows)
    ci = env.json("instances")["containerInstances"]
    check(len(ci) == 1, "instances --json: %r" % ci)
    if len(rows) == 2 and len(ci) == 1:
        reg = {r["name"]: r.get("integerValue") for r in ci[0]["registeredResources"]}
        rem = {r["name"]: r.get("integerValue") for r in ci[0]["remainingResources"]}
        row = rows[1]
        check(ci[0]["containerInstanceArn"].split("/")[-1].startswith(row[0]) and len(row[0]) == 12,
              "short instance id: %r" % row)
        check(row[1:5] == ["default", "ACTIVE", str(reg["CPU"]), str(rem["CPU"])], "cpu: %r %r" % (row, reg))
        check(row[5:7] == ["%d MiB" % reg["MEMORY"], "%d MiB" % rem["MEMORY"]], "memory: %r" % row)
    check(len(table(env.run("instances", "--cluster", "default")[0])) == 2, "instances --cluster default")
    env.run("instances", "--cluster", "nope", rc=3)


def test_missing_tasks(env):
    check(table(env.run("ps")[0]) == [["TASK", "FAMILY:REV", "STATUS", "HEALTH", "IP", "STARTED", "EXIT"]],
          "ps with no task shows the header")
    check(env.json("ps", "-a") == {"tasks": []}, "ps -a --json is empty")
    _, err = env.run("describe", "0123456789abcdef0123456789abcdef", rc=3)
    check("not found in any cluster" in err, "describe missing: %r" % err)
    env.run("describe", "abc", rc=3)
    env.run("describe", "--cluster", "default", "abc", rc=3)
    _, err = env.run("describe", "xyz!", rc=2)
    check("not a task id" in err, "describe of a non-id: %r" % err)
    d = env.json("describe", "abc", rc=3)
    check(d == {"tasks": [], "failures": [{"arn": "abc", "reason": "MISSING"}]}, "describe --json missing: %r" % d)
    env.run("stop", "abc", rc=3)
    env.run("stop", rc=2)
    env.run("describe", rc=2)
    env.run("run", "--detach", "nope", rc=3)
    f = env.taskdef("td2.json", "cli-other")
    env.run("taskdef", "register", f)
    _, err = env.run("run", "-d", "--cluster", "nope", "cli-other", rc=3)
    check("ClusterNotFoundException" in err, "run in a missing cluster: %r" % err)
    env.run("run", "-d", "--count", "11", "cli-other", rc=2)
    env.run("run", "-d", "--launch-type", "MARS", "cli-other", rc=2)
    env.run("run", "-d", rc=2)


def test_help_and_unsupported(env):
    for args in (("cluster", "--help"), ("cluster", "ls", "--help"), ("cluster", "create", "--help"),
                 ("cluster", "describe", "-h"), ("cluster", "rm", "--help"), ("taskdef", "--help"),
                 ("taskdef", "register", "--help"), ("taskdef", "ls", "--help"),
                 ("taskdef", "describe", "--help"), ("taskdef", "deregister", "--help"),
                 ("run", "--detach", "--help"), ("ps", "--help"), ("describe", "--help"),
                 ("stop", "--help"), ("logs", "--help"), ("instances", "--help"), ("events", "--help"),
                 ("stats", "--help"), ("exec", "--help"), ("--help",)):
        out, _ = env.run(*args)
        check(out.startswith("Usage: berth"), "%s prints usage: %r" % (" ".join(args), out[:80]))
    out, _ = env.run("run", "--help")
    check("--detach" in out, "berth run --help mentions --detach")
    _, err = env.run("exec", rc=2)
    check("give the command after --" in err, "exec without a command: %r" % err)
    env.run("cluster", rc=2)
    env.run("taskdef", "frob", rc=2)
    env.run("ps", "extra", rc=2)


def test_logs_unknown_task(env):
    """A task berthd does not know (as `berth run` makes): its files only."""
    tid = "c" * 32
    d = os.path.join(env.logs, tid)
    os.makedirs(d)
    with open(os.path.join(d, "app.log.2"), "w") as f:
        f.write(log_line(1, "stdout", "r2"))
    with open(os.path.join(d, "app.log.1"), "w") as f:
        f.write(log_line(2, "stdout", "r1") + "garbage\n")
    with open(os.path.join(d, "app.log"), "w") as f:
        f.write(log_line(3, "stderr", "e3") + log_line(5, "stdout", "a5"))
    with open(os.path.join(d, "side.log"), "w") as f:
        f.write(log_line(4, "stdout", "s4"))
    out, err = env.run("logs", "ccc", "app")
    check(out == "r2\nr1\na5\n", "app's stdout, rotated files first: %r" % out)
    check("e3" in err and "skipped 1 line" in err, "stderr lines on stderr, garbage reported: %r" % err)
    out, err = env.run("logs", "ccc")
    check(out == "app | r2\napp | r1\nside | s4\napp | a5\n", "both containers merged by time: %r" % out)
    out, _ = env.run("logs", "--tail", "1", "ccc")
    check(out == "side | s4\napp | a5\n", "--tail 1 per container: %r" % out)
    out, _ = env.run("logs", "--since", "2020-01-02T11:00:04Z", "-t", "ccc", "app")
    check(out == "2020-01-02T11:00:05.000000000Z a5\n", "--since and -t: %r" % out)
    out, _ = env.run("logs", "--since", "2020-01-02T12:00:02+01:00", "ccc", "app")
    check(out == "r1\na5\n", "--since with a zone offset: %r" % out)
    out, _ = env.run("logs", "--since", "1m", "ccc")
    check(out == "", "--since 1m: nothing that recent: %r" % out)
    out, _ = env.run("logs", "--since", "1577963104", "ccc")   # 2020-01-02T11:05:04Z
    check(out == "", "--since Unix seconds: %r" % out)
    out, _ = env.run("logs", "--since", "1577962804", "ccc")   # 2020-01-02T11:00:04Z
    check(out == "side | s4\napp | a5\n", "--since Unix seconds: %r" % out)
    recs = [json.loads(l) for l in env.run("--json", "logs", "ccc")[0].splitlines()]
    check([(r["container"], r["log"], r["stream"]) for r in recs] ==
          [("app", "r2", "stdout"), ("app", "r1", "stdout"), ("app", "e3", "stderr"), ("side", "s4", "stdout"),
           ("app", "a5", "stdout")], "--json records: %r" % recs)
    _, err = env.run("logs", "ccc", "nope", rc=3)
    check("no logs of a container" in err, "unknown container: %r" % err)
    env.run("logs", "--since", "yesterday", "ccc", rc=2)
    env.run("logs", "--tail", "-1", "ccc", rc=2)
    env.run("logs", "ccc", "../etc", rc=2)
    env.run("logs", rc=2)
    _, err = env.run("logs", "ddd", rc=3)
    check("not found" in err, "a task with no logs and no record: %r" % err)

    # -f: new lines, a line written in two parts, rotation, a new container, truncation, Ctrl-C
    fdir = os.path.join(env.logs, "d" * 32)
    os.makedirs(fdir)
    app = os.path.join(fdir, "app.log")
    with open(app, "w") as f:
        f.write(log_line(1, "stdout", "f1"))
    e = dict(os.environ, BERTH_SOCKET=env.sock, BERTH_LOG_DIR=env.logs)
    p = subprocess.Popen([env.berth, "logs", "-f", "ddd"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=e)

    def append(path, text, pause=0.7):
        with open(path, "a") as f:
            f.write(text)
        time.sleep(pause)

    time.sleep(1)
    append(app, log_line(2, "stdout", "f2"))
    half = log_line(3, "stdout", "f3-in-two-writes")
    append(app, half[:20])
    append(app, half[20:])
    os.rename(app, app + ".1")
    append(app + ".1", log_line(4, "stdout", "f4-old-file"), 0.1)
    append(app, log_line(5, "stdout", "f5-new-file"), 1.5)
    append(os.path.join(fdir, "side.log"), log_line(6, "stdout", "s6"), 1.5)
    with open(app, "w") as f:   # truncated: read again from the start
        pass
    append(app, log_line(7, "stdout", "f7"), 1.0)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        check(False, "logs -f did not end on SIGINT")
    check(p.returncode == 0, "logs -f ends with 0 on Ctrl-C: %d %r" % (p.returncode, err))
    check(out == "f1\nf2\nf3-in-two-writes\nf4-old-file\nf5-new-file\nside | s6\napp | f7\n",
          "logs -f output: %r (stderr %r)" % (out, err))


def verbs(env):
    unreachable(env, "before berthd starts")
    env.start()
    test_clusters(env)
    test_taskdefs(env)
    test_instances(env)
    test_missing_tasks(env)
    test_help_and_unsupported(env)
    test_logs_unknown_task(env)
    env.stop()
    unreachable(env, "after berthd stopped")


# ------------------------------------------------------------------ tasks

def test_tasks(env):
    f = env.taskdef("two.json", "cli-two", containers=("web", "side"), essential=("web",))
    out, err = env.run("run", "-d", "--started-by", "cli-test", "--tag", "a=b", f, rc=1)
    check("registered cli-two:1" in err, "run -d FILE registers it: %r" % err)
    m = re.search(r"task ([0-9a-f]{32}) could not start", err)
    check(m is not None and out == "", "a task that cannot start is reported: %r %r" % (out, err))
    first = m.group(1) if m else ""
    d = env.json("run", "-d", "cli-two:1", rc=1)
    tasks = d.get("tasks", [])
    check(len(tasks) == 1 and tasks[0]["lastStatus"] == "STOPPED" and tasks[0]["stopCode"] == "TaskFailedToStart",
          "run --json: the RunTask response: %r" % d)
    second = tasks[0]["taskArn"].split("/")[-1] if tasks else ""
    tdarn = "arn:aws:ecs:us-east-1:000000000000:task-definition/cli-two:1"
    d = env.json("run", "-d", tdarn, rc=1)
    check(len(d.get("tasks", [])) == 1 and d["tasks"][0]["taskDefinitionArn"] == tdarn,
          "run -d with a task definition ARN: %r" % d)
    _, err = env.run("run", "-d", "--wait", "cli-two", rc=1)
    check("could not start" in err, "run --wait of a task that cannot start: %r" % err)

    check(table(env.run("ps")[0])[1:] == [], "ps: no task should be running")
    rows = table(env.run("ps", "-a")[0])
    check(rows[0] == ["TASK", "FAMILY:REV", "STATUS", "HEALTH", "IP", "STARTED", "EXIT"], "ps -a header: %r" % rows)
    check(len(rows) == 5 and all(r[1:4] == ["cli-two:1", "STOPPED", "-"] and len(r[0]) == 12 for r in rows[1:]),
          "ps -a rows: %r" % rows)
    check(rows[-1][0] == first[:12], "newest first: %r, first task %s" % (rows, first))
    ids = env.run("ps", "-a", "-q")[0].split()
    check(len(ids) == 4 and first in ids and second in ids, "ps -a -q: %r" % ids)
    check(len(env.json("ps", "-a", "--family", "cli-two")["tasks"]) == 4, "ps --family")
    check(env.json("ps", "-a", "--family", "other")["tasks"] == [], "ps --family other")

    out, _ = env.run("describe", first[:12])
    check("Task:            %s" % first in out and "TaskFailedToStart" in out and "Started by:      cli-test" in out
          and "Tags:            a=b" in out, "describe by prefix: %r" % out)
    rows = table(out.split("\n\n", 1)[1])
    check([r[0] for r in rows] == ["CONTAINER", "web", "side"], "describe's containers: %r" % rows)
    arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + first
    d = env.json("describe", arn)
    check(d["tasks"][0]["taskArn"] == arn and d["failures"] == [], "describe ARN --json: %r" % d)
    d = env.json("describe", first, "f" * 32, rc=3)
    check(len(d["tasks"]) == 1 and d["failures"][0]["reason"] == "MISSING", "describe one found, one missing: %r" % d)
    env.run("describe", "--cluster", "default", first[:6])

    # an ambiguous prefix: of 18 tasks, two share a first hex digit
    env.run("run", "-d", "--count", "7", "cli-two", rc=1)
    env.run("run", "-d", "--count", "7", "cli-two", rc=1)
    ids = env.run("ps", "-a", "-q")[0].split()
    check(len(ids) == 18, "18 tasks: %r" % len(ids))
    digit = next((c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1), None)
    _, err = env.run("describe", digit, rc=2)
    check("ambiguous" in err and "give more of the id" in err, "ambiguous prefix: %r" % err)

    out, _ = env.run("stop", "--reason", "done", first)
    check(out == first + " stopped\n", "stop of a stopped task: %r" % out)
    d = env.json("stop", "--wait", second[:10])
    check(d["tasks"][0]["lastStatus"] == "STOPPED", "stop --wait --json: %r" % d)
    env.run("stop", first, "e" * 32, rc=3)

    # logs of a task berthd knows: its containers, and -f ends when it is STOPPED
    d = os.path.join(env.logs, first)
    os.makedirs(d)
    with open(os.path.join(d, "web.log"), "w") as f:
        f.write(log_line(1, "stdout", "w1") + log_line(3, "stdout", "w3"))
    with open(os.path.join(d, "side.log"), "w") as f:
        f.write(log_line(2, "stdout", "s2"))
    out, _ = env.run("logs", first[:8])
    check(out == "web | w1\nside | s2\nweb | w3\n", "logs of berthd's task: %r" % out)
    _, err = env.run("logs", first[:8], "nope", rc=3)
    check("has no container \"nope\" (it has: web, side)" in err, "unknown container: %r" % err)
    t0 = time.time()
    out, _ = env.run("logs", "-f", first[:8], "web", timeout=20)
    check(out == "w1\nw3\n" and time.time() - t0 < 10, "logs -f of a STOPPED task ends: %r" % out)
    # no log directory: berthd has the task, there are just no logs
    out, err = env.run("logs", second)
    check(out == "" and "no logs yet" in err, "logs of a task without files: %r %r" % (out, err))


def tasks(env):
    env.start()
    test_tasks(env)


# ------------------------------------------------------------------ events, stats

EVENT_HEADER = ["TIME", "CLUSTER", "TASK", "WHAT"]


def failed_task_events(tid, reason):
    """What a task of cli-ev (containers app, side) that cannot start records."""
    return [["default", tid[:12], "task PROVISIONING"],
            ["default", tid[:12], "task desired STOPPED (%s)" % reason],
            ["default", tid[:12], "container app STOPPED"],
            ["default", tid[:12], "container side STOPPED"],
            ["default", tid[:12], "task STOPPED (TaskFailedToStart: %s)" % reason]]


def test_events(env):
    rows = table(env.run("events")[0])
    check(rows == [EVENT_HEADER], "events with none: the header: %r" % rows)
    check(env.run("--json", "events")[0] == "", "events --json with none: nothing")

    # a follower started before the runs sees exactly their events, live
    e = dict(os.environ, BERTH_SOCKET=env.sock)
    fol = subprocess.Popen([env.berth, "events", "-f", "--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=e)
    time.sleep(1)
    f = env.taskdef("ev.json", "cli-ev", containers=("app", "side"), essential=("app",))
    ids = []
    for _ in range(2):
        d = env.json("run", "-d", f, rc=1)
        ids += [t["taskArn"].split("/")[-1] for t in d.get("tasks", [])]
    check(len(ids) == 2, "two tasks: %r" % ids)
    reasons = {}
    for tid in ids:
        d = env.json("describe", tid)
        reasons[tid] = d["tasks"][0]["stoppedReason"]
    time.sleep(1)
    fol.send_signal(signal.SIGINT)
    try:
        fout, ferr = fol.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        fol.kill()
        fout, ferr = fol.communicate()
        check(False, "events -f did not end on SIGINT")
    check(fol.returncode == 0, "events -f ends with 0 on Ctrl-C: %d %r" % (fol.returncode, ferr))

    out, _ = env.run("events")
    rows = table(out)
    want = [EVENT_HEADER]
    for tid in ids:
        want += failed_task_events(tid, reasons[tid])
    check([r[1:] for r in rows[1:]] == [w for w in want[1:]] and rows[0] == EVENT_HEADER,
          "events table:\n%s\nwant %r" % (out, want))
    check(all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r[0]) for r in rows[1:]),
          "event times: %r" % rows)

    evs = [json.loads(l) for l in env.run("--json", "events")[0].splitlines()]
    check(len(evs) == 10, "10 events --json: %d" % len(evs))
    check([e["seq"] for e in evs] == list(range(evs[0]["seq"], evs[0]["seq"] + 10)) if evs else False,
          "seq counts up by one: %r" % [e["seq"] for e in evs])
    check([e["kind"] for e in evs[:5]] == ["task-status", "task-desired-status", "container-status",
                                           "container-status", "task-status"], "kinds: %r" % evs[:5])
    check(all(e["detail-type"] == "ECS Task State Change" and e["detail"]["taskArn"] == e["taskArn"]
              for e in evs), "every event carries the task")
    check(evs and evs[4]["status"] == "STOPPED" and evs[4]["previous"] == "PROVISIONING"
          and evs[4]["detail"]["stopCode"] == "TaskFailedToStart", "the last event of a task: %r" % evs[4:5])
    followed = [json.loads(l) for l in fout.splitlines()]
    check([x["seq"] for x in followed] == [x["seq"] for x in evs],
          "events -f saw each event once, in order: %r vs %r" % ([x["seq"] for x in followed],
                                                                [x["seq"] for x in evs]))
    # -f --json puts nothing but events on stdout
    check(all(l.startswith("{") for l in fout.splitlines()), "events -f --json: %r" % fout[:200])

    # filters
    rows = table(env.run("events", "--task", ids[1][:8])[0])
    check([r[1:] for r in rows[1:]] == failed_task_events(ids[1], reasons[ids[1]]), "--task PREFIX: %r" % rows)
    check(len(table(env.run("events", "--task", ids[0])[0])) == 6, "--task ID")
    arn = "arn:aws:ecs:us-east-1:000000000000:task/default/" + ids[0]
    check(len(table(env.run("events", "--task", arn)[0])) == 6, "--task ARN")
    _, err = env.run("events", "--task", "f" * 32, rc=3)
    check("not found" in err, "--task of an unknown id: %r" % err)
    env.run("events", "--task", "fff", rc=3)
    env.run("events", "--task", "not-hex", rc=2)
    check(len(table(env.run("events", "--cluster", "default")[0])) == 11, "--cluster default")
    check(table(env.run("events", "--cluster", "other")[0]) == [EVENT_HEADER], "--cluster other: none")
    check(len(table(env.run("events", "--since", "1h")[0])) == 11, "--since 1h")
    check(len(table(env.run("events", "--since", "2020-01-01T00:00:00Z")[0])) == 11, "--since RFC 3339")
    check(table(env.run("events", "--since", str(int(time.time()) + 3600))[0]) == [EVENT_HEADER],
          "--since a Unix time in the future: none")
    check(table(env.run("events", "--until", "2020-01-01")[0]) == [EVENT_HEADER], "--until 2020: none")
    t_mid = evs[5]["time"] if len(evs) > 5 else 0
    check(len(table(env.run("events", "--until", "%.6f" % (t_mid + 0.0005))[0])) == 7,
          "--until the second task's first event: the first task's and that one")
    check(len(table(env.run("events", "--since", "%.6f" % (evs[4]["time"] + 0.0005))[0])) == 6,
          "--since after the first task: the second's")
    for bad in (("--since", "yesterday"), ("--until", "1x"), ("--since", "2020-13-01"), ("extra",), ("--frob",)):
        env.run("events", *bad, rc=2)
    # an -f that ends by itself at --until
    t0 = time.time()
    out, _ = env.run("events", "-f", "--until", "2s", timeout=20)
    check(time.time() - t0 < 8, "events -f --until ends")


def test_stats(env):
    rows = table(env.run("stats", "--no-stream")[0])
    check(rows == [["TASK", "CONTAINER", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS", "NET I/O"]],
          "stats with no running task: the header: %r" % rows)
    out, _ = env.run("--json", "stats", "--no-stream")
    lines = out.splitlines()
    check(len(lines) == 1 and json.loads(lines[0]).get("tasks") == [], "stats --json: one document: %r" % out)
    # a stopped task by name: its containers, no figures
    tid = table(env.run("ps", "-a", "-q")[0])[0][0]
    d = json.loads(env.run("stats", "--no-stream", "--json", tid)[0])
    t = d["tasks"][0] if d.get("tasks") else {}
    check(t.get("lastStatus") == "STOPPED" and [c["name"] for c in t.get("containers", [])] == ["app", "side"]
          and "memoryUsage" not in t, "stats of a stopped task: %r" % d)
    rows = table(env.run("stats", "--no-stream", tid[:10])[0])
    check(len(rows) == 3 and rows[1][:2] == [tid[:12], "app"] and rows[1][2:] == ["-", "- / -", "-", "-", "-"],
          "stats table of a stopped task: %r" % rows)
    _, err = env.run("stats", "--no-stream", "f" * 32, rc=3)
    check("not found" in err, "stats of an unknown task: %r" % err)
    env.run("stats", "--no-stream", "abc", rc=3)
    env.run("stats", "--no-stream", "--cluster", "nope", rc=3)
    env.run("stats", "--frob", rc=2)
    # streaming: a block per second until Ctrl-C
    e = dict(os.environ, BERTH_SOCKET=env.sock)
    p = subprocess.Popen([env.berth, "stats", tid], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
    time.sleep(3.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    blocks = [b for b in out.split("\n\n") if b.strip()]
    check(p.returncode == 0 and 2 <= len(blocks) <= 4 and all(b.startswith("TASK ") for b in blocks),
          "stats streams a block a second: %d %r %r" % (p.returncode, out, err))


def events(env):
    env.start()
    test_events(env)
    test_stats(env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=("verbs", "tasks", "events"))
    ap.add_argument("--berth", required=True)
    ap.add_argument("--berthd", required=True)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("FAIL: berthd needs root; this test is registered only in a build configured as "
                 "root, so run ctest as root")
    env = Env(a.berth, a.berthd)
    try:
        {"verbs": verbs, "tasks": tasks, "events": events}[a.case](env)
    finally:
        env.close()
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
