#!/usr/bin/env python3
"""test_evil.py: every archive of the malicious image suite (mkevil.py) is
refused by `berth image import`, for the right reason, leaving nothing.

    test_evil.py --berth BUILD/bin/berth --evil BUILD/images/evil [-k NAME]

For each archive, in a fresh mkdtemp directory T holding the state root
T/state and a sentinel T/outside/ (a file, a subdirectory):
  - `berth --root T/state image import [ARGS] FILE` exits 1 within the time
    limit, prints nothing on stdout, and stderr names the archive ("import
    FILE") and contains the case's expected substring (expect.json);
  - the store is exactly an empty store (the same tree as one that was only
    opened): no blob, layer, image record, reference or tmp/ leftover;
  - nothing else in T changed (paths, types, modes, owners, sizes, mtimes,
    link counts, contents, symlink targets, xattrs), no mount appeared
    under T, the absolute paths the archive aims at (/berth-evil-*) do not
    exist, and host files it aims at (/etc/passwd) are unchanged.
The clean control archives from the same generator must import (exit 0,
image listed, layers unpacked), so the harness can tell success from failure.
The same checks run on OCI layout directories (clean.oci.tar unpacked in T,
then tampered with: a FIFO or a symlink where a file should be), which must
be refused at once and without reading anything through a symlink.

As root berth runs directly (as in CI); otherwise in a user namespace with
the caller mapped to root (unshare -r), since the layers are root-owned.
Exit status 0 when everything holds, 1 otherwise, 77 (skip) when the
caller is not root and no user namespace can be made.
"""

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

TIMEOUT = 30
SKIP = 77


def snapshot(root, skip=()):
    """Everything observable about the tree under root, as a dict."""
    out = {}

    def one(path, rel):
        st = os.lstat(path)
        rec = {"type": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode),
               "uid": st.st_uid, "gid": st.st_gid, "size": st.st_size,
               "mtime": st.st_mtime_ns, "ctime": st.st_ctime_ns, "nlink": st.st_nlink,
               "ino": st.st_ino}
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                rec["sha256"] = hashlib.sha256(f.read()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            rec["target"] = os.readlink(path)
        try:
            names = os.listxattr(path, follow_symlinks=False)
            rec["xattrs"] = {n: os.getxattr(path, n, follow_symlinks=False) for n in sorted(names)}
        except OSError:
            rec["xattrs"] = None
        out[rel] = rec

    one(root, ".")
    for dirpath, dirnames, filenames in os.walk(root):
        reldir = os.path.relpath(dirpath, root)
        keep = []
        for d in dirnames:
            rel = os.path.normpath(os.path.join(reldir, d))
            if rel in skip:
                continue
            keep.append(d)
        dirnames[:] = keep
        for n in dirnames + filenames:
            one(os.path.join(dirpath, n), os.path.normpath(os.path.join(reldir, n)))
    return out


def tree(root):
    """{relative path: file type} under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = stat.S_IFMT(os.lstat(p).st_mode)
    return out


def diff(before, after):
    lines = []
    for k in sorted(set(before) | set(after)):
        if k not in after:
            lines.append(f"removed {k}")
        elif k not in before:
            lines.append(f"added {k}")
        elif before[k] != after[k]:
            changed = [f for f in before[k] if before[k][f] != after[k].get(f)]
            lines.append(f"changed {k}: {', '.join(changed)}")
    return lines


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f if l.split()[4].startswith(path + "/") or l.split()[4] == path]


def remove_tree(path):
    """rm -rf that also gets through directories left without permissions."""
    def onerror(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
        except OSError:
            pass
        func(p)
    shutil.rmtree(path, onerror=onerror)


class Runner:
    def __init__(self, berth, wrap):
        self.berth, self.wrap = berth, wrap

    def run(self, root, args):
        cmd = self.wrap + [self.berth, "--root", root] + args
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=TIMEOUT, text=True, errors="replace")


def host_stat(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mode, st.st_nlink, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def make_sandbox():
    t = tempfile.mkdtemp(prefix="berth-evil-")
    os.mkdir(os.path.join(t, "state"), 0o700)
    os.mkdir(os.path.join(t, "outside"))
    os.mkdir(os.path.join(t, "outside", "dir"))
    with open(os.path.join(t, "outside", "sentinel"), "w") as f:
        f.write("outside the store\n")
    os.symlink("sentinel", os.path.join(t, "outside", "link"))
    return t


def layout_cases(evil):
    """OCI layout directories made from the clean control: (name, what,
    tamper(layout dir, sandbox dir), expected error)."""
    with tarfile.open(os.path.join(evil, "clean.oci.tar")) as tf:
        index = json.load(tf.extractfile("index.json"))
    mhex = index["manifests"][0]["digest"].split(":", 1)[1]

    def fifo(rel):
        def tamper(lay, _t):
            os.unlink(os.path.join(lay, rel))
            os.mkfifo(os.path.join(lay, rel))
        return tamper

    def index_link(lay, _t):
        os.unlink(os.path.join(lay, "index.json"))
        os.symlink("/etc/passwd", os.path.join(lay, "index.json"))

    def blobs_link(lay, t):
        shutil.move(os.path.join(lay, "blobs"), os.path.join(t, "outside", "blobs"))
        os.symlink("../outside/blobs", os.path.join(lay, "blobs"))

    def blob_links(lay, t):
        # every blob a symlink to a copy outside the layout
        d = os.path.join(lay, "blobs", "sha256")
        os.mkdir(os.path.join(t, "outside", "copies"))
        for h in os.listdir(d):
            shutil.move(os.path.join(d, h), os.path.join(t, "outside", "copies", h))
            os.symlink(f"../../../outside/copies/{h}", os.path.join(d, h))

    never = "is a symlink or lies below one: files of an OCI layout are never read through symlinks"
    return [
        ("layout-index-fifo", "layout whose index.json is a FIFO",
         fifo("index.json"), "index.json is not a regular file"),
        ("layout-oci-layout-fifo", "layout whose oci-layout is a FIFO",
         fifo("oci-layout"), "oci-layout is not a regular file"),
        ("layout-manifest-fifo", "layout whose manifest blob is a FIFO",
         fifo(f"blobs/sha256/{mhex}"), f"blobs/sha256/{mhex} is not a regular file"),
        ("layout-index-symlink", "layout whose index.json is a symlink to /etc/passwd",
         index_link, f"index.json {never}"),
        ("layout-blobs-symlink", "layout whose blobs/ is a symlink to a directory outside it",
         blobs_link, f"blobs/sha256/{mhex} {never}"),
        ("layout-blob-symlinks", "layout whose blobs are symlinks to copies outside it",
         blob_links, f"blobs/sha256/{mhex} {never}"),
    ]


def check_case(r, evil, name, spec, empty_store, failures, tamper=None):
    errs = []
    path = os.path.join(evil, name)
    t = make_sandbox()
    try:
        if tamper:
            # an OCI layout directory beside the state dir, then made hostile
            path = os.path.join(t, "layout")
            with tarfile.open(os.path.join(evil, "clean.oci.tar")) as tf:
                tf.extractall(path)
            tamper(path, t)
        state = os.path.join(t, "state")
        before = snapshot(t, skip={"state"})
        host_before = {p: host_stat(p) for p in spec["unchanged"]}
        try:
            p = r.run(state, ["image", "import"] + spec["args"] + [path])
        except subprocess.TimeoutExpired:
            errs.append(f"no answer within {TIMEOUT} s")
            p = None
        if p is not None:
            msg = p.stderr.strip()
            if p.returncode != 1:
                errs.append(f"exit status {p.returncode}, want 1")
            if spec["error"] not in msg:
                errs.append(f"error lacks {spec['error']!r}")
            if f"import {path}" not in msg:
                errs.append(f"error does not name the archive ({path})")
            if "imported" in p.stdout:
                errs.append(f"stdout claims an import: {p.stdout.strip()}")
            if "AddressSanitizer" in p.stderr or "runtime error:" in p.stderr:
                errs.append("sanitizer report")
        store = os.path.join(state, "images")
        for d in ("blobs/sha256", "layers", "images", "leases", "tmp"):
            left = sorted(os.listdir(os.path.join(store, d))) if os.path.isdir(os.path.join(store, d)) else None
            if left is None:
                errs.append(f"store has no {d}/")
            elif left:
                errs.append(f"store {d}/ not empty: {', '.join(left[:5])}")
        if os.path.exists(os.path.join(store, "refs.json")):
            with open(os.path.join(store, "refs.json"), "rb") as f:
                refs = f.read()
            if json.loads(refs or b"{}"):
                errs.append(f"refs.json names images: {refs[:200]!r}")
        got = tree(state)
        for k in sorted(set(got) ^ set(empty_store)):
            if not k.endswith("refs.json"):
                errs.append(f"state dir differs from an empty store: "
                            f"{'extra' if k in got else 'missing'} {k}")
        errs += [f"outside the state dir: {d}" for d in diff(before, snapshot(t, skip={"state"}))]
        errs += [f"mounted: {m}" for m in mounts_under(t)]
        for o in spec["outside"]:
            if os.path.lexists(o):
                errs.append(f"{o} exists")
        for o, st in host_before.items():
            if host_stat(o) != st:
                errs.append(f"{o} changed")
        if errs and p is not None:
            errs.append(f"berth said: {p.stderr.strip()[-600:]}")
    finally:
        for m in reversed(mounts_under(t)):
            subprocess.run(["umount", "-l", m], check=False)
        remove_tree(t)
        # a defence that failed may have written on the host: clean up what we know of
        for o in spec["outside"]:
            if os.path.islink(o) or os.path.isfile(o):
                os.unlink(o)
            elif os.path.isdir(o):
                remove_tree(o)
    if errs:
        failures.append(name)
        print(f"FAIL {name}: {spec['what']}")
        for e in errs:
            print(f"    {e}")
    else:
        print(f"ok   {name}: {spec['what']}")


def check_control(r, evil, name, failures):
    errs = []
    t = make_sandbox()
    try:
        state = os.path.join(t, "state")
        path = os.path.join(evil, name)
        before = snapshot(t, skip={"state"})
        p = r.run(state, ["image", "import", path])
        if p.returncode != 0:
            errs.append(f"exit status {p.returncode}: {p.stderr.strip()}")
        if "imported berth-evil/clean:latest" not in p.stdout:
            errs.append(f"stdout: {p.stdout.strip()!r}")
        store = os.path.join(state, "images")
        if len([n for n in os.listdir(os.path.join(store, "layers")) if not n.endswith(".json")]) != 2:
            errs.append("want 2 unpacked layers")
        if not os.listdir(os.path.join(store, "images")):
            errs.append("no image record")
        if os.listdir(os.path.join(store, "tmp")):
            errs.append("tmp/ not empty")
        ls = r.run(state, ["image", "ls"])
        if "berth-evil/clean" not in ls.stdout:
            errs.append(f"image ls: {ls.stdout.strip()!r}")
        errs += [f"outside the state dir: {d}" for d in diff(before, snapshot(t, skip={"state"}))]
    finally:
        remove_tree(t)
    if errs:
        failures.append(name)
        print(f"FAIL {name}: the clean control does not import")
        for e in errs:
            print(f"    {e}")
    else:
        print(f"ok   {name}: clean control imports")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--berth", required=True)
    ap.add_argument("--evil", required=True, help="directory written by mkevil.py")
    ap.add_argument("-k", dest="only", action="append", default=[],
                    help="only archives whose name contains this (repeatable)")
    a = ap.parse_args()

    with open(os.path.join(a.evil, "expect.json")) as f:
        expect = json.load(f)
    wrap = []
    if os.geteuid() != 0:
        if shutil.which("unshare") is None or subprocess.run(
                ["unshare", "--user", "--map-root-user", "true"], capture_output=True).returncode:
            print("SKIP: not root and no user namespace (unshare -r) to run berth as root in")
            return SKIP
        wrap = ["unshare", "--user", "--map-root-user"]
    r = Runner(os.path.abspath(a.berth), wrap)

    for o in expect["outside"]:
        if os.path.lexists(o):
            print(f"FAIL: {o} exists before the suite ran (a leftover? remove it)")
            return 1

    # What an opened, empty store looks like: a failed import must leave exactly that.
    ref = tempfile.mkdtemp(prefix="berth-evil-ref-")
    try:
        p = r.run(os.path.join(ref, "state"), ["image", "ls"])
        if p.returncode != 0:
            print(f"FAIL: berth image ls on an empty root: {p.stderr.strip()}")
            return 1
        empty_store = tree(os.path.join(ref, "state"))
    finally:
        remove_tree(ref)

    failures = []
    cases = sorted(expect["cases"].items())
    controls = expect["controls"]
    if a.only:
        cases = [(n, s) for n, s in cases if any(k in n for k in a.only)]
        controls = [n for n in controls if any(k in n for k in a.only)]
    if len(expect["cases"]) < 15 or not expect["controls"]:
        print("FAIL: expect.json lists fewer than 15 cases or no control")
        return 1
    for name in controls:
        check_control(r, a.evil, name, failures)
    for name, spec in cases:
        check_case(r, a.evil, name, spec, empty_store, failures)
    layouts = [l for l in layout_cases(a.evil) if not a.only or any(k in l[0] for k in a.only)]
    for name, what, tamper, error in layouts:
        spec = {"what": what, "error": error, "args": [], "outside": [], "unchanged": ["/etc/passwd"]}
        check_case(r, a.evil, name, spec, empty_store, failures, tamper)
    n = len(cases) + len(controls) + len(layouts)
    print(f"{n - len(failures)} of {n} passed" + (f"; failed: {' '.join(failures)}" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
