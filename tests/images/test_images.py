#!/usr/bin/env python3
"""Checks for the test images built by mkimage.py.

  test_images.py structure    --images DIR [--busybox P] [--helper P]
  test_images.py reproducible --images DIR --mkimage P --busybox P --helper P

`structure` verifies the archives on their own terms and does not import
mkimage.py: every blob against its descriptor, index -> manifest -> config ->
layers, diff_ids against the uncompressed layers, the docker-archive paths,
the shared base layer, the whiteouts and special files, the config fields,
setuid/setgid bits, entry order and fixed timestamps.

`reproducible` builds the images again in fresh directories: twice with the
default epoch, a pause in between and different cwd, umask, TZ and input
paths (the bytes must match); once with the build tree's epoch from
SOURCE_DATE_EPOCH (must match --images byte for byte); once with --epoch
N+1 (every archive and digest must change).

Exit status 0 when every check passes, 1 otherwise; every failed check is
printed.
"""

import argparse
import calendar
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# What the images must contain: the specification, written independently of
# mkimage.py.
IMAGES = {
    "berth-test/helper": {
        "short": "helper",
        "layers": 3,
        "config": {
            "Entrypoint": ["/usr/bin/berth-testhelper"],
            "Cmd": ["info"],
            "Env": [PATH_ENV, "BERTH_IMAGE=helper"],
            "WorkingDir": "/srv",
            "User": "",
            "ExposedPorts": {"8080/tcp": {}},
            "Labels": {"org.berth.test": "helper"},
            "StopSignal": "SIGTERM",
        },
    },
    "berth-test/web": {
        "short": "web",
        "layers": 2,
        "config": {
            "Entrypoint": ["/usr/bin/berth-testhelper", "http-server"],
            "Cmd": ["--port", "8080"],
            "Env": [PATH_ENV, "BERTH_IMAGE=web"],
            "WorkingDir": "/srv/www",
            "User": "1000:1000",
            "ExposedPorts": {"8080/tcp": {}},
            "StopSignal": "SIGINT",
        },
    },
}

BASE_APPLETS = """sh ls cat echo sleep mkdir rm id env ps mount ip nc wget true
    false grep sed awk head tail wc touch chmod ln hostname kill stat df du dd
    uname find""".split()


class Failures:
    def __init__(self):
        self.items = []
        self.checks = 0

    def check(self, cond, msg):
        self.checks += 1
        if not cond:
            self.items.append(msg)
        return cond

    def eq(self, got, want, what):
        return self.check(got == want, f"{what}: got {got!r}, want {want!r}")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def digest(data):
    return "sha256:" + sha256(data)


def sort_key(name):
    # Depth-first tree order, whiteouts first inside a directory.
    return [(0 if c.startswith(".wh.") else 1, c) for c in name.rstrip("/").split("/")]


class Tar:
    """An archive read fully into memory: members in order, plus contents."""

    def __init__(self, data, label):
        self.label = label
        self.raw = data
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
            self.members = t.getmembers()
            self.data = {m.name: t.extractfile(m).read()
                         for m in self.members if m.isreg()}
        self.by_name = {m.name: m for m in self.members}

    def get(self, name):
        return self.by_name.get(name)


def check_tar_hygiene(f, tar, epoch, owners=None):
    """Fixed mtimes, numeric root ownership (or the listed owners), sorted,
    unique, relative names."""
    owners = owners or {}
    names = [m.name for m in tar.members]
    f.eq(len(set(names)), len(names), f"{tar.label}: duplicate member names")
    f.check(names == sorted(names, key=sort_key),
            f"{tar.label}: members not in sorted tree order: {names[:8]}...")
    for m in tar.members:
        where = f"{tar.label}:{m.name}"
        f.check(not m.name.startswith(("/", "./")) and ".." not in m.name.split("/"),
                f"{where}: unclean member name")
        f.eq(m.mtime, epoch, f"{where} mtime")
        f.eq((m.uid, m.gid), owners.get(m.name, (0, 0)), f"{where} owner")
        f.check(m.uname in ("", "root") and m.gname in ("", "root"),
                f"{where}: uname/gname {m.uname!r}/{m.gname!r} not empty or root")
        extra = set(m.pax_headers) - {"path", "linkpath"} - \
            {k for k in m.pax_headers if k.startswith("SCHILY.xattr.")}
        f.check(not extra, f"{where}: unexpected PAX records {sorted(extra)} "
                           "(mtime/atime/ctime would be host-dependent)")


def check_gzip_header(f, blob, what):
    f.check(len(blob) >= 10 and blob[:3] == b"\x1f\x8b\x08", f"{what}: not a gzip stream")
    if len(blob) >= 10:
        f.eq(blob[3] & 0x1c, 0, f"{what}: gzip FEXTRA/FNAME/FCOMMENT flags")
        f.eq(blob[4:8], b"\0\0\0\0", f"{what}: gzip header mtime")


def parse_created(created):
    t = time.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
    return calendar.timegm(t)


def check_config(f, name, cfg_bytes, n_layers, layer_tars, what):
    spec = IMAGES[name]
    cfg = json.loads(cfg_bytes)
    f.eq(cfg.get("os"), "linux", f"{what} os")
    f.check(cfg.get("architecture") in ("amd64", "arm64", "386", "arm", "riscv64",
                                        "s390x", "ppc64le"),
            f"{what}: architecture {cfg.get('architecture')!r}")
    rc = cfg.get("config", {})
    for k, v in spec["config"].items():
        f.eq(rc.get(k), v, f"{what} config.{k}")
    f.eq(cfg.get("rootfs", {}).get("type"), "layers", f"{what} rootfs.type")
    diff_ids = cfg.get("rootfs", {}).get("diff_ids", [])
    f.eq(len(diff_ids), n_layers, f"{what}: number of diff_ids")
    for i, (d, t) in enumerate(zip(diff_ids, layer_tars)):
        f.eq(d, digest(t), f"{what}: diff_ids[{i}] vs sha256 of uncompressed layer")
    hist = [h for h in cfg.get("history", []) if not h.get("empty_layer")]
    f.eq(len(hist), n_layers, f"{what}: non-empty history entries")
    return cfg


# ------------------------------------------------------------- oci-archive

def read_oci_archive(f, path, name, epoch):
    """Walk index -> manifest -> config/layers. Returns (manifest digest,
    config bytes, [(layer digest, gz blob, tar bytes)])."""
    label = os.path.basename(path)
    with open(path, "rb") as fh:
        outer = Tar(fh.read(), label)
    check_tar_hygiene(f, outer, epoch)

    layout = json.loads(outer.data["oci-layout"])
    f.eq(layout, {"imageLayoutVersion": "1.0.0"}, f"{label} oci-layout")

    blobs = {}
    for n, data in outer.data.items():
        if n.startswith("blobs/"):
            f.check(n.startswith("blobs/sha256/"), f"{label}: blob {n} not under sha256/")
            f.eq(n.rsplit("/", 1)[1], sha256(data), f"{label}: blob {n} name vs content")
            blobs["sha256:" + n.rsplit("/", 1)[1]] = data
    referenced = set()

    def blob(desc, mt, what):
        d = desc["digest"]
        f.eq(desc.get("mediaType"), mt, f"{what} mediaType")
        data = blobs.get(d)
        if not f.check(data is not None, f"{what}: blob {d} missing"):
            raise LookupError(f"{what}: blob {d} missing")
        f.eq(desc.get("size"), len(data), f"{what}: size of {d}")
        f.eq(digest(data), d, f"{what}: digest")
        referenced.add(d)
        return data

    index = json.loads(outer.data["index.json"])
    f.eq(index.get("schemaVersion"), 2, f"{label} index schemaVersion")
    mans = index.get("manifests", [])
    f.eq(len(mans), 1, f"{label}: manifests in index.json")
    mdesc = mans[0]
    f.eq(mdesc.get("annotations", {}).get(REF_NAME), f"{name}:latest",
         f"{label}: index {REF_NAME}")
    man_bytes = blob(mdesc, MT_MANIFEST, f"{label} manifest")
    man = json.loads(man_bytes)
    f.eq(man.get("schemaVersion"), 2, f"{label} manifest schemaVersion")
    f.eq(man.get("mediaType"), MT_MANIFEST, f"{label} manifest mediaType field")
    cfg_bytes = blob(man["config"], MT_CONFIG, f"{label} config")
    layers = []
    for i, ldesc in enumerate(man.get("layers", [])):
        gz = blob(ldesc, MT_LAYER, f"{label} layer {i}")
        check_gzip_header(f, gz, f"{label} layer {i}")
        layers.append((ldesc["digest"], gz, gzip.decompress(gz)))
    f.eq(len(layers), IMAGES[name]["layers"], f"{label}: number of layers")
    f.eq(set(blobs), referenced, f"{label}: blobs present vs referenced")
    return mdesc["digest"], cfg_bytes, layers


# ---------------------------------------------------------- docker-archive

def read_docker_archive(f, path, name, epoch):
    """Returns (config bytes, [layer tar bytes])."""
    label = os.path.basename(path)
    with open(path, "rb") as fh:
        outer = Tar(fh.read(), label)
    check_tar_hygiene(f, outer, epoch)

    manifest = json.loads(outer.data["manifest.json"])
    f.eq(len(manifest), 1, f"{label}: images in manifest.json")
    m = manifest[0]
    f.eq(m.get("RepoTags"), [f"{name}:latest"], f"{label} RepoTags")
    cfg_name = m["Config"]
    cfg_bytes = outer.data.get(cfg_name)
    if not f.check(cfg_bytes is not None, f"{label}: Config {cfg_name} missing"):
        raise LookupError(f"{label}: config missing")
    f.eq(cfg_name, sha256(cfg_bytes) + ".json", f"{label}: config file name vs content")

    tars, parent = [], None
    for i, lpath in enumerate(m.get("Layers", [])):
        data = outer.data.get(lpath)
        if not f.check(data is not None, f"{label}: layer path {lpath} missing"):
            raise LookupError(f"{label}: layer missing")
        tars.append(data)
        d = lpath.rsplit("/", 1)[0]
        f.eq(outer.data.get(f"{d}/VERSION"), b"1.0", f"{label}: {d}/VERSION")
        legacy = json.loads(outer.data.get(f"{d}/json", b"{}"))
        f.eq(legacy.get("id"), d, f"{label}: {d}/json id")
        f.eq(legacy.get("parent"), parent, f"{label}: {d}/json parent")
        parent = d
    f.eq(len(tars), IMAGES[name]["layers"], f"{label}: number of layers")
    repos = json.loads(outer.data["repositories"])
    f.eq(repos, {name: {"latest": parent}}, f"{label} repositories")
    return cfg_bytes, tars


# ---------------------------------------------------------- layer contents

def check_base_layer(f, t, busybox):
    bb = t.get("bin/busybox")
    if f.check(bb is not None and bb.isreg(), f"{t.label}: bin/busybox missing"):
        f.eq(oct(bb.mode), oct(0o755), f"{t.label}: bin/busybox mode")
        if busybox is not None:
            f.check(t.data["bin/busybox"] == busybox, f"{t.label}: bin/busybox content")
    for a in BASE_APPLETS:
        m = t.get(f"bin/{a}")
        f.check(m is not None and m.issym() and m.linkname in ("busybox", "/bin/busybox"),
                f"{t.label}: bin/{a} is not a symlink to busybox")
    passwd = t.data.get("etc/passwd", b"").decode().splitlines()
    for prefix in ("root:x:0:0:", "nobody:x:65534:65534:"):
        f.check(any(l.startswith(prefix) for l in passwd), f"{t.label}: passwd {prefix}")
    app = [l.split(":") for l in passwd if l.startswith("app:")]
    f.check(len(app) == 1 and app[0][2:4] == ["1000", "1000"] and app[0][5] == "/home/app",
            f"{t.label}: passwd user app 1000:1000 /home/app")
    group = t.data.get("etc/group", b"").decode().splitlines()
    for prefix in ("root:x:0:", "nogroup:x:65534:", "app:x:1000:"):
        f.check(any(l.startswith(prefix) for l in group), f"{t.label}: group {prefix}")
    extra = [l.split(":") for l in group if l.startswith("extra:")]
    f.check(len(extra) == 1 and extra[0][2] == "2000" and "app" in extra[0][3].split(","),
            f"{t.label}: group extra 2000 with member app")
    f.check(t.get("etc/hosts") is None, f"{t.label}: etc/hosts must be left to the runtime")
    for d, mode, owner in (("tmp", 0o1777, (0, 0)), ("root", None, (0, 0)),
                           ("home/app", None, (1000, 1000)), ("usr/bin", None, (0, 0))):
        m = t.get(d)
        if f.check(m is not None and m.isdir(), f"{t.label}: directory {d} missing"):
            if mode is not None:
                f.eq(oct(m.mode), oct(mode), f"{t.label}: {d} mode")
            f.eq((m.uid, m.gid), owner, f"{t.label}: {d} owner")
    for p in ("etc/motd", "opt/old/a.txt", "opt/old/b.txt"):
        f.check(p in t.data, f"{t.label}: file {p} missing")


def check_helper_binary(f, t, helper):
    m = t.get("usr/bin/berth-testhelper")
    if f.check(m is not None and m.isreg(), f"{t.label}: usr/bin/berth-testhelper missing"):
        f.eq(oct(m.mode & 0o7777), oct(0o755), f"{t.label}: berth-testhelper mode")
        if helper is not None:
            f.check(t.data[m.name] == helper, f"{t.label}: berth-testhelper content")


def check_helper_layers(f, base, l1, l2, helper):
    check_helper_binary(f, l1, helper)
    s = l1.get("usr/bin/berth-testhelper-suid")
    if f.check(s is not None and s.isreg(), f"{l1.label}: berth-testhelper-suid missing"):
        f.eq(oct(s.mode & 0o7777), oct(0o4755), f"{l1.label}: berth-testhelper-suid mode")
        f.eq((s.uid, s.gid), (0, 0), f"{l1.label}: berth-testhelper-suid owner")
        if helper is not None:
            f.check(l1.data[s.name] == helper, f"{l1.label}: berth-testhelper-suid content")
    f.check(any(n.startswith("srv/") for n in l1.data), f"{l1.label}: no file under srv/")
    links = [m for m in l1.members if m.issym()]
    f.check(any(m.name == "usr/bin/memhog" for m in links), f"{l1.label}: no usr/bin/memhog link")
    for m in links:
        f.check(m.name.startswith("usr/bin/") and m.linkname == "berth-testhelper"
                and m.name[8:] not in BASE_APPLETS,
                f"{l1.label}: {m.name} -> {m.linkname} is not a helper command link")

    # Whiteouts: empty regular files with the exact names, hiding real lower paths.
    for wh, hidden in (("etc/.wh.motd", "etc/motd"), ("opt/old/.wh..wh..opq", "opt/old")):
        m = l2.get(wh)
        if f.check(m is not None and m.isreg() and m.size == 0,
                   f"{l2.label}: whiteout {wh} missing or not an empty file"):
            f.check(base.get(hidden) is not None, f"{base.label}: {hidden} (whited out) absent")
    f.check(l2.get("etc/motd") is None, f"{l2.label}: etc/motd both whited out and added")
    f.check("opt/old/new.txt" in l2.data, f"{l2.label}: opt/old/new.txt missing")
    seen, hard = set(), []
    for m in l2.members:
        if m.islnk():
            hard.append(m)
            f.check(m.linkname in seen and l2.get(m.linkname).isreg(),
                    f"{l2.label}: hardlink {m.name} -> {m.linkname} not to an earlier file")
        seen.add(m.name)
    f.check(hard, f"{l2.label}: no hardlink")
    f.check(any(m.isfifo() for m in l2.members), f"{l2.label}: no fifo")
    f.check(any(m.pax_headers.get("SCHILY.xattr.user.berth") == "test" for m in l2.members),
            f"{l2.label}: no file with xattr user.berth=test")
    f.check(any(m.isreg() and m.mode & 0o2000 for m in l2.members),
            f"{l2.label}: no setgid file")


def check_web_layer(f, l1, helper):
    check_helper_binary(f, l1, helper)
    f.check(b"<html" in l1.data.get("srv/www/index.html", b""),
            f"{l1.label}: srv/www/index.html missing")


# The only entry not owned by root.
BASE_OWNERS = {"home/app": (1000, 1000)}


# ------------------------------------------------------------- structure

def cmd_structure(args):
    f = Failures()
    busybox = open(args.busybox, "rb").read() if args.busybox else None
    helper = open(args.helper, "rb").read() if args.helper else None
    with open(os.path.join(args.images, "digests.json")) as fh:
        record = json.load(fh)
    epoch = record["epoch"]
    base_digests = {}

    for name, spec in IMAGES.items():
        rec = record["images"].get(name)
        if not f.check(rec is not None, f"digests.json: no entry for {name}"):
            continue
        try:
            oci_path = os.path.join(args.images, spec["short"] + ".oci.tar")
            dk_path = os.path.join(args.images, spec["short"] + ".docker.tar")
            man_digest, oci_cfg, oci_layers = read_oci_archive(f, oci_path, name, epoch)
            dk_cfg, dk_tars = read_docker_archive(f, dk_path, name, epoch)

            # Both formats carry the same image: same config (image ID), same layers.
            f.check(oci_cfg == dk_cfg, f"{name}: oci and docker config bytes differ")
            f.check([l[2] for l in oci_layers] == dk_tars,
                    f"{name}: docker layer.tar != gunzipped oci layer")
            cfg = check_config(f, name, oci_cfg, spec["layers"],
                               [l[2] for l in oci_layers], f"{name} config")
            f.eq(parse_created(cfg["created"]), epoch, f"{name}: config created vs epoch")

            tars = [Tar(l[2], f"{spec['short']} layer {i}") for i, l in enumerate(oci_layers)]
            for i, t in enumerate(tars):
                check_tar_hygiene(f, t, epoch, BASE_OWNERS if i == 0 else None)
            check_base_layer(f, tars[0], busybox)
            if spec["short"] == "helper":
                check_helper_layers(f, tars[0], tars[1], tars[2], helper)
            else:
                check_web_layer(f, tars[1], helper)
            base_digests[name] = (oci_layers[0][0], digest(oci_layers[0][2]))

            # digests.json must describe these archives.
            diff_ids = [digest(l[2]) for l in oci_layers]
            chain = []
            for d in diff_ids:
                chain.append(d if not chain else digest(f"{chain[-1]} {d}".encode()))
            f.eq(rec.get("manifest_digest"), man_digest, f"digests.json {name} manifest_digest")
            f.eq(rec.get("config_digest"), digest(oci_cfg), f"digests.json {name} config_digest")
            f.eq(rec.get("layer_digests"), [l[0] for l in oci_layers],
                 f"digests.json {name} layer_digests")
            f.eq(rec.get("diff_ids"), diff_ids, f"digests.json {name} diff_ids")
            f.eq(rec.get("chain_ids"), chain, f"digests.json {name} chain_ids")
            for key, p in (("oci_archive", oci_path), ("docker_archive", dk_path)):
                with open(p, "rb") as fh:
                    f.eq(rec.get(key, {}).get("sha256"), sha256(fh.read()),
                         f"digests.json {name} {key}.sha256")
        except (LookupError, KeyError, ValueError, OSError, tarfile.TarError) as e:
            f.check(False, f"{name}: cannot walk the archives: {e!r}")

    if f.check(len(base_digests) == 2, "both images needed for the base layer check"):
        a, b = base_digests.values()
        f.eq(a, b, "base layer (digest, diff_id) shared by helper and web")
    return report(f, "structure")


# ---------------------------------------------------------- reproducible

def run_mkimage(args, cwd, out, busybox, helper, epoch_arg, env_extra, umask):
    env = dict(os.environ)
    env.pop("SOURCE_DATE_EPOCH", None)
    env.update(env_extra)
    cmd = [args.python, args.mkimage, "--busybox", busybox, "--helper", helper,
           "--out", out]
    if epoch_arg is not None:
        cmd += ["--epoch", str(epoch_arg)]
    old = os.umask(umask)
    try:
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=60)
    finally:
        os.umask(old)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return os.path.join(cwd, out)


def outputs(d):
    # files only: images/evil/ is the malicious suite's (mkevil.py)
    return {n: open(os.path.join(d, n), "rb").read() for n in sorted(os.listdir(d))
            if os.path.isfile(os.path.join(d, n))}


def explain_tar_diff(a, b):
    """First differing member of two archives, for the failure message."""
    try:
        ta, tb = Tar(a, "a"), Tar(b, "b")
    except tarfile.TarError:
        return ""
    for ma, mb in zip(ta.members, tb.members):
        ia = (ma.name, ma.mtime, ma.mode, ma.uid, ma.gid, ma.size, ta.data.get(ma.name))
        ib = (mb.name, mb.mtime, mb.mode, mb.uid, mb.gid, mb.size, tb.data.get(mb.name))
        if ia != ib:
            return f" (first difference at member {ma.name!r}: " \
                   f"mtime {ma.mtime} vs {mb.mtime}, size {ma.size} vs {mb.size})"
    return f" ({len(ta.members)} vs {len(tb.members)} members)"


def compare_dirs(f, want, got, what):
    f.eq(sorted(got), sorted(want), f"{what}: output files")
    for n in sorted(set(want) & set(got)):
        if want[n] != got[n]:
            f.check(False, f"{what}: {n} differs: sha256 {sha256(want[n])[:16]} vs "
                           f"{sha256(got[n])[:16]}" + explain_tar_diff(want[n], got[n]))
        else:
            f.checks += 1
    if "digests.json" in want and "digests.json" in got:
        f.eq(json.loads(got["digests.json"]), json.loads(want["digests.json"]),
             f"{what}: digests.json")


def cmd_reproducible(args):
    f = Failures()
    for k in ("images", "mkimage", "busybox", "helper"):
        setattr(args, k, os.path.abspath(getattr(args, k)))
    # only what mkimage.py writes: the images dir also holds other test
    # images (mkmany.py's many.oci.tar) that are not this builder's
    built = outputs(args.images)
    listed = {"digests.json"} | {a["file"] for img in json.loads(built["digests.json"])["images"].values()
                                 for a in (img.get("oci_archive"), img.get("docker_archive")) if a}
    built = {n: v for n, v in built.items() if n in listed}
    epoch = json.loads(built["digests.json"])["epoch"]
    with tempfile.TemporaryDirectory(prefix="berth-img-") as tmp:
        dirs = {}
        for run in "abcd":
            dirs[run] = os.path.join(tmp, run)
            os.mkdir(dirs[run])

        # A: default epoch, absolute output path, UTC, umask 022.
        out_a = run_mkimage(args, dirs["a"], os.path.join(dirs["a"], "out"),
                            args.busybox, args.helper, None, {"TZ": "UTC"}, 0o022)
        # B: a later wall-clock second, the inputs under other names and
        # mtimes, relative output path, another TZ and umask.
        time.sleep(1.5)
        bb = os.path.join(dirs["b"], "in", "bb")
        hp = os.path.join(dirs["b"], "in", "other-helper-name")
        os.makedirs(os.path.dirname(bb))
        shutil.copy(args.busybox, bb)
        shutil.copy(args.helper, hp)
        os.utime(hp, (12345, 12345))
        out_b = run_mkimage(args, dirs["b"], "out", bb, hp, None,
                            {"TZ": "XXX-14"}, 0o077)
        got_a, got_b = outputs(out_a), outputs(out_b)
        compare_dirs(f, got_a, got_b, "second build vs first")

        # C: the build tree's epoch through SOURCE_DATE_EPOCH must give the
        # build tree's bytes.
        out_c = run_mkimage(args, dirs["c"], "out", args.busybox, args.helper, None,
                            {"SOURCE_DATE_EPOCH": str(epoch)}, 0o022)
        got_c = outputs(out_c)
        compare_dirs(f, built, got_c, "fresh build vs the build tree's images")

        # D: --epoch wins over SOURCE_DATE_EPOCH, and the comparison above
        # can see a change: another epoch changes every archive and digest.
        out_d = run_mkimage(args, dirs["d"], "out", args.busybox, args.helper, epoch + 1,
                            {"SOURCE_DATE_EPOCH": str(epoch)}, 0o022)
        got_d = outputs(out_d)
        rec_c = json.loads(got_c["digests.json"])
        rec_d = json.loads(got_d["digests.json"])
        f.eq(rec_d["epoch"], epoch + 1, "--epoch over SOURCE_DATE_EPOCH: recorded epoch")
        for n in got_c:
            if n.endswith(".tar"):
                f.check(got_d.get(n) != got_c[n], f"epoch+1 left {n} unchanged")
        for name in rec_c["images"]:
            for key in ("manifest_digest", "config_digest"):
                f.check(rec_c["images"][name][key] != rec_d["images"][name].get(key),
                        f"epoch+1 left the {name} {key} unchanged")
    return report(f, "reproducible")


def report(f, what):
    for msg in f.items:
        print(f"FAIL: {msg}")
    print(f"{what}: {f.checks - len(f.items)}/{f.checks} checks passed")
    return 1 if f.items else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("structure", help="verify the archives in --images")
    s.add_argument("--images", required=True)
    s.add_argument("--busybox", help="compare bin/busybox against this file")
    s.add_argument("--helper", help="compare the helper binaries against this file")
    r = sub.add_parser("reproducible", help="rebuild twice and compare bytes")
    r.add_argument("--images", required=True)
    r.add_argument("--mkimage", required=True)
    r.add_argument("--busybox", required=True)
    r.add_argument("--helper", required=True)
    r.add_argument("--python", default=sys.executable)
    args = p.parse_args()
    try:
        return cmd_structure(args) if args.cmd == "structure" else cmd_reproducible(args)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"FAIL: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
