#!/usr/bin/env python3
"""Build berth's test images, reproducibly, as oci-archive and docker-archive.

Two images share one base layer (a static busybox with its applet links and a
few users), so layer sharing, whiteouts, hardlinks, fifos, xattrs and setuid
bits all get exercised by the importer and unpacker:

  berth-test/helper   base + helper binary (plain and setuid copy) + a layer of
                      whiteouts, an opaque directory, a hardlink, a fifo, an
                      xattr and a setgid file
  berth-test/web      base + helper binary + /srv/www/index.html, runs as 1000

Every byte of the output is a function of the inputs (busybox, helper) and the
epoch: entries are sorted, owners numeric, mtimes fixed, gzip headers carry no
time or name, JSON is canonical. Building twice gives identical archives.

The module is also a small library for crafting other (e.g. malicious)
archives: Entry + tar_layer() build a layer from an in-memory entry list,
Layer/Image hold the blobs, oci_archive()/docker_archive() serialise them.
Only the Python standard library is used.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import struct
import sys
import tarfile
import time
from dataclasses import dataclass, field

# 2024-01-01T00:00:00Z. Used when neither --epoch nor SOURCE_DATE_EPOCH is set.
DEFAULT_EPOCH = 1704067200
GZIP_LEVEL = 6

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ANN_REF_NAME = "org.opencontainers.image.ref.name"

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"


class BuildError(Exception):
    """An input problem the user can fix; printed without a traceback."""


# --------------------------------------------------------------- encoding

def canonical_json(obj):
    """JSON bytes that depend only on the value: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode("ascii")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def sha256_digest(data):
    return "sha256:" + sha256_hex(data)


def gzip_bytes(data):
    # mtime=0 and no file name in the header; fixed level so the stream
    # depends only on the input (and on the zlib build).
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def rfc3339(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def chain_ids(diff_ids):
    """OCI ChainID of every layer prefix (the unpacked-layer cache key)."""
    out = []
    for d in diff_ids:
        out.append(d if not out else sha256_digest(f"{out[-1]} {d}".encode()))
    return out


# ------------------------------------------------------------ tar entries

@dataclass
class Entry:
    """One tar member. path is relative to the layer root, without '/' or './'.

    kind: file, dir, symlink, hardlink, fifo, chardev, blockdev.
    linkname: symlink target, or for a hardlink the path of the earlier member.
    xattrs: written as PAX SCHILY.xattr.<name> records.
    pax: extra raw PAX records (for crafting odd archives).
    mtime: None means the build epoch.
    """
    path: str
    kind: str = "file"
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    data: bytes = b""
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict = field(default_factory=dict)
    pax: dict = field(default_factory=dict)
    mtime: int = None


_TAR_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chardev": tarfile.CHRTYPE,
    "blockdev": tarfile.BLKTYPE,
}


def file(path, data, mode=0o644, uid=0, gid=0):
    if isinstance(data, str):
        data = data.encode()
    return Entry(path, "file", mode, uid, gid, data=data)


def directory(path, mode=0o755, uid=0, gid=0):
    return Entry(path, "dir", mode, uid, gid)


def symlink(path, target):
    return Entry(path, "symlink", 0o777, linkname=target)


def hardlink(path, target):
    return Entry(path, "hardlink", 0o644, linkname=target)


def fifo(path, mode=0o644):
    return Entry(path, "fifo", mode)


def whiteout(path):
    """Marks path (from a lower layer) as deleted: <dir>/.wh.<name>."""
    parent, _, name = path.rpartition("/")
    return file((parent + "/" if parent else "") + WHITEOUT_PREFIX + name, b"")


def opaque(dirpath):
    """Hides everything lower layers put in dirpath: <dir>/.wh..wh..opq."""
    return file(dirpath.rstrip("/") + "/" + OPAQUE_WHITEOUT, b"")


def entry_sort_key(path):
    """Depth-first tree order, whiteouts first within each directory.

    Component-wise comparison puts a directory right before its contents; the
    OCI layer spec asks for whiteouts to come before their siblings.
    """
    return [(0 if c.startswith(WHITEOUT_PREFIX) else 1, c)
            for c in path.rstrip("/").split("/")]


def _check_path(path):
    parts = path.split("/")
    if (not path or path.startswith("/") or path.endswith("/")
            or any(p in ("", ".", "..") for p in parts)):
        raise BuildError(f"layer entry path {path!r} is not a clean relative path")


def normalize_entries(entries):
    """Validate, add missing parent directories (root 0755), sort."""
    by_path = {}
    for e in entries:
        _check_path(e.path)
        if e.path in by_path:
            raise BuildError(f"layer entry {e.path!r} appears twice")
        if e.kind not in _TAR_TYPES:
            raise BuildError(f"layer entry {e.path!r} has unknown kind {e.kind!r}")
        by_path[e.path] = e
    for path in list(by_path):
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in by_path:
                by_path[parent] = directory(parent)
            elif by_path[parent].kind != "dir":
                raise BuildError(f"layer entry {path!r} lies under non-directory {parent!r}")
    ordered = sorted(by_path.values(), key=lambda e: entry_sort_key(e.path))
    seen = set()
    for e in ordered:
        if e.kind == "hardlink" and e.linkname not in seen:
            raise BuildError(f"hardlink {e.path!r} must follow its target {e.linkname!r}")
        seen.add(e.path)
    return ordered


def tar_bytes(entries, epoch, normalize=True):
    """Serialise entries as an uncompressed PAX tar.

    With normalize=False the entries are written exactly as given, in the
    given order, with no path checks: that is how hostile layers are made.
    """
    if normalize:
        entries = normalize_entries(entries)
    buf = io.BytesIO()
    with tarfile.TarFile(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                         encoding="utf-8") as tar:
        for e in entries:
            ti = tarfile.TarInfo(e.path)
            ti.type = _TAR_TYPES[e.kind]
            ti.mode = e.mode
            ti.uid, ti.gid = e.uid, e.gid
            ti.uname = ti.gname = ""      # numeric ownership only
            # an int: a float would add a PAX mtime record
            ti.mtime = int(epoch if e.mtime is None else e.mtime)
            ti.linkname = e.linkname
            ti.devmajor, ti.devminor = e.devmajor, e.devminor
            pax = {f"SCHILY.xattr.{k}": v for k, v in sorted(e.xattrs.items())}
            pax.update(e.pax)
            ti.pax_headers = pax
            if e.kind == "file":
                ti.size = len(e.data)
                tar.addfile(ti, io.BytesIO(e.data))
            else:
                ti.size = 0
                tar.addfile(ti)
    return buf.getvalue()


# ---------------------------------------------------------- layer / image

class Layer:
    """A layer blob: uncompressed tar (diff_id) and its gzip form (digest)."""

    def __init__(self, tar, comment=""):
        self.tar = tar
        self.comment = comment
        self.diff_id = sha256_digest(tar)
        self.blob = gzip_bytes(tar)
        self.digest = sha256_digest(self.blob)
        self.size = len(self.blob)

    @classmethod
    def from_entries(cls, entries, epoch, comment="", normalize=True):
        return cls(tar_bytes(entries, epoch, normalize), comment)

    def descriptor(self):
        return {"mediaType": MT_OCI_LAYER_GZIP, "digest": self.digest,
                "size": self.size}


class Image:
    """name is a repository ("berth-test/helper"); config the runtime part
    of the image config (Entrypoint, Cmd, Env, ...)."""

    def __init__(self, name, tag, layers, config, epoch, arch="amd64"):
        self.name, self.tag = name, tag
        self.layers = layers
        self.config = config
        self.epoch = epoch
        self.arch = arch

    @property
    def ref(self):
        return f"{self.name}:{self.tag}"

    def config_bytes(self):
        created = rfc3339(self.epoch)
        return canonical_json({
            "architecture": self.arch,
            "os": "linux",
            "created": created,
            "config": self.config,
            "rootfs": {"type": "layers",
                       "diff_ids": [l.diff_id for l in self.layers]},
            "history": [{"created": created, "created_by": "mkimage.py",
                         "comment": l.comment} for l in self.layers],
        })

    def config_descriptor(self):
        cfg = self.config_bytes()
        return {"mediaType": MT_OCI_CONFIG, "digest": sha256_digest(cfg),
                "size": len(cfg)}

    def manifest_bytes(self):
        return canonical_json({
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": self.config_descriptor(),
            "layers": [l.descriptor() for l in self.layers],
        })


# --------------------------------------------------------------- writers

def archive_bytes(files, epoch, normalize=True):
    """An outer archive (oci-archive / docker-archive) from {path: bytes}."""
    return tar_bytes([file(p, d) for p, d in files.items()], epoch, normalize)


def oci_layout_files(image):
    """The files of an OCI image layout holding one image, as {path: bytes}."""
    manifest = image.manifest_bytes()
    blobs = {sha256_hex(manifest): manifest}
    blobs[sha256_hex(image.config_bytes())] = image.config_bytes()
    for l in image.layers:
        blobs[l.digest.split(":", 1)[1]] = l.blob
    index = canonical_json({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [{
            "mediaType": MT_OCI_MANIFEST,
            "digest": sha256_digest(manifest),
            "size": len(manifest),
            "annotations": {ANN_REF_NAME: image.ref},
        }],
    })
    files = {f"blobs/sha256/{h}": b for h, b in blobs.items()}
    files["index.json"] = index
    files["oci-layout"] = canonical_json({"imageLayoutVersion": "1.0.0"})
    return files


def oci_archive(image):
    """oci-archive bytes: a tar of the image layout (skopeo / podman save)."""
    return archive_bytes(oci_layout_files(image), image.epoch)


def docker_v1_ids(image):
    """Per-layer directory names of a docker-archive.

    docker derives them from a legacy v1 config; importers only need them to
    be unique and stable, so: sha256 of the parent id and the diff_id.
    """
    ids, parent = [], ""
    for l in image.layers:
        parent = sha256_hex(canonical_json({"diff_id": l.diff_id, "parent": parent}))
        ids.append(parent)
    return ids


def docker_archive_files(image):
    """The files of a classic `docker save` archive, as {path: bytes}."""
    cfg = image.config_bytes()
    cfg_name = sha256_hex(cfg) + ".json"
    ids = docker_v1_ids(image)
    files = {cfg_name: cfg}
    created = rfc3339(image.epoch)
    for i, (l, v1id) in enumerate(zip(image.layers, ids)):
        legacy = {"id": v1id, "created": created, "os": "linux",
                  "architecture": image.arch}
        if i:
            legacy["parent"] = ids[i - 1]
        if i == len(ids) - 1:
            legacy["config"] = image.config
        files[f"{v1id}/VERSION"] = b"1.0"
        files[f"{v1id}/json"] = canonical_json(legacy)
        files[f"{v1id}/layer.tar"] = l.tar
    files["manifest.json"] = canonical_json([{
        "Config": cfg_name,
        "RepoTags": [image.ref],
        "Layers": [f"{v}/layer.tar" for v in ids],
    }])
    files["repositories"] = canonical_json({image.name: {image.tag: ids[-1]}})
    return files


def docker_archive(image):
    """docker-archive bytes (classic `docker save` layout)."""
    return archive_bytes(docker_archive_files(image), image.epoch)


WRITERS = {"oci": (".oci.tar", oci_archive), "docker": (".docker.tar", docker_archive)}


# ------------------------------------------------------- the test images

APPLETS = sorted("""
    [ ash awk basename cat chgrp chmod chown cmp cp cut date dd df diff dirname
    du echo egrep env expr false fgrep find free grep head hostname id ip kill
    killall less ln ls mkdir mkfifo mknod mktemp more mount mv nc netstat nproc
    nslookup od pidof ping printf ps pwd readlink realpath rm rmdir sed seq sh
    sha256sum sleep sort stat sync tail tar tee test timeout top touch tr true
    umount uname uniq unshare vi wc wget which whoami xargs yes
""".split())

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""

GROUP = """\
root:x:0:
app:x:1000:
extra:x:2000:app
nogroup:x:65534:
"""


def base_entries(busybox):
    entries = [
        file("bin/busybox", busybox, 0o755),
        directory("dev"), directory("proc"), directory("sys"),
        directory("etc"),
        file("etc/passwd", PASSWD),
        file("etc/group", GROUP),
        file("etc/motd", "berth test image\n"),
        directory("home"),
        directory("home/app", 0o755, 1000, 1000),
        file("opt/old/a.txt", "a\n"),
        file("opt/old/b.txt", "b\n"),
        directory("root", 0o700),
        directory("tmp", 0o1777),
        directory("usr/bin"),
    ]
    entries += [symlink(f"bin/{a}", "busybox") for a in APPLETS]
    return entries


# The helper dispatches on argv[0] too; a link named after the command makes
# it show up under that name in ps, kill -l and OOM reports. Only names that
# shadow no busybox applet.
HELPER_LINKS = sorted("""
    cpuburn diskfill forkbomb http-get http-server memhog resolve signals
    tcp-echo tcp-send udp-echo udp-send
""".split())


def helper_entries(helper):
    return [
        file("usr/bin/berth-testhelper", helper, 0o755),
        # A copy, not a hardlink: a link would share the setuid mode.
        file("usr/bin/berth-testhelper-suid", helper, 0o4755),
        directory("srv"),
        file("srv/hello.txt", "hello from berth-test/helper\n"),
    ] + [symlink(f"usr/bin/{c}", "berth-testhelper") for c in HELPER_LINKS]


def helper_tricky_entries():
    return [
        whiteout("etc/motd"),
        opaque("opt/old"),
        file("opt/old/new.txt", "new\n"),
        file("srv/hard/target.txt", "linked\n"),
        hardlink("srv/hard/zlink.txt", "srv/hard/target.txt"),
        fifo("srv/fifo"),
        Entry("srv/xattr.txt", data=b"has an xattr\n",
              xattrs={"user.berth": "test"}),
        file("srv/setgid", "setgid\n", 0o2755),
    ]


def web_entries(helper):
    return [
        file("usr/bin/berth-testhelper", helper, 0o755),
        file("srv/www/index.html",
             "<html><body>berth-test/web</body></html>\n"),
    ]


def build_images(busybox, helper, epoch, arch):
    base = Layer.from_entries(base_entries(busybox), epoch, "busybox base")
    helper_img = Image("berth-test/helper", "latest", [
        base,
        Layer.from_entries(helper_entries(helper), epoch, "helper binary"),
        Layer.from_entries(helper_tricky_entries(), epoch,
                           "whiteouts, opaque dir, hardlink, fifo, xattr, setgid"),
    ], {
        "Entrypoint": ["/usr/bin/berth-testhelper"],
        "Cmd": ["info"],
        "Env": [DEFAULT_PATH, "BERTH_IMAGE=helper"],
        "WorkingDir": "/srv",
        "User": "",
        "ExposedPorts": {"8080/tcp": {}},
        "Labels": {"org.berth.test": "helper"},
        "StopSignal": "SIGTERM",
    }, epoch, arch)
    web_img = Image("berth-test/web", "latest", [
        base,
        Layer.from_entries(web_entries(helper), epoch, "web content"),
    ], {
        "Entrypoint": ["/usr/bin/berth-testhelper", "http-server"],
        "Cmd": ["--port", "8080"],
        "Env": [DEFAULT_PATH, "BERTH_IMAGE=web"],
        "WorkingDir": "/srv/www",
        "User": "1000:1000",
        "ExposedPorts": {"8080/tcp": {}},
        "StopSignal": "SIGINT",
    }, epoch, arch)
    return [helper_img, web_img]


# ------------------------------------------------------------------ inputs

_ELF_ARCH = {0x3e: "amd64", 0xb7: "arm64", 0x03: "386", 0x28: "arm",
             0xf3: "riscv64", 0x16: "s390x", 0x15: "ppc64le"}


def elf_arch(path, data):
    """GOARCH-style architecture of a static ELF executable."""
    if data[:4] != b"\x7fELF" or len(data) < 64:
        raise BuildError(f"{path}: not an ELF executable")
    is64, little = data[4] == 2, data[5] == 1
    end = "<" if little else ">"
    (machine,) = struct.unpack_from(end + "H", data, 18)
    if machine not in _ELF_ARCH:
        raise BuildError(f"{path}: unsupported ELF machine {machine:#x}")
    # A PT_INTERP header means a dynamic loader is needed; the images have
    # no libc, so such a binary could never run in them.
    if is64:
        phoff, = struct.unpack_from(end + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 54)
    else:
        phoff, = struct.unpack_from(end + "I", data, 28)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 42)
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 4 > len(data):
            raise BuildError(f"{path}: truncated ELF program headers")
        (ptype,) = struct.unpack_from(end + "I", data, off)
        if ptype == 3:
            raise BuildError(f"{path}: dynamically linked (has an ELF interpreter); "
                             "the test images need a static binary")
    return _ELF_ARCH[machine]


def read_input(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise BuildError(f"{what} {path}: no such file") from None
    except OSError as e:
        raise BuildError(f"{what} {path}: {e.strerror}") from None


def resolve_epoch(arg):
    if arg is not None:
        return arg
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env is None or env == "":
        return DEFAULT_EPOCH
    try:
        value = int(env)
    except ValueError:
        raise BuildError(f"SOURCE_DATE_EPOCH={env!r} is not an integer") from None
    if value < 0:
        raise BuildError(f"SOURCE_DATE_EPOCH={env!r} is negative")
    return value


def short_name(image):
    return image.name.rsplit("/", 1)[-1]


def write_atomic(path, data):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def image_record(image):
    diff_ids = [l.diff_id for l in image.layers]
    return {
        "ref": image.ref,
        "manifest_digest": sha256_digest(image.manifest_bytes()),
        "config_digest": sha256_digest(image.config_bytes()),
        "layer_digests": [l.digest for l in image.layers],
        "diff_ids": diff_ids,
        "chain_ids": chain_ids(diff_ids),
    }


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Build berth's reproducible test images "
                    "(berth-test/helper, berth-test/web) as OCI and docker archives.",
        epilog="Writes OUT/<name>.oci.tar, OUT/<name>.docker.tar and "
               "OUT/digests.json (name: helper, web).")
    p.add_argument("--busybox", required=True, metavar="PATH",
                   help="static busybox binary (Debian busybox-static: /bin/busybox)")
    p.add_argument("--helper", required=True, metavar="PATH",
                   help="static berth-testhelper binary")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output directory (created if missing)")
    p.add_argument("--epoch", type=int, metavar="N",
                   help="timestamp for every mtime and 'created' field "
                        f"(default: $SOURCE_DATE_EPOCH, else {DEFAULT_EPOCH})")
    p.add_argument("--format", choices=("oci", "docker", "both"), default="both",
                   help="archive format(s) to write (default: both)")
    args = p.parse_args(argv)

    try:
        if args.epoch is not None and args.epoch < 0:
            raise BuildError(f"--epoch {args.epoch} is negative")
        epoch = resolve_epoch(args.epoch)
        busybox = read_input(args.busybox, "busybox binary")
        helper = read_input(args.helper, "helper binary")
        arch = elf_arch(args.busybox, busybox)
        if elf_arch(args.helper, helper) != arch:
            raise BuildError(f"{args.helper} and {args.busybox} are built "
                             "for different architectures")
        formats = ["oci", "docker"] if args.format == "both" else [args.format]

        try:
            os.makedirs(args.out, exist_ok=True)
        except OSError as e:
            raise BuildError(f"output directory {args.out}: {e.strerror}") from None

        record = {"epoch": epoch, "images": {}}
        for image in build_images(busybox, helper, epoch, arch):
            entry = image_record(image)
            for fmt in formats:
                suffix, writer = WRITERS[fmt]
                data = writer(image)
                name = short_name(image) + suffix
                write_atomic(os.path.join(args.out, name), data)
                entry[f"{fmt}_archive"] = {"file": name, "sha256": sha256_hex(data)}
            record["images"][image.name] = entry
        write_atomic(os.path.join(args.out, "digests.json"),
                     json.dumps(record, sort_keys=True, indent=2).encode() + b"\n")
    except BuildError as e:
        print(f"mkimage.py: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"mkimage.py: writing {e.filename or args.out}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
